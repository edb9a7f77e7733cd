#pragma once

#include <string>
#include <vector>

namespace meldpunt::updater {

// Runs `command` (its first word found through PATH) and waits for it.
// Returns true when it exited with status 0. Throws std::system_error when
// the child process cannot be started.
bool runChildCommand(const std::vector<std::string>& command);

} // namespace meldpunt::updater
