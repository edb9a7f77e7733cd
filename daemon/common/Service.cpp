#include "Service.h"

#include <systemd/sd-daemon.h>

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace meldpunt::service {

void disableCoreDumps()
{
    const rlimit none{0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0)
        throw std::system_error(errno, std::generic_category(), "setting RLIMIT_CORE to 0");
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        throw std::system_error(errno, std::generic_category(), "clearing PR_SET_DUMPABLE");
}

void notifyReady(std::string_view status)
{
    const std::string message = "READY=1\nSTATUS=" + std::string(status);
    sd_notify(0, message.c_str());
}

void notifyStatus(std::string_view status)
{
    const std::string message = "STATUS=" + std::string(status);
    sd_notify(0, message.c_str());
}

void notifyStopping()
{
    sd_notify(0, "STOPPING=1");
}

void notifyWatchdog()
{
    sd_notify(0, "WATCHDOG=1");
}

bool watchdogEnabled(unsigned long long& intervalMicroseconds)
{
    uint64_t timeout = 0;
    if (sd_watchdog_enabled(0, &timeout) <= 0)
        return false;
    intervalMicroseconds = timeout / 2;
    return true;
}

} // namespace meldpunt::service
