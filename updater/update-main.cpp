// meldpunt-update: installs a bundle from a file (a USB stick, say) through
// the same verifier as the D-Bus service, marks the booted slot good after
// the health check, and shows the updater's state.
#include "BootEntries.h"
#include "BundleVerifier.h"
#include "HealthCheck.h"
#include "Installer.h"
#include "SecurityEpoch.h"
#include "UpdateError.h"
#include "UpdaterConfig.h"

#include "FileSystem.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <iostream>

using namespace meldpunt::updater;

namespace {

constexpr const char* kDefaultConfig = "/etc/meldpunt/updater.ini";
constexpr const char* kUsage =
    "usage: meldpunt-update [--config FILE] COMMAND\n"
    "  install [--permission FILE] [--expect-sha256 HEX] BUNDLE   verify and install BUNDLE\n"
    "  verify [--permission FILE] BUNDLE                          verify BUNDLE, show its "
    "manifest\n"
    "  mark-good                  run the health check and mark the booted slot good\n"
    "  health                     run the health check once and report\n"
    "  status                     show the booted slot, boot entries and security epoch\n"
    "FILE defaults to /etc/meldpunt/updater.ini.\n";

std::atomic<bool> cancelRequested{ false };

struct Arguments {
    std::string config = kDefaultConfig;
    std::string command;
    std::string permission;
    std::string expectedSha256;
    std::string bundle;
};

Arguments parseArguments(int argc, char** argv)
{
    Arguments arguments;
    for (int i = 1; i < argc; ++i) {
        const std::string word = argv[i];
        const bool hasValue = i + 1 < argc;
        if (word == "--config" && hasValue)
            arguments.config = argv[++i];
        else if (word == "--permission" && hasValue)
            arguments.permission = argv[++i];
        else if (word == "--expect-sha256" && hasValue)
            arguments.expectedSha256 = argv[++i];
        else if (arguments.command.empty())
            arguments.command = word;
        else if (arguments.bundle.empty())
            arguments.bundle = word;
        else
            throw UpdateError("Unexpected argument '" + word + "'.\n" + kUsage);
    }
    return arguments;
}

std::vector<std::uint8_t> readPermission(const std::string& path)
{
    if (path.empty())
        return {};
    const std::string text = meldpunt::fsutil::readSmallFile(path, 64 * 1024);
    return { text.begin(), text.end() };
}

VerifiedBundle verify(const Arguments& arguments, const UpdaterConfig& config)
{
    if (arguments.bundle.empty())
        throw UpdateError(std::string("No bundle file given.\n") + kUsage);
    SecurityEpochStore epochs(config);
    const std::uint32_t recorded = std::max(epochs.read(), config.runningEpoch);
    return verifyBundleFile(
        arguments.bundle, config, recorded, readPermission(arguments.permission));
}

int install(const Arguments& arguments, const UpdaterConfig& config)
{
    const VerifiedBundle bundle = verify(arguments, config);
    if (!arguments.expectedSha256.empty() &&
        arguments.expectedSha256 != toHex(bundle.manifestSha256))
        throw UpdateError("The bundle's manifest SHA-256 is " + toHex(bundle.manifestSha256) +
            ", not " + arguments.expectedSha256 + ".");
    std::cout << "Verified version " << bundle.manifest.version << " signed by "
              << bundle.signer.subject << ".\n";
    std::signal(SIGINT, [](int) { cancelRequested.store(true); });
    std::string lastStep;
    installBundle(
        bundle, config,
        [&](InstallStep step, unsigned percent) {
            if (std::string(describe(step)) != lastStep) {
                lastStep = describe(step);
                std::cout << lastStep << " (" << percent << "%)\n" << std::flush;
            }
        },
        cancelRequested);
    std::cout << "Installed; the box restarts into the new slot.\n";
    return 0;
}

int markGood(const UpdaterConfig& config)
{
    SecurityEpochStore epochs(config);
    HealthReport report;
    switch (markBootedSlotGood(config, epochs, report)) {
    case MarkResult::MarkedGood:
        std::cout << "The booted slot passed the health check and is marked good.\n";
        return 0;
    case MarkResult::AlreadyGood:
        std::cout << "The booted slot is already marked good.\n";
        return 0;
    case MarkResult::Unhealthy:
        break;
    }
    std::cerr << "The booted slot failed the health check and stays on trial; after its tries run "
                 "out the box "
                 "starts the previous slot again:\n";
    for (const std::string& failure : report.failures)
        std::cerr << "  " << failure << "\n";
    return 1;
}

int status(const UpdaterConfig& config)
{
    std::cout << "booted slot: " << slotLetter(bootedSlot(config)) << "\n";
    SecurityEpochStore epochs(config);
    std::cout << "security epoch: " << std::max(epochs.read(), config.runningEpoch) << "\n";
    for (const BootEntry& entry : BootEntries(config.esp).list()) {
        std::cout << "entry " << entry.file.filename().string() << ": "
                  << (entry.triesLeft
                             ? "on trial, " + std::to_string(*entry.triesLeft) + " tries left"
                             : "good")
                  << "\n";
    }
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    // The process reads signing material and writes slots; a core dump
    // would only leak memory contents.
    const rlimit noCore{ 0, 0 };
    setrlimit(RLIMIT_CORE, &noCore);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    try {
        const Arguments arguments = parseArguments(argc, argv);
        if (arguments.command.empty()) {
            std::cerr << kUsage;
            return 2;
        }
        const UpdaterConfig config = loadUpdaterConfig(arguments.config);
        if (arguments.command == "install")
            return install(arguments, config);
        if (arguments.command == "verify") {
            const VerifiedBundle bundle = verify(arguments, config);
            std::cout << "manifest SHA-256 " << toHex(bundle.manifestSha256) << "\nsigner "
                      << bundle.signer.subject << "\n"
                      << bundle.manifestJson << "\n";
            return 0;
        }
        if (arguments.command == "mark-good")
            return markGood(config);
        if (arguments.command == "health") {
            const HealthReport report = checkHealth(config);
            for (const std::string& failure : report.failures)
                std::cerr << failure << "\n";
            std::cout << (report.healthy() ? "healthy\n" : "unhealthy\n");
            return report.healthy() ? 0 : 1;
        }
        if (arguments.command == "status")
            return status(config);
        std::cerr << kUsage;
        return 2;
    } catch (const std::exception& error) {
        std::cerr << "meldpunt-update: " << error.what() << "\n";
        return 1;
    }
}
