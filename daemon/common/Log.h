#pragma once

#include <string_view>

namespace meldpunt::log {

// Writes one line to stderr with an sd-daemon priority prefix ("<6>"), so
// the journal files it at the right priority while a terminal still shows
// a readable line. Messages never carry report contents, reporter details,
// client addresses or keys. Thread-safe.
void error(std::string_view message);
void warning(std::string_view message);
void notice(std::string_view message);
void info(std::string_view message);
void debug(std::string_view message);

// Sends a security event to the journal with a stable MESSAGE_ID (a
// 128-bit id in hex) when the journal is reachable, and always writes the
// message to stderr as a notice.
void securityEvent(std::string_view messageId, std::string_view message);

} // namespace meldpunt::log
