#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace meldpunt::staff {

using TimePoint = std::chrono::system_clock::time_point;

// The time source of the staff logic. Tests inject a clock they move by
// hand, so that timeouts, rate limits and deadlines are tested without
// waiting.
using Clock = std::function<TimePoint()>;

inline Clock systemClock()
{
    return [] { return std::chrono::system_clock::now(); };
}

// Formats a time as ISO 8601 UTC to the second, such as
// "2026-12-04T19:08:46Z", the form every stored time has.
std::string formatUtc(TimePoint time);

// Parses what formatUtc writes, and ISO 8601 with fractional seconds or a
// numeric offset. Throws std::invalid_argument naming the text.
TimePoint parseUtc(const std::string& text);

inline std::int64_t unixSeconds(TimePoint time)
{
    return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

} // namespace meldpunt::staff
