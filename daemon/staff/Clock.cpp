#include "Clock.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/DateTimeParser.h>
#include <Poco/Exception.h>
#include <Poco/Timestamp.h>

#include <stdexcept>

namespace meldpunt::staff {

std::string formatUtc(TimePoint time)
{
    const Poco::Timestamp stamp = Poco::Timestamp::fromEpochTime(static_cast<std::time_t>(unixSeconds(time)));
    return Poco::DateTimeFormatter::format(stamp, "%Y-%m-%dT%H:%M:%SZ");
}

TimePoint parseUtc(const std::string& text)
{
    int zoneDifferential = 0;
    Poco::DateTime parsed;
    if (!Poco::DateTimeParser::tryParse(Poco::DateTimeFormat::ISO8601_FRAC_FORMAT, text, parsed, zoneDifferential)
        && !Poco::DateTimeParser::tryParse(Poco::DateTimeFormat::ISO8601_FORMAT, text, parsed, zoneDifferential))
        throw std::invalid_argument("'" + text + "' is not an ISO 8601 time");
    parsed.makeUTC(zoneDifferential);
    return std::chrono::system_clock::from_time_t(parsed.timestamp().epochTime());
}

} // namespace meldpunt::staff
