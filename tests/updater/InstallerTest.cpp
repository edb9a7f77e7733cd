#include "UpdaterFixture.h"

#include "Bundle.h"
#include "BundleVerifier.h"
#include "Installer.h"
#include "SecurityEpoch.h"
#include "UpdateError.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <thread>

namespace fs = std::filesystem;
using namespace meldpunt::test;
using namespace meldpunt::updater;
using Catch::Matchers::ContainsSubstring;
using BundleOptions = UpdaterBox::BundleOptions;

namespace {

BundleHeader headerOf(const fs::path& bundle)
{
    meldpunt::fsutil::FileDescriptor fd(::open(bundle.c_str(), O_RDONLY | O_CLOEXEC));
    return parseBundleHeader(readAt(fd.get(), 0, kBundleHeaderSize), fs::file_size(bundle));
}

// Writes a copy of `bundle` whose signature section is `signature`, with
// the images moved to the new boundary. The manifest keeps its offsets,
// so only a signature of the same aligned length makes a valid layout.
fs::path withSignature(
    const fs::path& bundle, const std::vector<std::uint8_t>& signature, const fs::path& output)
{
    const BundleHeader old = headerOf(bundle);
    const std::string bytes = readAll(bundle);
    BundleHeader header = old;
    header.signatureLength = signature.size();
    header.imagesOffset = alignImageOffset(header.signatureOffset + header.signatureLength);
    std::ofstream out(output, std::ios::binary | std::ios::trunc);
    const auto encoded = encodeBundleHeader(header);
    out.write(reinterpret_cast<const char*>(encoded.data()), encoded.size());
    out.write(bytes.data() + old.manifestOffset, static_cast<std::streamsize>(old.manifestLength));
    out.write(reinterpret_cast<const char*>(signature.data()),
        static_cast<std::streamsize>(signature.size()));
    out.write(
        std::string(header.imagesOffset - header.signatureOffset - signature.size(), '\0').data(),
        static_cast<std::streamsize>(
            header.imagesOffset - header.signatureOffset - signature.size()));
    out.write(bytes.data() + old.imagesOffset, static_cast<std::streamsize>(old.imagesLength));
    return output;
}

// A SignedData with the release certificate and no SignerInfo at all, made
// by openssl's degenerate PKCS#7 form, which CMS parsers read as CMS.
std::vector<std::uint8_t> zeroSignerSignature(const UpdaterBox& box)
{
    const fs::path out = box.root() / "zero-signer.der";
    Process process({ "openssl", "crl2pkcs7", "-nocrl", "-certfile", box.pki("signer.pem").string(),
                        "-outform", "DER", "-out", out.string() },
        Process::Options({}, box.root() / "crl2pkcs7.log"));
    REQUIRE(process.wait(std::chrono::seconds(30)) == 0);
    const std::string bytes = readAll(out);
    return { bytes.begin(), bytes.end() };
}

std::string manifestOf(const fs::path& bundle)
{
    const BundleHeader header = headerOf(bundle);
    return readAll(bundle).substr(header.manifestOffset, header.manifestLength);
}

struct SlotState {
    std::string a;
    std::string b;
    std::vector<std::string> entries;
};

SlotState snapshot(const UpdaterBox& box)
{
    SlotState state{ box.slotSha256(Slot::A), box.slotSha256(Slot::B), {} };
    for (const BootEntry& entry : BootEntries(box.esp()).list())
        state.entries.push_back(entry.file.filename().string());
    return state;
}

void requireRejected(UpdaterBox& box, const fs::path& bundle, const std::string& reason,
    const std::vector<std::string>& extra = {})
{
    const SlotState before = snapshot(box);
    std::vector<std::string> arguments = { "install" };
    arguments.insert(arguments.end(), extra.begin(), extra.end());
    arguments.push_back(bundle.string());
    const UpdaterBox::Result result = box.runUpdate(arguments);
    INFO(result.output);
    CHECK(result.exitStatus == 1);
    CHECK_THAT(result.output, ContainsSubstring(reason));
    const SlotState after = snapshot(box);
    CHECK(after.a == before.a);
    CHECK(after.b == before.b);
    CHECK(after.entries == before.entries);
    CHECK_FALSE(fs::exists(box.rebootMarker()));
}

} // namespace

