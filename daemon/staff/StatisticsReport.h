#pragma once

#include "Catalog.h"
#include "StatisticsFigures.h"

#include <cstdint>
#include <string>
#include <vector>

namespace meldpunt::staff {

// Marks English text that the annual report translates through the site's
// catalogs; webui/extract-messages collects every N_("...") in
// daemon/staff into meldpunt.pot, as xgettext does with its N_ keyword.
constexpr const char* N_(const char* english) { return english; }

// One row of a figures table: a label and a count per column.
struct FigureRow {
    std::string label;
    std::vector<std::int64_t> values;

    std::int64_t total() const;
};

// A table of figures and the chart drawn from it: one bar per row, split
// into one segment per column. The dashboard, the annual report's PDF and
// its CSV are all made from these, so they always show the same numbers.
struct FigureSection {
    std::string id; // stable, for the CSV and element ids: "channels-per-month"
    std::string title;
    std::string rowHeading; // what a row is, such as "Month"
    std::vector<std::string> columns;
    std::vector<FigureRow> rows;
};

// The sections of a year's figures in the order they are shown, with
// every title and label translated into `language` through `catalog`
// ("en" for English), and country names in that language.
std::vector<FigureSection> figureSections(
    const YearFigures& figures, const Catalog& catalog, const std::string& language);

// The English label of a stored value of a statistics column, such as
// "Phone" for channel "phone"; "Not answered" for "".
std::string valueLabel(const std::string& column, const std::string& value);

// An accessible SVG bar chart of the section: role="img" with a <title>,
// text as <text>, and a legend when there are several columns. It is
// meant to be shown next to the section's table. No script, no style
// attribute, so the staff pages' Content-Security-Policy allows it inline.
std::string chartSvg(const FigureSection& section);

// The figures as CSV (RFC 4180, CRLF line ends): one line per section,
// row and column, with the year, the section's id and title, the row's
// label, the column's label and the count.
std::string figuresCsv(int year, const std::vector<FigureSection>& sections);

// The summary line values shown above the sections.
struct FigureSummary {
    std::int64_t reports = 0;
    std::int64_t visits = 0;
    int inTimePercent = -1; // -1: no acknowledgement recorded
};
FigureSummary figureSummary(const YearFigures& figures);

} // namespace meldpunt::staff
