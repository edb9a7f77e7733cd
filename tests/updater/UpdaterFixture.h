#pragma once

#include "BootEntries.h"
#include "BundleWriter.h"
#include "Process.h"
#include "Swtpm.h"
#include "UpdaterConfig.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace meldpunt::test {

// A box for updater tests. It has file-backed A and B slots, a folder as
// EFI system partition with slot A's good boot entry, and a kernel command
// line naming slot A. It also has swtpm for the security epoch, the test
// vendor PKI from tests/make-update-pki, and an updater.ini pointing at all
// of it. The reboot command touches a file instead of rebooting.
class UpdaterBox {
public:
    static constexpr std::uint64_t kSlotSize = 8 * 1024 * 1024;
    static constexpr const char* kHardwareId = "meldpunt-box-test";
    // The kernel options of the box's boot entries, as the image sets them.
    static constexpr const char* kKernelOptions =
        "rootfstype=erofs console=ttyS0,115200 systemd.firstboot=off systemd.machine_id=firmware";

    explicit UpdaterBox(const std::string& name);

    const std::filesystem::path& root() const { return scratch_.path(); }
    std::filesystem::path pki(const std::string& file) const { return root() / "pki" / file; }
    std::filesystem::path slot(updater::Slot slot) const;
    std::filesystem::path esp() const { return root() / "esp"; }
    std::filesystem::path configFile() const { return root() / "updater.ini"; }
    std::filesystem::path rebootMarker() const { return root() / "reboot-requested"; }
    std::filesystem::path stateFolder() const { return root() / "state"; }
    const updater::UpdaterConfig& config() const { return config_; }
    Swtpm& tpm() { return *swtpm_; }

    // Rewrites updater.ini with these settings and reloads config().
    void writeConfig(const std::string& extraImageSettings = {});
    void setBootedSlot(updater::Slot slot);
    // The folder for the edges' certificates, and the commands that stand
    // in for restarting each edge.
    std::filesystem::path tlsFolder() const { return root() / "tls"; }
    void setEdgeRestartCommands(const std::string& publicEdge, const std::string& staffEdge);
    // Points the health check at these Unix sockets.
    void setHealthSockets(
        const std::filesystem::path& daemon, const std::filesystem::path& publicSite);

    // Writes an image of `size` bytes whose content depends on `seed`.
    std::filesystem::path makeImage(
        const std::string& name, std::uint64_t size, unsigned seed) const;

    struct BundleOptions {
        std::string version = "1.1.0";
        unsigned epoch = 1;
        std::string product = "meldpunt";
        std::string hardwareId = kHardwareId;
        std::string signer = "signer"; // base name of a .pem/.key pair in the PKI
        std::uint64_t imageSize = 3 * 1024 * 1024 + 123;
        unsigned seed = 7;
        std::string created; // empty: now
    };
    // Writes a signed bundle through the library and returns its path.
    std::filesystem::path makeBundle(const std::string& name, const BundleOptions& options);
    std::filesystem::path makeBundle(const std::string& name)
    {
        return makeBundle(name, BundleOptions{});
    }

    struct Result {
        int exitStatus = -1;
        std::string output;
    };
    // Runs the real meldpunt-update binary with --config and `arguments`.
    Result runUpdate(const std::vector<std::string>& arguments,
        std::chrono::seconds timeout = std::chrono::seconds(120));

    std::string slotSha256(updater::Slot slot) const;

private:
    ScratchFolder scratch_;
    std::unique_ptr<Swtpm> swtpm_;
    updater::UpdaterConfig config_;
    std::string publicRestart_ = "/bin/true";
    std::string staffRestart_ = "/bin/true";
    std::string extraImageSettings_;
    std::filesystem::path daemonSocket_;
    std::filesystem::path publicSocket_;
};

// Applies systemd-boot's rules for one boot to this product's loader
// entries, because systemd-boot needs UEFI and cannot run here. Entries with
// tries left, or with no counter, come first in reverse version order of
// their names, and entries with no tries left come last. The first entry is
// booted. A counted entry is renamed with one try fewer and one more done
// before the boot. Returns the booted slot, or nullopt when no entry exists.
std::optional<updater::Slot> simulateBoot(const std::filesystem::path& esp);

std::string fileSha256(const std::filesystem::path& path);
void flipByte(const std::filesystem::path& path, std::uint64_t offset);
std::string readAll(const std::filesystem::path& path);
// Returns the shell commands that docs/updates.md gives technicians for
// checking a bundle with stock openssl.
std::string technicianCommands();

} // namespace meldpunt::test
