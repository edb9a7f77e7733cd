#pragma once

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

namespace meldpunt::updater {

// The updater's settings, read from an INI file (rootfs/etc/meldpunt/
// updater.ini documents each key). Paths are injected so that tests run
// against file-backed slots, a folder as ESP and swtpm.
struct UpdaterConfig {
    std::string product;
    std::string hardwareId;
    std::filesystem::path caFile;
    std::filesystem::path crlFile;
    std::filesystem::path downgradeCaFile;
    std::filesystem::path downgradeCrlFile;
    // The running image's build time. Certificates that expired before it
    // are rejected, whatever time the box's clock shows.
    std::time_t timeFloor = 0;
    // The running image's own security epoch, a floor for the TPM's value.
    std::uint32_t runningEpoch = 0;

    std::filesystem::path slotA;
    std::filesystem::path slotB;
    std::filesystem::path esp;
    std::filesystem::path kernelCommandLine; // /proc/cmdline; names the booted slot
    // Kernel options that every boot entry carries after the root and slot
    // options, which the updater writes itself.
    std::string kernelOptions;
    std::filesystem::path stateFolder;
    unsigned bootTries = 3;
    std::vector<std::string> rebootCommand;

    std::string tcti;
    std::uint32_t epochNvIndex = 0;
    // The NV index's authorization value, root's alone (mode 0600).
    std::filesystem::path epochAuthFile;

    std::filesystem::path daemonSocket;
    std::filesystem::path publicSocket;
    unsigned healthTimeoutSeconds = 120;

    // The folder that receives the edges' TLS certificates and keys, and
    // the commands that restart each edge so that it loads a new pair.
    std::filesystem::path tlsFolder;
    std::vector<std::string> publicEdgeRestartCommand;
    std::vector<std::string> staffEdgeRestartCommand;

    // The file of the setup page's network settings (on the data
    // partition, so they outlive the read-only root and updates), and the
    // command that renders and applies them.
    std::filesystem::path networkSettingsFile;
    std::vector<std::string> networkApplyCommand;
};

// Reads the INI file. Throws UpdateError naming a missing or invalid key.
UpdaterConfig loadUpdaterConfig(const std::filesystem::path& file);

} // namespace meldpunt::updater
