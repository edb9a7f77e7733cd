#include "DaemonRuntime.h"

#include "Log.h"
#include "Service.h"

#include <Poco/Util/IniFileConfiguration.h>

#include <csignal>
#include <stdexcept>

namespace meldpunt {

Poco::AutoPtr<Poco::Util::AbstractConfiguration> loadConfiguration(int argc, char** argv,
    const std::string& program)
{
    const std::string usage = "usage: " + program + " --config FILE";
    if (argc != 3 || std::string(argv[1]) != "--config")
        throw std::runtime_error(usage);
    const std::filesystem::path file = argv[2];
    if (!std::filesystem::is_regular_file(file))
        throw std::runtime_error("configuration file '" + file.string() + "' not found; " + usage);
    return new Poco::Util::IniFileConfiguration(file.string());
}

std::vector<std::string> splitList(const std::string& text)
{
    std::vector<std::string> items;
    std::string current;
    for (char c : text + ",") {
        if (c == ',') {
            if (!current.empty())
                items.push_back(current);
            current.clear();
        } else if (c != ' ') {
            current.push_back(c);
        }
    }
    return items;
}

void blockTerminationSignals()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int waitForTermination()
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int received = 0;
        if (sigwait(&set, &received) == 0 && received != SIGHUP)
            return received;
    }
}

WatchdogThread::WatchdogThread(std::function<bool()> healthy)
    : healthy_(std::move(healthy))
{
    unsigned long long interval = 0;
    if (!service::watchdogEnabled(interval))
        return;
    thread_ = std::thread([this, interval] {
        bool reportedUnhealthy = false;
        while (!stop_) {
            if (healthy_()) {
                service::notifyWatchdog();
                reportedUnhealthy = false;
            } else if (!reportedUnhealthy) {
                log::warning("Health check failed; withholding the watchdog ping");
                reportedUnhealthy = true;
            }
            for (unsigned long long waited = 0; waited < interval && !stop_; waited += 100000)
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    });
}

WatchdogThread::~WatchdogThread()
{
    stop_ = true;
    if (thread_.joinable())
        thread_.join();
}

} // namespace meldpunt
