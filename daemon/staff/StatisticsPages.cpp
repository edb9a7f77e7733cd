// The coordinator's statistics dashboard and the annual report's
// downloads: handlers of StaffApp for the statistics routes.

#include "StaffApp.h"
#include "StaffContext.h"

#include "AnnualReport.h"
#include "FormData.h"
#include "Log.h"
#include "StatisticsFigures.h"
#include "StatisticsReport.h"

#include <charconv>

namespace meldpunt::staff {

namespace {

constexpr int kFirstYear = 2000;
constexpr int kLastYear = 9999;

// The year a request names, or the current year (UTC) when it names none.
std::optional<int> requestedYear(const std::string& text, TimePoint now)
{
    if (text.empty())
        return std::stoi(formatUtc(now).substr(0, 4));
    int year = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), year);
    if (error != std::errc() || end != text.data() + text.size() || year < kFirstYear
        || year > kLastYear)
        return std::nullopt;
    return year;
}

PageData sectionData(const FigureSection& section)
{
    PageData data;
    data.set("id", section.id);
    data.set("title", section.title);
    data.set("row_heading", section.rowHeading);
    data.set("chart", chartSvg(section));
    data.set("has_rows", !section.rows.empty());
    PageData columns { PageData::type::list };
    for (const auto& column : section.columns)
        columns.push_back(PageData(column));
    data.set("columns", columns);
    data.set("several_columns", section.columns.size() > 1);
    PageData rows { PageData::type::list };
    for (const auto& row : section.rows) {
        PageData item;
        item.set("label", row.label);
        PageData cells { PageData::type::list };
        for (const auto value : row.values)
            cells.push_back(PageData(std::to_string(value)));
        item.set("cells", cells);
        item.set("total", std::to_string(row.total()));
        rows.push_back(item);
    }
    data.set("rows", rows);
    return data;
}

} // namespace

StaffResponse StaffApp::statisticsPage(
    Context& context, const std::string& notice, int status, const std::string& text)
{
    const bool isPost = context.request.method == "POST";
    const std::string yearText
        = isPost ? context.form.get("year") : parseUrlEncoded(context.request.query).get("year");
    const auto year = requestedYear(yearText, clock_());
    if (!year)
        return message(context, 400, "Invalid year",
            "The year must be a number from 2000 to 9999, such as 2026. "
            "Choose one from the list.");
    if (!isPost)
        audit(context, "statistics.view", "year", std::to_string(*year));

    const YearFigures figures = readYearFigures(database_, *year);
    const FigureSummary summary = figureSummary(figures);
    PageData data;
    data.set("year", std::to_string(*year));
    data.set("reports", std::to_string(summary.reports));
    data.set("visits", std::to_string(summary.visits));
    if (summary.inTimePercent >= 0)
        data.set("in_time_percent", std::to_string(summary.inTimePercent));
    data.set("acknowledged", std::to_string(figures.acknowledgedInTime + figures.acknowledgedLate));
    std::vector<int> years = statisticsYears(database_);
    if (std::find(years.begin(), years.end(), *year) == years.end())
        years.push_back(*year);
    std::sort(years.rbegin(), years.rend());
    PageData yearOptions { PageData::type::list };
    for (int each : years) {
        PageData item;
        item.set("value", std::to_string(each));
        item.set("selected", each == *year);
        yearOptions.push_back(item);
    }
    data.set("years", yearOptions);
    PageData sections { PageData::type::list };
    for (const auto& section : figureSections(figures, pages_.catalog(), "en"))
        sections.push_back(sectionData(section));
    data.set("sections", sections);
    data.set("may_write", context.account->role == Role::Coordinator);
    data.set("text", isPost ? text : annualText(database_, *year));
    data.set("max_text_bytes", std::to_string(kMaxAnnualTextBytes));
    PageData languages { PageData::type::list };
    for (const auto& language : pages_.catalog().languages()) {
        PageData item;
        item.set("code", language.code);
        item.set("name", language.nativeName);
        item.set("selected", language.code == "en");
        languages.push_back(item);
    }
    data.set("languages", languages);
    return render(context, "statistics", "Statistics", std::move(data), notice, status);
}

StaffResponse StaffApp::statisticsText(Context& context)
{
    const std::string text = context.form.get("text");
    const auto year = requestedYear(context.form.get("year"), clock_());
    if (!year)
        return statisticsPage(context, {}, 400, text);
    try {
        storeAnnualText(database_, *year, text, formatUtc(clock_()));
    } catch (const std::invalid_argument& error) {
        return statisticsPage(context, error.what(), 400, text);
    }
    audit(context, "statistics.text_saved", "year", std::to_string(*year));
    return redirect("/statistics?year=" + std::to_string(*year) + "#annual-text");
}

StaffResponse StaffApp::annualReportDownload(Context& context)
{
    const FormData query = parseUrlEncoded(context.request.query);
    const auto year = requestedYear(query.get("year"), clock_());
    if (!year)
        return message(context, 400, "Invalid year",
            "The year must be a number from 2000 to 9999, such as 2026. "
            "Choose one from the list.");
    const std::string language = query.has("language") ? query.get("language") : std::string("en");
    if (!pages_.catalog().hasLanguage(language))
        return message(context, 400, "Invalid language",
            "The annual report is made in the site's languages only. Choose one from the list.");
    const YearFigures figures = readYearFigures(database_, *year);
    const auto sections = figureSections(figures, pages_.catalog(), language);
    const std::string name = "meldpunt-annual-report-" + std::to_string(*year);
    StaffResponse response;
    if (context.match.route->id == RouteId::AnnualReportCsv) {
        audit(context, "statistics.export_csv", "year", std::to_string(*year));
        response.contentType = "text/csv; charset=utf-8";
        response.body = figuresCsv(*year, sections);
        response.headers.emplace_back(
            "Content-Disposition", "attachment; filename=\"" + name + ".csv\"");
        return response;
    }
    AnnualReportContent content;
    content.year = *year;
    content.catalog = &pages_.catalog();
    content.language = language;
    content.organisation = settings_.totpIssuer;
    content.coordinatorText = annualText(database_, *year);
    content.summary = figureSummary(figures);
    content.sections = sections;
    // Drawing the PDF needs no database, so other requests go ahead meanwhile.
    context.lock.unlock();
    try {
        response.body = annualReportPdf(content);
    } catch (const AnnualReportError& error) {
        context.lock.lock();
        log::error(std::string("Failed to make the annual report: ") + error.what());
        return message(context, 500, "The annual report could not be made",
            "Try again; if it fails again, tell an admin.");
    }
    context.lock.lock();
    audit(context, "statistics.export_pdf", "year", std::to_string(*year));
    response.contentType = "application/pdf";
    response.headers.emplace_back(
        "Content-Disposition", "attachment; filename=\"" + name + ".pdf\"");
    return response;
}

} // namespace meldpunt::staff
