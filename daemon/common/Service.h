#pragma once

#include <string>
#include <string_view>

namespace meldpunt::service {

// Turns core dumps off (RLIMIT_CORE 0) and marks the process non-dumpable
// (PR_SET_DUMPABLE 0), so a crash or a ptrace attach by another process of
// the same user exposes no key or report in memory. Throws
// std::system_error when either call fails.
void disableCoreDumps();

// Wraps sd_notify; each is a no-op outside systemd (no NOTIFY_SOCKET).
void notifyReady(std::string_view status);
void notifyStatus(std::string_view status);
void notifyStopping();
void notifyWatchdog();
// Returns true when systemd expects WATCHDOG=1, and the interval between
// pings that keeps it satisfied (half of WatchdogSec) in microseconds.
bool watchdogEnabled(unsigned long long& intervalMicroseconds);

} // namespace meldpunt::service
