#pragma once

namespace meldpunt {

// Stops the process at once (exit status 86, no cleanup) when the
// environment variable MELDPUNT_FAULT_POINT names this point. Tests use it
// to crash a daemon in a precise window, such as between a database commit
// and the removal of the spool entry. Builds without
// MELDPUNT_FAULT_POINTS (the appliance's release build) compile it away.
//
// pausePoint() sleeps instead, for MELDPUNT_PAUSE_MILLISECONDS (1000 when
// unset), when MELDPUNT_PAUSE_POINT names the point: tests use it to widen
// the window in which two threads could race.
#ifdef MELDPUNT_FAULT_POINTS
void faultPoint(const char* name);
void pausePoint(const char* name);
#else
inline void faultPoint(const char*) {}
inline void pausePoint(const char*) {}
#endif

} // namespace meldpunt
