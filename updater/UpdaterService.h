#pragma once

#include "UpdaterConfig.h"

#include <string>

namespace meldpunt::updater {

// The D-Bus name, object path and interface of meldpunt-updated.
inline constexpr const char* kBusName = "org.meldpunt.Updater1";
inline constexpr const char* kObjectPath = "/org/meldpunt/Updater1";
inline constexpr const char* kInterface = "org.meldpunt.Updater1";

// Serves the updater on D-Bus (docs/updates.md lists the methods,
// properties and signals) until SIGTERM or SIGINT. `busAddress` empty
// means the system bus; tests pass the address of a private bus. Bundles
// are verified synchronously in the method call, so a rejected bundle is
// the call's error. The install itself runs on a worker thread, which
// reports through the Operation and Progress properties and the Completed
// signal. Returns the process exit status. Throws UpdateError when the
// bus cannot be reached or the name cannot be owned.
int runUpdaterService(const UpdaterConfig& config, const std::string& busAddress);

} // namespace meldpunt::updater
