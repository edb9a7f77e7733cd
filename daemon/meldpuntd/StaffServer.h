#pragma once

#include <Poco/Net/HTTPRequestHandlerFactory.h>

#include <functional>
#include <string>

namespace meldpunt::daemon {

struct StaffStatus {
    bool locked = true;
    std::string lockedReason;
};

// The staff listener's handlers. Until the staff interface arrives it
// serves the box's state: open, or locked with the reason, so that a
// technician at the staff URL sees why no report is being ingested.
// /healthz answers 200 for the daemon's own watchdog probe.
Poco::Net::HTTPRequestHandlerFactory::Ptr makeStaffHandlerFactory(std::function<StaffStatus()> status);

} // namespace meldpunt::daemon