TEST_CASE("installer rejects bad bundles and leaves the slots untouched", "[updater]")
{
    UpdaterBox box("installer-rejects");

    SECTION("one flipped manifest byte")
    {
        const fs::path bundle = box.makeBundle("manifest-flip");
        const std::size_t at = manifestOf(bundle).find("\"1.1.0\"");
        REQUIRE(at != std::string::npos);
        flipByte(bundle, headerOf(bundle).manifestOffset + at + 5); // "1.1.0" becomes "1.1.1"
        requireRejected(box, bundle, "does not match the manifest");
    }
    SECTION("one flipped signature byte")
    {
        const fs::path bundle = box.makeBundle("signature-flip");
        const BundleHeader header = headerOf(bundle);
        flipByte(bundle, header.signatureOffset + header.signatureLength - 1);
        requireRejected(box, bundle, "The bundle signature was rejected");
    }
    SECTION("one flipped payload byte")
    {
        const fs::path bundle = box.makeBundle("payload-flip");
        flipByte(bundle, headerOf(bundle).imagesOffset + 1'000'000);
        requireRejected(box, bundle, "image's SHA-256 does not match the signed manifest");
    }
    SECTION("a signer the image does not trust")
    {
        BundleOptions options;
        options.signer = "other";
        requireRejected(box, box.makeBundle("wrong-key", options), "is not trusted");
    }
    SECTION("a certificate for web servers")
    {
        BundleOptions options;
        options.signer = "server";
        requireRejected(box, box.makeBundle("server-purpose", options),
            "lacks the extended key usage code signing");
    }
    SECTION("a certificate without extended key usage")
    {
        BundleOptions options;
        options.signer = "no-usage";
        requireRejected(
            box, box.makeBundle("no-usage", options), "lacks the extended key usage code signing");
    }
    SECTION("a revoked certificate")
    {
        BundleOptions options;
        options.signer = "revoked";
        requireRejected(box, box.makeBundle("revoked", options), "certificate revoked");
    }
    SECTION("a certificate that expired before the running image was built")
    {
        BundleOptions options;
        options.signer = "expired";
        options.created = "2020-06-01T00:00:00Z";
        requireRejected(
            box, box.makeBundle("expired", options), "expired before 2026-01-01T00:00:00Z");
    }
    SECTION("a truncated bundle")
    {
        const fs::path bundle = box.makeBundle("truncated");
        fs::resize_file(bundle, fs::file_size(bundle) - 1);
        requireRejected(box, bundle, "truncated");
    }
    SECTION("a bundle for other hardware")
    {
        BundleOptions options;
        options.hardwareId = "meldpunt-box-other";
        requireRejected(
            box, box.makeBundle("other-hardware", options), "not made for this hardware");
    }
    SECTION("a bundle for another product")
    {
        BundleOptions options;
        options.product = "something-else";
        requireRejected(box, box.makeBundle("other-product", options), "is for the product");
    }
    SECTION("an empty signature")
    {
        const fs::path bundle = box.makeBundle("unsigned");
        requireRejected(
            box, withSignature(bundle, {}, box.root() / "empty-signature.mpb"), "empty signature");
    }
    SECTION("a signature without signers")
    {
        const fs::path bundle = box.makeBundle("zero-signer");
        const fs::path changed =
            withSignature(bundle, zeroSignerSignature(box), box.root() / "zero-signer-changed.mpb");
        requireRejected(box, changed, "has no signer");
    }
    SECTION("a bundle whose epoch is below the box's")
    {
        SecurityEpochStore(box.config()).raise(3);
        BundleOptions options;
        options.epoch = 2;
        requireRejected(box, box.makeBundle("downgrade", options), "below this box's epoch 3");
    }
    SECTION("a confirmed hash of another bundle")
    {
        requireRejected(box, box.makeBundle("other-hash"), "not " + std::string(64, '0'),
            { "--expect-sha256", std::string(64, '0') });
    }
    SECTION("an image larger than the slot")
    {
        BundleOptions options;
        options.imageSize = UpdaterBox::kSlotSize + 1;
        requireRejected(box, box.makeBundle("too-large", options), "holds only 8388608");
    }
}

