#pragma once

#include "Clock.h"

#include <boost/date_time/local_time/local_time.hpp>

#include <filesystem>
#include <set>
#include <string>

namespace meldpunt::staff {

// The organisation's calendar: its time zone, working days, holidays and
// the local time a working day ends.
struct WorkingCalendar {
    // A zone name from the tz database ("Europe/Amsterdam") or a POSIX TZ
    // rule ("CET-1CEST,M3.5.0,M10.5.0/3").
    std::string timeZone = "Europe/Amsterdam";
    // ISO weekday numbers, Monday = 1 ... Sunday = 7.
    std::set<int> workingDays = {1, 2, 3, 4, 5};
    // Local dates, "YYYY-MM-DD".
    std::set<std::string> holidays;
    // Minutes after local midnight.
    int endOfDayMinutes = 17 * 60;
};

// Every report's triage deadline: 48 hours after it was received, or the
// end of the first working day after the day it was received when that is
// later. Working days and their end are in the organisation's time zone,
// daylight saving time included. Thread-safe after construction.
class TriageDeadline {
public:
    // Throws std::invalid_argument for an unknown zone or a malformed
    // holiday. Zone names are read from `zoneInfoFolder`; the POSIX rule at
    // the end of each tz file describes the zone's current rules.
    explicit TriageDeadline(const WorkingCalendar& calendar,
        const std::filesystem::path& zoneInfoFolder = "/usr/share/zoneinfo");

    TimePoint deadlineFor(TimePoint received) const;

    enum class Urgency { Normal, DueSoon, Overdue };
    // Overdue once the deadline passed; due soon within `warning` of it.
    static Urgency urgency(TimePoint deadline, TimePoint now, std::chrono::hours warning = std::chrono::hours(8));

    // The local date and time of `time` in the organisation's zone, as
    // "YYYY-MM-DD HH:MM", for display.
    std::string localText(TimePoint time) const;

private:
    bool isWorkingDay(const boost::gregorian::date& day) const;

    boost::local_time::time_zone_ptr zone_;
    std::set<int> workingDays_;
    std::set<boost::gregorian::date> holidays_;
    int endOfDayMinutes_;
};

} // namespace meldpunt::staff
