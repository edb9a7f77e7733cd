#pragma once

#include "Daemon.h"

#include <Poco/Net/HTTPRequestHandlerFactory.h>

namespace meldpunt::daemon {

// The staff listener's handlers. Until the staff interface arrives it
// serves the box's state: open, or locked with the reason and a form for
// the recovery key. /healthz answers 200 for the daemon's own watchdog.
Poco::Net::HTTPRequestHandlerFactory::Ptr makeStaffHandlerFactory(Daemon& daemon);

} // namespace meldpunt::daemon