TEST_CASE("installer writes the inactive slot and boots it on trial", "[updater]")
{
    UpdaterBox box("installer-installs");
    const std::string oldA = box.slotSha256(Slot::A);
    const fs::path bundle = box.makeBundle("good");
    const std::string image = fileSha256(box.root() / "good.rootfs");

    const UpdaterBox::Result result = box.runUpdate({ "install", bundle.string() });
    INFO(result.output);
    REQUIRE(result.exitStatus == 0);
    CHECK(box.slotSha256(Slot::A) == oldA);
    // The slot keeps its size; the image fills its start.
    CHECK(fileSha256(box.slot(Slot::B)) != image);
    {
        meldpunt::fsutil::FileDescriptor fd(
            ::open(box.slot(Slot::B).c_str(), O_RDONLY | O_CLOEXEC));
        const auto written = readAt(fd.get(), 0, fs::file_size(box.root() / "good.rootfs"));
        CHECK(toHex(sha256Of(written)) == image);
    }
    CHECK(fs::exists(box.rebootMarker()));
    CHECK(fs::exists(box.esp() / "loader" / "entries" / "meldpunt-000002-b+3.conf"));
    // The new entry boots like the image's first: the configured kernel
    // options follow the root and slot.
    CHECK_THAT(readAll(box.esp() / "loader" / "entries" / "meldpunt-000002-b+3.conf"),
        ContainsSubstring("\noptions root=PARTLABEL=meldpunt-root-b ro meldpunt.slot=b " +
            std::string(UpdaterBox::kKernelOptions) + "\n"));
    CHECK_THAT(
        readAll(box.esp() / "loader" / "loader.conf"), ContainsSubstring("default meldpunt-*"));

    SECTION("an unblessed slot falls back to the old one when its tries run out")
    {
        CHECK(simulateBoot(box.esp()) == Slot::B);
        CHECK(simulateBoot(box.esp()) == Slot::B);
        CHECK(simulateBoot(box.esp()) == Slot::B);
        CHECK(simulateBoot(box.esp()) == Slot::A);
        CHECK(simulateBoot(box.esp()) == Slot::A);
        CHECK(fs::exists(box.esp() / "loader" / "entries" / "meldpunt-000002-b+0-3.conf"));
    }
    SECTION("a downgrade installs with a signed permission and not without")
    {
        SecurityEpochStore(box.config()).raise(5);
        BundleOptions options;
        options.epoch = 4;
        options.version = "1.0.9";
        const fs::path older = box.makeBundle("older", options);
        fs::remove(box.rebootMarker());
        requireRejected(box, older, "needs a downgrade permission");

        const fs::path permission = box.root() / "permission.json";
        fs::path foreign = box.root() / "foreign-permission.json";
        const auto write = [&](const fs::path& forBundle, const fs::path& out,
                               const std::string& signer) {
            const BundleHeader header = headerOf(forBundle);
            const std::string manifest =
                readAll(forBundle).substr(header.manifestOffset, header.manifestLength);
            const std::string text = createDowngradePermission(
                sha256Of(std::span<const std::uint8_t>(
                    reinterpret_cast<const std::uint8_t*>(manifest.data()), manifest.size())),
                "meldpunt", box.pki(signer + ".pem"), box.pki(signer + ".key"));
            std::ofstream(out) << text;
        };
        write(older, foreign, "signer"); // signed by the release key, not the downgrade CA
        requireRejected(box, older, "The downgrade permission was rejected",
            { "--permission", foreign.string() });
        write(bundle, box.root() / "wrong-bundle.json", "downgrade");
        requireRejected(box, older, "for another bundle",
            { "--permission", (box.root() / "wrong-bundle.json").string() });

        write(older, permission, "downgrade");
        const UpdaterBox::Result allowed =
            box.runUpdate({ "install", "--permission", permission.string(), older.string() });
        INFO(allowed.output);
        CHECK(allowed.exitStatus == 0);
        CHECK(SecurityEpochStore(box.config()).read() == 5);
    }
}

