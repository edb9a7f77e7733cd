#include "StatisticsReport.h"

#include "Pages.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <numeric>

namespace meldpunt::staff {

namespace {

constexpr std::array<const char*, 12> kMonths
    = { N_("January"), N_("February"), N_("March"), N_("April"), N_("May"), N_("June"), N_("July"),
          N_("August"), N_("September"), N_("October"), N_("November"), N_("December") };

// Colours of the bar segments, in the order the legend lists them.
constexpr std::array<const char*, 7> kPalette
    = { "#1f5f8b", "#e08a1e", "#3c8d3f", "#b03a48", "#6b4c9a", "#7a7a7a", "#2aa1a8" };

// Chart geometry in SVG user units.
constexpr int kChartWidth = 640;
constexpr int kLabelWidth = 230;
constexpr int kCountWidth = 50;
constexpr int kBarHeight = 18;
constexpr int kBarGap = 6;
constexpr int kLegendLine = 20;
constexpr std::size_t kMaxLabelCodePoints = 32;

const std::map<std::string, std::map<std::string, std::string>>& labels()
{
    static const std::map<std::string, std::map<std::string, std::string>> table = {
        { "channel",
            { { "form", N_("Report form") }, { "phone", N_("Phone") }, { "email", N_("E-mail") },
                { "other", N_("Other channel") } } },
        { "category",
            { { "travel_tourism", N_("Sexual exploitation of children in travel and tourism") },
                { "online_material", N_("Child sexual abuse material online") },
                { "other_violence", N_("Other violence against children") },
                { "not_sure", N_("Not sure") } } },
        { "reporter_age",
            { { "under_18", N_("Under 18") }, { "18_29", N_("18 to 29") },
                { "30_49", N_("30 to 49") }, { "50_64", N_("50 to 64") },
                { "65_plus", N_("65 or older") }, { "no_answer", N_("I prefer not to say") } } },
        { "reporter_gender",
            { { "female", N_("Female") }, { "male", N_("Male") }, { "other", N_("Other") },
                { "no_answer", N_("I prefer not to say") } } },
        { "found_via",
            { { "search_engine", N_("A search engine") },
                { "campaign", N_("A poster, flyer or advertisement") },
                { "social_media", N_("Social media") }, { "news", N_("News or a magazine") },
                { "friend_family", N_("Friends or family") },
                { "organisation", N_("A travel company, school or other organisation") },
                { "other", N_("Another way") } } },
        { "acknowledgement",
            { { "in_time", N_("Within the deadline") }, { "late", N_("After the deadline") },
                { "pending", N_("Not yet acknowledged") },
                { "unknown", N_("Before deadlines were recorded") } } },
        { "partner_kind",
            { { "police", N_("Police") }, { "hotline", N_("Partner hotline") },
                { "other", N_("Other partner") } } },
        { "referral_outcome",
            { { "received", N_("Received by the partner") },
                { "investigation_opened", N_("Investigation opened") },
                { "no_action", N_("No action by the partner") },
                { "closed", N_("Closed by the partner") } } },
        { "closed_outcome",
            { { "referred_to_police", N_("Referred to the police") },
                { "referred_to_partner", N_("Referred to a partner hotline") },
                { "advice_given", N_("Advice given") },
                { "no_action_possible", N_("No action possible") },
                { "outside_remit", N_("Outside the hotline's remit") },
                { "duplicate", N_("Duplicate of another report") } } },
    };
    return table;
}

FigureSection monthSection(const std::string& id, const std::string& title,
    const std::string& column, const std::vector<MonthSeries>& series)
{
    FigureSection section { id, title, N_("Month"), {}, {} };
    for (const auto& each : series)
        section.columns.push_back(valueLabel(column, each.key));
    // A year without reports still lists its months, with zeros.
    if (series.empty())
        section.columns.push_back(N_("Reports"));
    for (std::size_t month = 0; month < 12; ++month) {
        FigureRow row { kMonths[month], {} };
        for (const auto& each : series)
            row.values.push_back(each.months[month]);
        if (series.empty())
            row.values.push_back(0);
        section.rows.push_back(std::move(row));
    }
    return section;
}

FigureSection tallySection(const std::string& id, const std::string& title,
    const std::string& rowHeading, const std::string& column, const std::vector<Tally>& tallies)
{
    FigureSection section { id, title, rowHeading, { N_("Reports") }, {} };
    for (const auto& each : tallies)
        section.rows.push_back({ valueLabel(column, each.key), { each.count } });
    return section;
}

std::string countryName(
    const Catalog& catalog, const std::string& language, const std::string& code)
{
    if (code.empty())
        return catalog.translate(language, N_("Not answered"));
    if (code == "unknown")
        return catalog.translate(language, N_("Not known to the reporter"));
    for (const auto& country : catalog.countries(language))
        if (country.code == code)
            return country.name;
    return code;
}

// An SVG coordinate with one decimal, enough at the chart's size, and
// with a decimal point whatever the process's locale.
std::string coordinate(double value)
{
    std::array<char, 32> text {};
    const auto result
        = std::to_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed, 1);
    return std::string(text.data(), result.ptr);
}

// A row label cut to `maxCodePoints` UTF-8 code points with an ellipsis,
// so that it stays left of the bars; the table beside the chart has it in full.
std::string shortened(const std::string& text, std::size_t maxCodePoints)
{
    std::size_t codePoints = 0;
    for (std::size_t index = 0; index < text.size(); ++index) {
        const bool leadByte = (static_cast<unsigned char>(text[index]) & 0xC0) != 0x80;
        if (leadByte && ++codePoints > maxCodePoints)
            return text.substr(0, index) + "\u2026";
    }
    return text;
}

std::string csvField(const std::string& text)
{
    if (text.find_first_of(",\"\r\n") == std::string::npos)
        return text;
    std::string quoted = "\"";
    for (char c : text) {
        quoted += c;
        if (c == '"')
            quoted += '"';
    }
    return quoted + "\"";
}

void svgLegend(std::string& svg, const FigureSection& section, int top)
{
    for (std::size_t column = 0; column < section.columns.size(); ++column) {
        const int y = top + static_cast<int>(column) * kLegendLine;
        svg += "<rect x=\"0\" y=\"" + std::to_string(y) + "\" width=\"12\" height=\"12\" fill=\""
            + kPalette[column % kPalette.size()] + "\"/>";
        svg += "<text x=\"18\" y=\"" + std::to_string(y + 11) + "\">"
            + escapeHtml(section.columns[column]) + "</text>";
    }
}

} // namespace

