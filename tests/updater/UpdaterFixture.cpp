#include "UpdaterFixture.h"

#include "BundleVerifier.h"
#include "Manifest.h"
#include "Signature.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>

namespace fs = std::filesystem;
using namespace meldpunt::updater;

namespace meldpunt::test {

namespace {

void runChecked(const std::vector<std::string>& argv, const fs::path& log)
{
    Process process(argv, Process::Options({}, log));
    const auto status = process.wait(std::chrono::seconds(60));
    if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
        throw std::runtime_error(argv.front() + " failed: " + process.log());
}

void writeText(const fs::path& path, const std::string& text)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out)
        throw std::runtime_error("cannot write " + path.string());
}

} // namespace

std::string readAll(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string fileSha256(const fs::path& path)
{
    meldpunt::fsutil::FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        throw std::runtime_error("cannot open " + path.string());
    const auto size = static_cast<std::uint64_t>(::lseek(fd.get(), 0, SEEK_END));
    EvpMdCtxPtr context(EVP_MD_CTX_new());
    EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr);
    constexpr std::uint64_t block = 1 << 20;
    for (std::uint64_t offset = 0; offset < size; offset += block) {
        const auto bytes = readAt(fd.get(), offset, std::min(block, size - offset));
        EVP_DigestUpdate(context.get(), bytes.data(), bytes.size());
    }
    Sha256 digest{};
    EVP_DigestFinal_ex(context.get(), digest.data(), nullptr);
    return toHex(digest);
}

void flipByte(const fs::path& path, std::uint64_t offset)
{
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(static_cast<std::streamoff>(offset));
    char byte = 0;
    file.get(byte);
    byte = static_cast<char>(byte ^ 0x01);
    file.seekp(static_cast<std::streamoff>(offset));
    file.put(byte);
    if (!file)
        throw std::runtime_error("cannot flip a byte in " + path.string());
}

UpdaterBox::UpdaterBox(const std::string& name)
    : scratch_(name)
{
    runChecked({ (fs::path(MELDPUNT_SOURCE_DIR) / "tests" / "make-update-pki").string(),
                   (root() / "pki").string() },
        root() / "pki.log");
    fs::create_directories(esp() / "loader" / "entries");
    writeText(esp() / "loader" / "loader.conf", "timeout 0\ndefault meldpunt-*\n");
    writeText(esp() / "loader" / "entries" / "meldpunt-000001-a.conf",
        "title Meldpunt 1.0.0 (slot a)\noptions meldpunt.slot=a\n");
    fs::copy_file(makeImage("old-image", kSlotSize, 1), slot(Slot::A));
    fs::copy_file(makeImage("empty-image", kSlotSize, 2), slot(Slot::B));
    fs::create_directories(stateFolder());
    setBootedSlot(Slot::A);
    swtpm_ = std::make_unique<Swtpm>(root() / "tpm");
    swtpm_->start();
    writeConfig();
}

fs::path UpdaterBox::slot(Slot which) const
{
    return root() / (which == Slot::A ? "slot-a.img" : "slot-b.img");
}

void UpdaterBox::setBootedSlot(Slot which)
{
    writeText(
        root() / "cmdline", std::string("quiet meldpunt.slot=") + slotLetter(which) + " ro\n");
}

void UpdaterBox::writeConfig(const std::string& extraImageSettings)
{
    if (!extraImageSettings.empty())
        extraImageSettings_ = extraImageSettings;
    std::string text =
        "[image]\nproduct = meldpunt\nhardware_id = " + std::string(kHardwareId) + "\n";
    text += extraImageSettings_.find("build_time") == std::string::npos
        ? "build_time = 2026-01-01T00:00:00Z\n"
        : "";
    text += extraImageSettings_ + "\n";
    text += "[trust]\nca_file = " + pki("vendor-ca.pem").string() +
        "\ncrl_file = " + pki("vendor.crl").string() +
        "\ndowngrade_ca_file = " + pki("downgrade-ca.pem").string() +
        "\ndowngrade_crl_file = " + pki("downgrade.crl").string() + "\n";
    text += "[slots]\na = " + slot(Slot::A).string() + "\nb = " + slot(Slot::B).string() +
        "\nesp = " + esp().string() + "\nkernel_command_line = " + (root() / "cmdline").string() +
        "\nkernel_options = " + std::string(kKernelOptions) +
        "\nstate_folder = " + stateFolder().string() +
        "\nboot_tries = 3\nreboot_command = /usr/bin/touch " + rebootMarker().string() + "\n";
    text += "[tpm]\ntcti = " + swtpm_->tcti() + "\nepoch_nv_index = 0x01800100\n";
    const fs::path daemon = daemonSocket_.empty() ? root() / "missing-daemon.sock" : daemonSocket_;
    const fs::path publicSite =
        publicSocket_.empty() ? root() / "missing-public.sock" : publicSocket_;
    text += "[health]\ndaemon_socket = " + daemon.string() +
        "\npublic_socket = " + publicSite.string() + "\ntimeout_seconds = 2\n";
    text += "[tls]\nfolder = " + tlsFolder().string() + "\npublic_restart_command = " + publicRestart_
        + "\nstaff_restart_command = " + staffRestart_ + "\n";
    writeText(configFile(), text);
    config_ = loadUpdaterConfig(configFile());
}

