#include "NetworkInstaller.h"

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
    const pid_t pid = ::fork();
    if (pid < 0)
        throw NetworkApplyError(std::string("The network settings are stored, but applying them could not be started: ")
            + std::strerror(errno) + ". They apply at the next boot.");
    if (pid == 0) {
        std::vector<char*> argv;
        for (const std::string& word : command)
            argv.push_back(const_cast<char*>(word.c_str()));
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) { }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw NetworkApplyError("The network settings are stored, but applying them with '" + command.front()
            + "' failed; the journal of meldpunt-updated names the cause. They apply at the next boot: restart the "
              "box to use them.");
    return settings;
}

} // namespace meldpunt::updater