std::int64_t FigureRow::total() const
{
    return std::accumulate(values.begin(), values.end(), std::int64_t { 0 });
}

std::string valueLabel(const std::string& column, const std::string& value)
{
    if (value.empty())
        return N_("Not answered");
    const auto table = labels().find(column);
    if (table == labels().end())
        return value;
    const auto found = table->second.find(value);
    return found == table->second.end() ? value : found->second;
}

namespace {

// Translates every English title and label of the sections, but the
// country names, which come from the iso-codes catalog already.
void translateSections(
    std::vector<FigureSection>& sections, const Catalog& catalog, const std::string& language)
{
    auto translate = [&](std::string& text) { text = catalog.translate(language, text); };
    for (auto& section : sections) {
        translate(section.title);
        translate(section.rowHeading);
        std::for_each(section.columns.begin(), section.columns.end(), translate);
        if (section.id == "countries")
            continue;
        for (auto& row : section.rows)
            translate(row.label);
    }
}

} // namespace

std::vector<FigureSection> figureSections(
    const YearFigures& figures, const Catalog& catalog, const std::string& language)
{
    std::vector<FigureSection> sections;
    sections.push_back(monthSection("channels-per-month", N_("Reports per month by channel"),
        "channel", figures.channelsPerMonth));
    sections.push_back(monthSection("categories-per-month", N_("Reports per month by category"),
        "category", figures.categoriesPerMonth));
    FigureSection countries { "countries", N_("Countries"), N_("Country"), { N_("Reports") }, {} };
    for (const auto& each : figures.countries)
        countries.rows.push_back({ countryName(catalog, language, each.key), { each.count } });
    sections.push_back(std::move(countries));
    sections.push_back(tallySection("reporter-ages", N_("Age of the reporter"), N_("Age"),
        "reporter_age", figures.reporterAges));
    sections.push_back(tallySection("reporter-genders", N_("Gender of the reporter"), N_("Gender"),
        "reporter_gender", figures.reporterGenders));
    sections.push_back(tallySection("found-via", N_("How reporters found the hotline"),
        N_("Found through"), "found_via", figures.foundVia));
    FigureSection acknowledgements { "acknowledgements", N_("Acknowledgement of reports"),
        N_("Acknowledged"), { N_("Reports") }, {} };
    for (const auto& [key, count] : { std::pair { "in_time", figures.acknowledgedInTime },
             std::pair { "late", figures.acknowledgedLate },
             std::pair { "pending", figures.acknowledgementPending },
             std::pair { "unknown", figures.acknowledgementUnknown } })
        if (count > 0 || std::string(key) == "in_time" || std::string(key) == "late")
            acknowledgements.rows.push_back({ valueLabel("acknowledgement", key), { count } });
    sections.push_back(std::move(acknowledgements));
    sections.push_back(tallySection("referrals", N_("Reports referred, by partner kind"),
        N_("Partner kind"), "partner_kind", figures.referredTo));
    sections.push_back(tallySection("referral-outcomes", N_("Outcomes of referrals"), N_("Outcome"),
        "referral_outcome", figures.referralOutcomes));
    sections.push_back(tallySection("closed-outcomes", N_("Closed cases by outcome"), N_("Outcome"),
        "closed_outcome", figures.closedOutcomes));
    FigureSection visits { "visits-per-month", N_("Site visits per month"), N_("Month"),
        { N_("Page views") }, {} };
    for (std::size_t month = 0; month < 12; ++month)
        visits.rows.push_back({ kMonths[month], { figures.visitsPerMonth[month] } });
    sections.push_back(std::move(visits));
    translateSections(sections, catalog, language);
    return sections;
}

