#pragma once

namespace meldpunt {

// Stops the process at once (exit status 86, no cleanup) when the
// environment variable MELDPUNT_FAULT_POINT names this point. Tests use it
// to crash a daemon in a precise window, such as between a database commit
// and the removal of the spool entry. Builds without
// MELDPUNT_FAULT_POINTS (the appliance's release build) compile it away.
#ifdef MELDPUNT_FAULT_POINTS
void faultPoint(const char* name);
#else
inline void faultPoint(const char*) {}
#endif

} // namespace meldpunt
