#include "StatisticsFigures.h"

#include "FormData.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace meldpunt::staff {

namespace {

// The statistics columns that the figures tally; the names are fixed here,
// never taken from a request.
std::vector<Tally> tally(storage::Database& database, const std::string& column, int year)
{
    auto query = database.prepare("SELECT " + column
        + ", count(*) FROM statistics_reports "
          "WHERE substr(received_day, 1, 4) = ? GROUP BY 1 ORDER BY 2 DESC, 1");
    query.bind(1, std::to_string(year));
    std::vector<Tally> tallies;
    while (query.step())
        tallies.push_back({ query.columnText(0), query.columnInt(1) });
    return tallies;
}

std::vector<MonthSeries> perMonth(storage::Database& database, const std::string& column, int year)
{
    auto query = database.prepare("SELECT " + column
        + ", CAST(substr(received_day, 6, 2) AS INTEGER), count(*) "
          "FROM statistics_reports WHERE substr(received_day, 1, 4) = ? GROUP BY "
          "1, 2 ORDER BY 1, 2");
    query.bind(1, std::to_string(year));
    std::vector<MonthSeries> series;
    while (query.step()) {
        const std::string key = query.columnText(0);
        if (series.empty() || series.back().key != key)
            series.push_back({ key, {} });
        const auto month = query.columnInt(1);
        if (month >= 1 && month <= 12)
            series.back().months[static_cast<std::size_t>(month - 1)] = query.columnInt(2);
    }
    return series;
}

void readAcknowledgements(storage::Database& database, int year, YearFigures& figures)
{
    for (const auto& [key, count] : tally(database, "acknowledgement", year)) {
        if (key == "in_time")
            figures.acknowledgedInTime = count;
        else if (key == "late")
            figures.acknowledgedLate = count;
        else if (key == "pending")
            figures.acknowledgementPending = count;
        else
            figures.acknowledgementUnknown += count;
    }
}

std::vector<Tally> readReferredTo(storage::Database& database, int year)
{
    auto query = database.prepare(
        "SELECT sum(referred_police), sum(referred_hotline), sum(referred_other) "
        "FROM statistics_reports WHERE substr(received_day, 1, 4) = ?");
    query.bind(1, std::to_string(year));
    std::vector<Tally> tallies;
    if (!query.step())
        return tallies;
    int column = 0;
    for (const char* kind : { "police", "hotline", "other" }) {
        const std::int64_t count = query.columnIsNull(column) ? 0 : query.columnInt(column);
        ++column;
        if (count > 0)
            tallies.push_back({ kind, count });
    }
    return tallies;
}

void readVisits(storage::Database& database, int year, YearFigures& figures)
{
    auto query = database.prepare(
        "SELECT CAST(substr(day, 6, 2) AS INTEGER), sum(count) FROM visit_counts "
        "WHERE substr(day, 1, 4) = ? GROUP BY 1");
    query.bind(1, std::to_string(year));
    while (query.step()) {
        const auto month = query.columnInt(0);
        if (month < 1 || month > 12)
            continue;
        figures.visitsPerMonth[static_cast<std::size_t>(month - 1)] = query.columnInt(1);
        figures.visits += query.columnInt(1);
    }
}

std::vector<Tally> withoutEmpty(std::vector<Tally> tallies)
{
    std::erase_if(tallies, [](const Tally& each) { return each.key.empty(); });
    return tallies;
}

} // namespace

int YearFigures::inTimePercent() const
{
    const std::int64_t acknowledged = acknowledgedInTime + acknowledgedLate;
    if (acknowledged == 0)
        return -1;
    return static_cast<int>(std::lround(
        100.0 * static_cast<double>(acknowledgedInTime) / static_cast<double>(acknowledged)));
}

YearFigures readYearFigures(storage::Database& database, int year)
{
    YearFigures figures;
    figures.year = year;
    figures.channelsPerMonth = perMonth(database, "channel", year);
    figures.categoriesPerMonth = perMonth(database, "category", year);
    for (const auto& series : figures.channelsPerMonth) {
        for (std::size_t month = 0; month < 12; ++month) {
            figures.reportsPerMonth[month] += series.months[month];
            figures.reports += series.months[month];
        }
    }
    figures.channels = tally(database, "channel", year);
    figures.categories = tally(database, "category", year);
    figures.countries = tally(database, "country", year);
    figures.reporterAges = tally(database, "reporter_age", year);
    figures.reporterGenders = tally(database, "reporter_gender", year);
    figures.foundVia = tally(database, "found_via", year);
    readAcknowledgements(database, year, figures);
    figures.referredTo = readReferredTo(database, year);
    figures.referralOutcomes = withoutEmpty(tally(database, "referral_outcome", year));
    figures.closedOutcomes = withoutEmpty(tally(database, "closed_outcome", year));
    readVisits(database, year, figures);
    return figures;
}

std::vector<int> statisticsYears(storage::Database& database)
{
    auto query = database.prepare("SELECT DISTINCT CAST(substr(received_day, 1, "
                                  "4) AS INTEGER) FROM statistics_reports "
                                  "UNION SELECT DISTINCT CAST(substr(day, 1, 4) "
                                  "AS INTEGER) FROM visit_counts "
                                  "ORDER BY 1 DESC");
    std::vector<int> years;
    while (query.step())
        years.push_back(static_cast<int>(query.columnInt(0)));
    return years;
}

std::string annualText(storage::Database& database, int year)
{
    auto query = database.prepare("SELECT text FROM statistics_annual_texts WHERE year = ?");
    query.bind(1, std::int64_t { year });
    return query.step() ? query.columnText(0) : std::string();
}

void storeAnnualText(
    storage::Database& database, int year, const std::string& text, const std::string& now)
{
    if (text.size() > kMaxAnnualTextBytes)
        throw std::invalid_argument("The text is too long. Keep it under "
            + std::to_string(kMaxAnnualTextBytes) + " bytes.");
    if (!isValidUtf8(text) || hasForbiddenControl(text))
        throw std::invalid_argument(
            "The text contains control characters. Remove them and save again.");
    database
        .prepare("INSERT INTO statistics_annual_texts (year, text, updated_at) "
                 "VALUES (?, ?, ?) "
                 "ON CONFLICT (year) DO UPDATE SET text = excluded.text, "
                 "updated_at = excluded.updated_at")
        .bind(1, std::int64_t { year })
        .bind(2, text)
        .bind(3, now)
        .run();
}

} // namespace meldpunt::staff
