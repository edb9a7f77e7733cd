#pragma once

#include "Database.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace meldpunt::staff {

using MonthCounts = std::array<std::int64_t, 12>;

// A count under its stored value, such as {"phone", 12}.
struct Tally {
    std::string key;
    std::int64_t count = 0;
};

// A count per month for one value, such as the reports by phone.
struct MonthSeries {
    std::string key;
    MonthCounts months {};
};

// The figures of one calendar year (UTC days) from the anonymised
// statistics records and the visit counts. Tallies list every value that
// occurs, the most frequent first; "" is a question not answered.
struct YearFigures {
    int year = 0;
    std::int64_t reports = 0;
    MonthCounts reportsPerMonth {};
    std::vector<MonthSeries> channelsPerMonth;
    std::vector<MonthSeries> categoriesPerMonth;
    std::vector<Tally> channels;
    std::vector<Tally> categories;
    std::vector<Tally> countries;
    std::vector<Tally> reporterAges;
    std::vector<Tally> reporterGenders;
    std::vector<Tally> foundVia;
    std::int64_t acknowledgedInTime = 0;
    std::int64_t acknowledgedLate = 0;
    std::int64_t acknowledgementPending = 0; // not yet acknowledged
    std::int64_t acknowledgementUnknown = 0; // recorded before deadlines were kept
    std::vector<Tally> referredTo; // police, hotline, other; a report may count for several
    std::vector<Tally> referralOutcomes; // the newest outcome of each referred report
    std::vector<Tally> closedOutcomes;
    std::int64_t visits = 0;
    MonthCounts visitsPerMonth {};

    // The share of acknowledgements that kept the deadline, in percent,
    // rounded; -1 when no acknowledgement is recorded.
    int inTimePercent() const;
};

// Reads the figures of `year`. Not thread-safe: the caller holds the
// database lock. Throws storage::DatabaseError.
YearFigures readYearFigures(storage::Database& database, int year);

// The years that have a statistics record or a visit count, newest first.
std::vector<int> statisticsYears(storage::Database& database);

// The coordinator's text for the annual report of `year`; empty when none.
std::string annualText(storage::Database& database, int year);
// Stores it, replacing an earlier one. Throws std::invalid_argument for
// text that is too long or contains control characters.
void storeAnnualText(
    storage::Database& database, int year, const std::string& text, const std::string& now);

inline constexpr std::size_t kMaxAnnualTextBytes = 20000;

} // namespace meldpunt::staff
