// meldpunt-updated: the updater's D-Bus service on the system bus.
#include "UpdaterConfig.h"
#include "UpdaterService.h"

#include "Log.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <string>

using namespace meldpunt;

int main(int argc, char** argv)
{
    const rlimit noCore{ 0, 0 };
    setrlimit(RLIMIT_CORE, &noCore);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    std::string configFile = "/etc/meldpunt/updater.ini";
    std::string busAddress; // empty: the system bus
    if (argc % 2 == 0) {
        log::error("Every option takes a value. Options: --config FILE, --bus-address ADDRESS.");
        return 2;
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string option = argv[i];
        if (option == "--config") {
            configFile = argv[i + 1];
        } else if (option == "--bus-address") {
            busAddress = argv[i + 1];
        } else {
            log::error(
                "Invalid option '" + option + "'. Options: --config FILE, --bus-address ADDRESS.");
            return 2;
        }
    }
    try {
        const updater::UpdaterConfig config = updater::loadUpdaterConfig(configFile);
        return updater::runUpdaterService(config, busAddress);
    } catch (const std::exception& error) {
        log::error(std::string("Failed to run the updater service: ") + error.what());
        return 1;
    }
}