TEST_CASE("installer installs the bytes it verified", "[updater]")
{
    UpdaterBox box("installer-swap");
    const fs::path bundle = box.makeBundle("swap");
    const std::string image = fileSha256(box.root() / "swap.rootfs");
    const BundleHeader header = headerOf(bundle);
    const std::string before = box.slotSha256(Slot::A);
    SecurityEpochStore epochs(box.config());
    VerifiedBundle verified = verifyBundleFile(bundle, box.config(), epochs.read(), {});
    std::atomic<bool> cancel{ false };
    bool changed = false;

    SECTION("replacing the file by rename changes nothing")
    {
        BundleOptions replacementOptions;
        replacementOptions.seed = 99;
        const fs::path other = box.makeBundle("replacement", replacementOptions);
        installBundle(
            verified, box.config(),
            [&](InstallStep step, unsigned) {
                if (step == InstallStep::Writing && !changed) {
                    fs::rename(other, bundle);
                    changed = true;
                }
            },
            cancel);
        REQUIRE(changed);
        meldpunt::fsutil::FileDescriptor fd(
            ::open(box.slot(Slot::B).c_str(), O_RDONLY | O_CLOEXEC));
        CHECK(toHex(sha256Of(readAt(fd.get(), 0, fs::file_size(box.root() / "swap.rootfs")))) ==
            image);
    }
    SECTION("changing the file in place fails the install")
    {
        const auto install = [&] {
            installBundle(
                verified, box.config(),
                [&](InstallStep step, unsigned) {
                    if (step == InstallStep::Writing && !changed) {
                        flipByte(bundle, header.imagesOffset + header.imagesLength - 10);
                        changed = true;
                    }
                },
                cancel);
        };
        CHECK_THROWS_WITH(install(), ContainsSubstring("changed while it was being installed"));
        CHECK(BootEntries(box.esp()).list().size() == 1);
        CHECK(simulateBoot(box.esp()) == Slot::A);
        CHECK_FALSE(fs::exists(box.rebootMarker()));
    }
    CHECK(box.slotSha256(Slot::A) == before);
}

namespace {

// Polls `log` every 100 microseconds until it contains `text`, so that a
// kill can follow a step line within a fraction of the step's duration.
bool waitForLogLine(const fs::path& log, const std::string& text, std::chrono::seconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        std::error_code missing;
        if (fs::exists(log, missing) && readAll(log).find(text) != std::string::npos)
            return true;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return false;
}

std::string prefixSha256(const fs::path& file, std::uint64_t size)
{
    meldpunt::fsutil::FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    return toHex(sha256Of(readAt(fd.get(), 0, size)));
}

// The last install step that meldpunt-update printed before it died.
std::string lastStep(const std::string& log)
{
    if (log.find("Installed") != std::string::npos)
        return "Installed";
    std::string step;
    for (const std::string name :
        { "preflight", "checking-images", "writing", "checking-slot", "activating", "rebooting" }) {
        if (log.find(name + " (") != std::string::npos)
            step = name;
    }
    return step;
}

} // namespace