FigureSummary figureSummary(const YearFigures& figures)
{
    return { figures.reports, figures.visits, figures.inTimePercent() };
}

std::string chartSvg(const FigureSection& section)
{
    std::int64_t maximum = 1;
    for (const auto& row : section.rows)
        maximum = std::max(maximum, row.total());
    const int legendHeight = section.columns.size() > 1
        ? static_cast<int>(section.columns.size()) * kLegendLine + 8
        : 0;
    const int height
        = legendHeight + static_cast<int>(section.rows.size()) * (kBarHeight + kBarGap) + kBarGap;
    const int barSpace = kChartWidth - kLabelWidth - kCountWidth;
    const std::string titleId = "chart-" + section.id + "-title";

    std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" "
                      "role=\"img\" width=\""
        + std::to_string(kChartWidth) + "\" height=\"" + std::to_string(height)
        + "\" viewBox=\"0 0 " + std::to_string(kChartWidth) + " " + std::to_string(height)
        + "\" aria-labelledby=\"" + titleId + "\" font-family=\"sans-serif\" font-size=\"13\">";
    svg += "<title id=\"" + titleId + "\">" + escapeHtml(section.title) + "</title>";
    if (legendHeight > 0)
        svgLegend(svg, section, 0);
    int y = legendHeight + kBarGap;
    for (const auto& row : section.rows) {
        svg += "<text x=\"0\" y=\"" + std::to_string(y + kBarHeight - 4) + "\">"
            + escapeHtml(shortened(row.label, kMaxLabelCodePoints)) + "</text>";
        double x = kLabelWidth;
        for (std::size_t column = 0; column < row.values.size(); ++column) {
            const double width = static_cast<double>(barSpace)
                * static_cast<double>(row.values[column]) / static_cast<double>(maximum);
            if (width > 0)
                svg += "<rect x=\"" + coordinate(x) + "\" y=\"" + std::to_string(y) + "\" width=\""
                    + coordinate(width) + "\" height=\"" + std::to_string(kBarHeight) + "\" fill=\""
                    + kPalette[column % kPalette.size()] + "\"/>";
            x += width;
        }
        svg += "<text x=\"" + coordinate(x + 4) + "\" y=\"" + std::to_string(y + kBarHeight - 4)
            + "\">" + std::to_string(row.total()) + "</text>";
        y += kBarHeight + kBarGap;
    }
    svg += "</svg>";
    return svg;
}

std::string figuresCsv(int year, const std::vector<FigureSection>& sections)
{
    std::string csv = "year,section,title,label,column,count\r\n";
    for (const auto& section : sections) {
        for (const auto& row : section.rows) {
            for (std::size_t column = 0; column < row.values.size(); ++column) {
                csv += std::to_string(year) + "," + csvField(section.id) + ","
                    + csvField(section.title) + "," + csvField(row.label) + ","
                    + csvField(section.columns[column]) + "," + std::to_string(row.values[column])
                    + "\r\n";
            }
        }
    }
    return csv;
}

} // namespace meldpunt::staff
