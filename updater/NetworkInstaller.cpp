#include "NetworkInstaller.h"

#include "ChildCommand.h"

#include "UpdateError.h"

#include "Crypto.h"
#include "FileSystem.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace meldpunt::updater {

namespace fs = std::filesystem;

network::NetworkSettings applyNetworkSettings(const UpdaterConfig& config, const network::NetworkForm& form)
{
    network::NetworkSettings settings;
    const auto errors = network::checkNetworkForm(form, nullptr, settings);
    if (!errors.empty()) {
        std::string message = "The network settings were not stored.";
        for (const auto& error : errors)
            message += " " + error.message;
        throw NetworkRejectedError(message);
    }

    const fs::path file = config.networkSettingsFile;
    try {
        fs::create_directories(file.parent_path());
        fsutil::writeFileAtomically(file, crypto::asBytes(network::formatNetworkSettings(settings)), 0644);
    } catch (const std::exception& error) {
        throw UpdateError(std::string("Failed to store the network settings: ") + error.what()
            + ". The previous settings stay; check the free space and the folder " + file.parent_path().string() + ".");
    }

    const auto& command = config.networkApplyCommand;
    bool succeeded = false;
    try {
        succeeded = runChildCommand(command);
    } catch (const std::system_error& error) {
        throw NetworkApplyError(std::string("The network settings are stored, but applying them could not be started: ")
            + error.code().message() + ". They apply at the next boot.");
    }
    if (!succeeded)
        throw NetworkApplyError("The network settings are stored, but applying them with '" + command.front()
            + "' failed; the journal of meldpunt-updated names the cause. They apply at the next boot: restart the "
              "box to use them.");
    return settings;
}

} // namespace meldpunt::updater