TEST_CASE("installer killed at random points leaves a bootable box", "[updater]")
{
    UpdaterBox box("installer-kill");
    const std::string oldA = box.slotSha256(Slot::A);
    const std::string oldB = box.slotSha256(Slot::B);
    const fs::path savedB = box.root() / "slot-b.saved";
    fs::copy_file(box.slot(Slot::B), savedB);
    BundleOptions options;
    options.imageSize = UpdaterBox::kSlotSize - 4096;
    const fs::path bundle = box.makeBundle("kill", options);
    const std::string image = fileSha256(box.root() / "kill.rootfs");
    const std::uint64_t imageSize = fs::file_size(box.root() / "kill.rootfs");
    const std::vector<std::string> argv = {
        (fs::path(MELDPUNT_BINARY_DIR) / "updater" / "meldpunt-update").string(), "--config",
        box.configFile().string(), "install", bundle.string()
    };

    // One full install measures how long the slot write takes: from the
    // line after its first block to the line of the read-back check.
    std::chrono::microseconds writeWindow{};
    {
        const fs::path log = box.root() / "kill-measure.log";
        Process process(argv, Process::Options({ "TSS2_LOG=all+none" }, log));
        REQUIRE(waitForLogLine(log, "writing (", std::chrono::seconds(60)));
        const auto writing = std::chrono::steady_clock::now();
        REQUIRE(waitForLogLine(log, "checking-slot (", std::chrono::seconds(60)));
        writeWindow = std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - writing);
        REQUIRE(process.wait(std::chrono::seconds(60)) == 0);
        BootEntries(box.esp()).removeSlot(Slot::B);
    }

    // Most kills aim at a random moment of the slot write. The others aim
    // at the read-back check, or at a random moment after the start.
    std::mt19937 random(20261204);
    constexpr int kRounds = 16;
    int killedWhileWriting = 0;
    int tornSlots = 0;
    for (int round = 0; round < kRounds; ++round) {
        fs::copy_file(savedB, box.slot(Slot::B), fs::copy_options::overwrite_existing);
        std::string aim = "writing (";
        if (round % 4 == 3)
            aim = "checking-slot (";
        else if (round % 8 == 6)
            aim.clear();
        const auto delay = std::chrono::microseconds(
            std::uniform_int_distribution<long>(0, writeWindow.count())(random));
        const fs::path log = box.root() / ("kill-" + std::to_string(round) + ".log");
        Process process(argv, Process::Options({ "TSS2_LOG=all+none" }, log));
        if (!aim.empty())
            waitForLogLine(log, aim, std::chrono::seconds(60));
        std::this_thread::sleep_for(delay);
        process.kill();

        const std::string step = lastStep(readAll(log));
        INFO("round " << round << ", killed " << delay.count() << " us after '" << aim
                      << "', last step '" << step << "'");
        if (step == "writing")
            ++killedWhileWriting;
        if (box.slotSha256(Slot::B) != oldB &&
            prefixSha256(box.slot(Slot::B), imageSize) != image) {
            // Neither the old content nor the whole image: the kill cut
            // the write short.
            ++tornSlots;
        }
        CHECK(box.slotSha256(Slot::A) == oldA);
        const std::vector<BootEntry> entries = BootEntries(box.esp()).list();
        const bool newEntry = entries.front().slot == Slot::B;
        if (newEntry) {
            // The entry exists only after the slot read back correctly.
            CHECK(prefixSha256(box.slot(Slot::B), imageSize) == image);
            CHECK(entries.front().triesLeft == 3u);
            BootEntries(box.esp()).removeSlot(Slot::B);
        }
        CHECK(simulateBoot(box.esp()) == Slot::A);
    }
    INFO("write window " << writeWindow.count() << " us");
    // The kills must have reached the slot write, not only the steps
    // before it: without these checks the test would pass with every kill
    // landing before the first byte is written.
    CHECK(killedWhileWriting >= kRounds / 4);
    CHECK(tornSlots >= 1);
}

