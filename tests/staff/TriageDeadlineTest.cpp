#include "TriageDeadline.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

using namespace meldpunt::staff;
using Catch::Matchers::ContainsSubstring;

namespace {

std::string deadline(const TriageDeadline& calendar, const std::string& received)
{
    return formatUtc(calendar.deadlineFor(parseUtc(received)));
}

} // namespace

TEST_CASE("Triage deadline", "[deadline]")
{
    WorkingCalendar settings;
    settings.timeZone = "Europe/Amsterdam";
    settings.holidays = {"2026-12-25", "2026-12-28"};
    const TriageDeadline calendar(settings);

    SECTION("on a Tuesday morning it is 48 hours later")
    {
        // 10:00 local (09:00 UTC) on Tuesday 1 December; Wednesday 17:00
        // is earlier than Thursday 10:00.
        CHECK(deadline(calendar, "2026-12-01T09:00:00Z") == "2026-12-03T09:00:00Z");
    }

    SECTION("late on a Wednesday evening it is still 48 hours")
    {
        CHECK(deadline(calendar, "2026-12-02T21:30:00Z") == "2026-12-04T21:30:00Z");
    }

    SECTION("on a Friday it is the end of Monday, after the weekend")
    {
        // Friday 4 December 12:00 local: 48 hours is Sunday; Monday 17:00
        // local is 16:00 UTC.
        CHECK(deadline(calendar, "2026-12-04T11:00:00Z") == "2026-12-07T16:00:00Z");
    }

    SECTION("on a Saturday it is the end of Monday")
    {
        CHECK(deadline(calendar, "2026-12-05T08:00:00Z") == "2026-12-07T16:00:00Z");
    }

    SECTION("on Christmas Eve the holidays and the weekend push it to Tuesday")
    {
        // Thursday 24 December: Friday 25 is a holiday, then the weekend,
        // then Monday 28 is a holiday too.
        CHECK(deadline(calendar, "2026-12-24T10:00:00Z") == "2026-12-29T16:00:00Z");
    }

    SECTION("the end of a working day follows daylight saving time")
    {
        // Friday 23 October 2026 (summer time, UTC+2): Monday 26 October is
        // winter time (UTC+1), so 17:00 local is 16:00 UTC, not 15:00.
        CHECK(deadline(calendar, "2026-10-23T10:00:00Z") == "2026-10-26T16:00:00Z");
        // Friday 27 March 2026 (winter time): Monday 30 March is summer
        // time, so 17:00 local is 15:00 UTC.
        CHECK(deadline(calendar, "2026-03-27T10:00:00Z") == "2026-03-30T15:00:00Z");
    }

    SECTION("the local date decides the next working day, not the UTC date")
    {
        // Thursday 23:30 UTC is already Friday 00:30 in Amsterdam, so the
        // next working day is Monday, not Friday.
        CHECK(deadline(calendar, "2026-12-03T23:30:00Z") == "2026-12-07T16:00:00Z");
    }

    SECTION("local times are shown in the organisation's zone")
    {
        CHECK(calendar.localText(parseUtc("2026-07-01T10:00:00Z")) == "2026-07-01 12:00");
        CHECK(calendar.localText(parseUtc("2026-12-01T10:00:00Z")) == "2026-12-01 11:00");
    }
}

TEST_CASE("Triage deadline configuration", "[deadline]")
{
    SECTION("working days can include Saturday")
    {
        WorkingCalendar settings;
        settings.workingDays = {1, 2, 3, 4, 5, 6};
        settings.timeZone = "UTC0";
        const TriageDeadline calendar(settings);
        // Friday 12:00: Saturday 17:00 is earlier than Sunday 12:00.
        CHECK(deadline(calendar, "2026-12-04T12:00:00Z") == "2026-12-06T12:00:00Z");
        // Saturday 12:00: Sunday is no working day, so Monday 17:00.
        CHECK(deadline(calendar, "2026-12-05T12:00:00Z") == "2026-12-07T17:00:00Z");
    }

    SECTION("another zone and end of day are honoured")
    {
        WorkingCalendar settings;
        settings.timeZone = "America/New_York";
        settings.endOfDayMinutes = 18 * 60;
        const TriageDeadline calendar(settings);
        // Friday 4 December 12:00 EST; Monday 18:00 EST is 23:00 UTC.
        CHECK(deadline(calendar, "2026-12-04T17:00:00Z") == "2026-12-07T23:00:00Z");
    }

    SECTION("an unknown zone is rejected with its name")
    {
        WorkingCalendar settings;
        settings.timeZone = "Europe/Atlantis";
        CHECK_THROWS_WITH(TriageDeadline(settings), ContainsSubstring("Europe/Atlantis"));
    }

    SECTION("a zone name that leaves the zone folder is rejected")
    {
        WorkingCalendar settings;
        settings.timeZone = "../../etc/passwd";
        CHECK_THROWS_AS(TriageDeadline(settings), std::invalid_argument);
    }

    SECTION("a malformed holiday is rejected with its text")
    {
        WorkingCalendar settings;
        settings.holidays = {"25-12-2026"};
        CHECK_THROWS_WITH(TriageDeadline(settings), ContainsSubstring("25-12-2026"));
    }

    SECTION("a calendar without working days falls back to 48 hours")
    {
        WorkingCalendar settings;
        settings.workingDays = {};
        settings.timeZone = "UTC0";
        const TriageDeadline calendar(settings);
        CHECK(deadline(calendar, "2026-12-04T12:00:00Z") == "2026-12-06T12:00:00Z");
    }
}

TEST_CASE("Triage urgency", "[deadline]")
{
    const TimePoint due = parseUtc("2026-12-04T12:00:00Z");

    SECTION("a passed deadline is overdue")
    {
        CHECK(TriageDeadline::urgency(due, due, std::chrono::hours(8)) == TriageDeadline::Urgency::Overdue);
    }

    SECTION("a deadline within the warning time is due soon")
    {
        CHECK(TriageDeadline::urgency(due, due - std::chrono::hours(8), std::chrono::hours(8))
            == TriageDeadline::Urgency::DueSoon);
    }

    SECTION("a later deadline is normal")
    {
        CHECK(TriageDeadline::urgency(due, due - std::chrono::hours(9), std::chrono::hours(8))
            == TriageDeadline::Urgency::Normal);
    }
}
