#pragma once

#include <Poco/AutoPtr.h>
#include <Poco/Util/AbstractConfiguration.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace meldpunt {

// Reads "--config FILE" (INI) from the command line. Throws
// std::runtime_error with a message that says what is wrong and how the
// command is meant to be called.
Poco::AutoPtr<Poco::Util::AbstractConfiguration> loadConfiguration(int argc, char** argv,
    const std::string& program);

std::vector<std::string> splitList(const std::string& text);

// Blocks SIGTERM, SIGINT and SIGHUP in every thread started afterwards and
// waits for one of them in waitForTermination().
void blockTerminationSignals();
int waitForTermination();

// Sends WATCHDOG=1 only while `healthy` returns true. Checked every
// interval systemd asked for; does nothing outside systemd.
class WatchdogThread {
public:
    explicit WatchdogThread(std::function<bool()> healthy);
    ~WatchdogThread();

private:
    std::function<bool()> healthy_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

} // namespace meldpunt
