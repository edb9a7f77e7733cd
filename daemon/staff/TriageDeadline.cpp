#include "TriageDeadline.h"

#include "FileSystem.h"

#include <stdexcept>

namespace meldpunt::staff {

namespace lt = boost::local_time;
namespace pt = boost::posix_time;
namespace gd = boost::gregorian;

namespace {

constexpr auto kTriageTime = std::chrono::hours(48);
// A working day is searched for at most this far ahead, so that a
// calendar without working days fails instead of looping.
constexpr int kMaxDaysAhead = 366;

// A zone that contains a digit is a POSIX TZ rule, because tz database
// names contain none. The rule of a named zone is the footer line of its
// TZif (version 2 or later) file.
std::string posixRuleFor(const std::string& zone, const std::filesystem::path& zoneInfoFolder)
{
    if (zone.find_first_of("0123456789") != std::string::npos)
        return zone;
    if (zone.empty() || zone.find("..") != std::string::npos || zone.front() == '/')
        throw std::invalid_argument("'" + zone + "' is not a time zone name");
    std::string content;
    try {
        content = fsutil::readSmallFile(zoneInfoFolder / zone, 1024 * 1024);
    } catch (const std::exception&) {
        throw std::invalid_argument("the time zone '" + zone + "' is not in '" + zoneInfoFolder.string() + "'");
    }
    if (!content.starts_with("TZif") || content.size() < 2 || content.back() != '\n')
        throw std::invalid_argument("'" + (zoneInfoFolder / zone).string() + "' is not a TZif file with a rule");
    const auto start = content.rfind('\n', content.size() - 2);
    const std::string rule = content.substr(start + 1, content.size() - start - 2);
    if (rule.empty())
        throw std::invalid_argument("the time zone file of '" + zone + "' has no POSIX rule");
    return rule;
}

// Boost's posix_time_zone reads the offsets of a TZ rule with the sign
// of ISO 8601 (east of UTC positive), the opposite of POSIX, so the rule
// is converted: "CET-1CEST,M3.5.0,M10.5.0/3" becomes "CET+1CEST,...".
// The transition times after the commas are local times and stay.
std::string boostRuleFromPosix(const std::string& rule)
{
    const std::string head = rule.substr(0, rule.find(','));
    const std::string tail = rule.substr(head.size());
    std::string converted;
    std::size_t position = 0;
    while (position < head.size()) {
        // A zone name: letters, or anything between angle brackets.
        if (head[position] == '<') {
            const auto close = head.find('>', position);
            if (close == std::string::npos)
                throw std::invalid_argument("the time zone rule '" + rule + "' has an unclosed '<'");
            converted += head.substr(position, close - position + 1);
            position = close + 1;
            continue;
        }
        if (std::isalpha(static_cast<unsigned char>(head[position]))) {
            converted += head[position++];
            continue;
        }
        // An offset: an optional sign, then digits and colons.
        char sign = '+';
        if (head[position] == '+' || head[position] == '-')
            sign = head[position++];
        converted += sign == '-' ? '+' : '-';
        while (position < head.size() && (std::isdigit(static_cast<unsigned char>(head[position])) || head[position] == ':'))
            converted += head[position++];
    }
    return converted + tail;
}

std::int64_t secondsSinceEpoch(const pt::ptime& utc)
{
    return (utc - pt::ptime(gd::date(1970, 1, 1))).total_seconds();
}

pt::ptime toPtime(TimePoint time)
{
    return pt::from_time_t(std::chrono::system_clock::to_time_t(time));
}

} // namespace

TriageDeadline::TriageDeadline(const WorkingCalendar& calendar, const std::filesystem::path& zoneInfoFolder)
    : workingDays_(calendar.workingDays)
    , endOfDayMinutes_(calendar.endOfDayMinutes)
{
    const std::string rule = posixRuleFor(calendar.timeZone, zoneInfoFolder);
    try {
        zone_ = lt::time_zone_ptr(new lt::posix_time_zone(boostRuleFromPosix(rule)));
    } catch (const std::exception& error) {
        throw std::invalid_argument("the time zone rule '" + rule + "' is invalid: " + error.what());
    }
    for (const auto& holiday : calendar.holidays) {
        try {
            holidays_.insert(gd::from_simple_string(holiday));
        } catch (const std::exception&) {
            throw std::invalid_argument("the holiday '" + holiday + "' is not a date of the form YYYY-MM-DD");
        }
    }
    if (endOfDayMinutes_ <= 0 || endOfDayMinutes_ > 24 * 60)
        throw std::invalid_argument("the end of the working day must lie between 00:01 and 24:00");
}

bool TriageDeadline::isWorkingDay(const gd::date& day) const
{
    const int weekday = day.day_of_week().as_number(); // Sunday = 0
    return workingDays_.contains(weekday == 0 ? 7 : weekday) && !holidays_.contains(day);
}

TimePoint TriageDeadline::deadlineFor(TimePoint received) const
{
    const TimePoint byHours = received + kTriageTime;
    const lt::local_date_time receivedLocal(toPtime(received), zone_);
    gd::date day = receivedLocal.local_time().date();
    for (int ahead = 0; ahead < kMaxDaysAhead; ++ahead) {
        day += gd::days(1);
        if (!isWorkingDay(day))
            continue;
        // A working day's end falls in no DST gap for any ordinary rule;
        // if it did, the hour after the gap is taken.
        const lt::local_date_time end(day, pt::minutes(endOfDayMinutes_), zone_,
            lt::local_date_time::NOT_DATE_TIME_ON_ERROR);
        const pt::ptime endUtc = end.is_not_a_date_time()
            ? lt::local_date_time(day, pt::minutes(endOfDayMinutes_ + 60), zone_, false).utc_time()
            : end.utc_time();
        const TimePoint byWorkingDay = std::chrono::system_clock::from_time_t(secondsSinceEpoch(endUtc));
        return std::max(byHours, byWorkingDay);
    }
    return byHours;
}

TriageDeadline::Urgency TriageDeadline::urgency(TimePoint deadline, TimePoint now, std::chrono::hours warning)
{
    if (now >= deadline)
        return Urgency::Overdue;
    if (deadline - now <= warning)
        return Urgency::DueSoon;
    return Urgency::Normal;
}

std::string TriageDeadline::localText(TimePoint time) const
{
    const lt::local_date_time local(toPtime(time), zone_);
    const pt::ptime value = local.local_time();
    const std::string iso = pt::to_iso_extended_string(value); // YYYY-MM-DDTHH:MM:SS
    return iso.substr(0, 10) + " " + iso.substr(11, 5);
}

} // namespace meldpunt::staff