void UpdaterBox::setEdgeRestartCommands(const std::string& publicEdge, const std::string& staffEdge)
{
    publicRestart_ = publicEdge;
    staffRestart_ = staffEdge;
    writeConfig();
}

void UpdaterBox::setHealthSockets(const fs::path& daemon, const fs::path& publicSite)
{
    daemonSocket_ = daemon;
    publicSocket_ = publicSite;
    writeConfig();
}

fs::path UpdaterBox::makeImage(const std::string& name, std::uint64_t size, unsigned seed) const
{
    const fs::path path = root() / name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    std::mt19937_64 random(seed);
    std::vector<char> block(64 * 1024);
    for (std::uint64_t done = 0; done < size;) {
        for (std::size_t i = 0; i < block.size(); i += 8) {
            const std::uint64_t value = random();
            std::memcpy(block.data() + i, &value, 8);
        }
        const std::uint64_t length = std::min<std::uint64_t>(block.size(), size - done);
        out.write(block.data(), static_cast<std::streamsize>(length));
        done += length;
    }
    return path;
}

fs::path UpdaterBox::makeBundle(const std::string& name, const BundleOptions& options)
{
    BundleSource source;
    source.manifest.product = options.product;
    source.manifest.hardwareIds = { options.hardwareId, "another-box" };
    source.manifest.version = options.version;
    source.manifest.securityEpoch = options.epoch;
    source.manifest.created =
        options.created.empty() ? formatUtcTimestamp(std::time(nullptr)) : options.created;
    source.rootfsImage = makeImage(name + ".rootfs", options.imageSize, options.seed);
    source.certificateFile = pki(options.signer + ".pem");
    source.keyFile = pki(options.signer + ".key");
    const fs::path output = root() / (name + ".mpb");
    writeBundle(source, output);
    return output;
}

UpdaterBox::Result UpdaterBox::runUpdate(
    const std::vector<std::string>& arguments, std::chrono::seconds timeout)
{
    std::vector<std::string> argv = {
        (fs::path(MELDPUNT_BINARY_DIR) / "updater" / "meldpunt-update").string(), "--config",
        configFile().string()
    };
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    // A fresh log per run, so that the output is this run's alone.
    const fs::path log = root() / "update.log";
    fs::remove(log);
    Process process(argv, Process::Options({ "TSS2_LOG=all+none" }, log));
    const auto status = process.wait(timeout);
    Result result;
    result.output = process.log();
    result.exitStatus = status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
    return result;
}

std::string UpdaterBox::slotSha256(Slot which) const
{
    return fileSha256(slot(which));
}

std::optional<Slot> simulateBoot(const fs::path& esp)
{
    BootEntries entries(esp);
    std::vector<BootEntry> all = entries.list();
    if (all.empty())
        return std::nullopt;
    // list() orders by generation, the same order as the names' reverse
    // version order, because generations are written with leading zeros.
    std::stable_partition(all.begin(), all.end(),
        [](const BootEntry& entry) { return !entry.triesLeft || *entry.triesLeft > 0; });
    const BootEntry& chosen = all.front();
    if (chosen.triesLeft && *chosen.triesLeft > 0) {
        char name[64];
        std::snprintf(name, sizeof name, "meldpunt-%06u-%c+%u-%u.conf", chosen.generation,
            slotLetter(chosen.slot), *chosen.triesLeft - 1, chosen.triesDone + 1);
        fs::rename(chosen.file, chosen.file.parent_path() / name);
    }
    return chosen.slot;
}

std::string technicianCommands()
{
    const std::string doc = readAll(fs::path(MELDPUNT_SOURCE_DIR) / "docs" / "updates.md");
    const std::size_t marker = doc.find("<!-- technician-commands -->");
    const std::size_t start = doc.find("```sh\n", marker);
    const std::size_t end = start == std::string::npos ? start : doc.find("```", start + 6);
    if (marker == std::string::npos || end == std::string::npos)
        throw std::runtime_error("docs/updates.md has no technician-commands block");
    return doc.substr(start + 6, end - start - 6);
}

} // namespace meldpunt::test