TEST_CASE("installer crashing at its fault points leaves a bootable box", "[updater]")
{
    UpdaterBox box("installer-fault");
    const std::string oldA = box.slotSha256(Slot::A);
    const fs::path bundle = box.makeBundle("fault");
    const std::vector<std::string> argv = {
        (fs::path(MELDPUNT_BINARY_DIR) / "updater" / "meldpunt-update").string(), "--config",
        box.configFile().string(), "install", bundle.string()
    };
    const auto crashAt = [&](const std::string& point) {
        Process process(argv,
            Process::Options({ "TSS2_LOG=all+none", "MELDPUNT_FAULT_POINT=" + point },
                box.root() / (point + ".log")));
        const auto status = process.wait(std::chrono::seconds(60));
        INFO(process.log());
        REQUIRE(status);
        // Exit status 86 shows that the process stopped at the fault point.
        REQUIRE(WIFEXITED(*status));
        REQUIRE(WEXITSTATUS(*status) == 86);
    };

    SECTION("before the first write the slot is no boot target")
    {
        crashAt("updater-before-write");
        CHECK(BootEntries(box.esp()).list().size() == 1);
        CHECK(simulateBoot(box.esp()) == Slot::A);
        CHECK_FALSE(fs::exists(box.rebootMarker()));
    }
    SECTION("after the entry is written the new slot boots on trial, then falls back")
    {
        crashAt("updater-before-reboot");
        CHECK_FALSE(fs::exists(box.rebootMarker()));
        CHECK(simulateBoot(box.esp()) == Slot::B);
        CHECK(simulateBoot(box.esp()) == Slot::B);
        CHECK(simulateBoot(box.esp()) == Slot::B);
        CHECK(simulateBoot(box.esp()) == Slot::A);
    }
    CHECK(box.slotSha256(Slot::A) == oldA);
    // A crashed install leaves no lock behind: the next one runs.
    box.setBootedSlot(Slot::A);
    for (const BootEntry& entry : BootEntries(box.esp()).list()) {
        if (entry.slot == Slot::B)
            BootEntries(box.esp()).removeSlot(Slot::B);
    }
    const UpdaterBox::Result again = box.runUpdate({ "install", bundle.string() });
    INFO(again.output);
    CHECK(again.exitStatus == 0);
}

TEST_CASE("installer handles images beyond 4 GiB", "[updater]")
{
    UpdaterBox box("installer-large");
    // A sparse image of 4 GiB plus 5 MiB: its size and end need 64 bits.
    const fs::path image = box.root() / "large.rootfs";
    {
        std::ofstream out(image, std::ios::binary);
        out << "start";
    }
    constexpr std::uint64_t kLarge = (std::uint64_t{ 4 } << 30) + 5 * 1024 * 1024;
    fs::resize_file(image, kLarge);
    flipByte(image, kLarge - 1);

    BundleSource source;
    source.manifest.product = "meldpunt";
    source.manifest.hardwareIds = { UpdaterBox::kHardwareId };
    source.manifest.version = "2.0.0";
    source.manifest.securityEpoch = 1;
    source.manifest.created = formatUtcTimestamp(std::time(nullptr));
    source.rootfsImage = image;
    source.certificateFile = box.pki("signer.pem");
    source.keyFile = box.pki("signer.key");
    const fs::path bundle = box.root() / "large.mpb";
    const Manifest manifest = writeBundle(source, bundle);
    CHECK(manifest.images.at(0).size == kLarge);
    CHECK(fs::file_size(bundle) == manifest.images.at(0).offset + kLarge);

    const VerifiedBundle verified = verifyBundleFile(bundle, box.config(), 0, {});
    CHECK(verified.header.imagesLength == kLarge);
    std::atomic<bool> cancel{ false };
    CHECK_NOTHROW(verifyImages(
        verified, [](std::uint64_t, std::uint64_t) {}, cancel));

    // The pre-flight check runs before the images are hashed and rejects
    // the image for the small slot before any write.
    requireRejected(box, bundle, "needs " + std::to_string(kLarge) + " bytes");
}

TEST_CASE("Kernel options reject root and slot", "[updater]")
{
    UpdaterBox box("kernel-options");
    const std::string text = readAll(box.configFile());
    const std::string line = "kernel_options = " + std::string(UpdaterBox::kKernelOptions);
    REQUIRE(text.find(line) != std::string::npos);
    const auto rewrite = [&](const std::string& content) {
        std::ofstream(box.configFile(), std::ios::trunc) << content;
    };
    for (const char* option : {"root=/dev/sda2", "meldpunt.slot=a", "rw"}) {
        std::string changed = text;
        changed.replace(changed.find(line), line.size(), line + " " + option);
        rewrite(changed);
        CHECK_THROWS_WITH(loadUpdaterConfig(box.configFile()),
            ContainsSubstring(std::string("may not contain '") + option + "'") &&
                ContainsSubstring("writes the root and slot options"));
    }
    rewrite(text);
    CHECK(loadUpdaterConfig(box.configFile()).kernelOptions == UpdaterBox::kKernelOptions);
}
