// The statistics dashboard, the annual report's PDF and its CSV, against
// records inserted by hand, so that every figure shown has a known source.

#include "Process.h"
#include "StaffApp.h"
#include "StaffAppFixture.h"
#include "StatisticsReport.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

using namespace meldpunt::staff;
using Catch::Matchers::ContainsSubstring;
using meldpunt::test::header;
using meldpunt::test::Process;
using meldpunt::test::readFile;
using meldpunt::test::StaffAppFixture;
using meldpunt::test::StaffClient;

namespace {

struct Record {
    std::string day;
    std::string channel;
    std::string category;
    std::string country;
    std::string reporterAge;
    std::string reporterGender;
    std::string foundVia;
    std::string acknowledgement;
    bool referredToPolice = false;
    std::string referralOutcome;
    std::string closedOutcome;
};

void insertRecord(StaffAppFixture& fixture, const Record& record)
{
    std::lock_guard lock(fixture.mutex);
    fixture.db.database
        ->prepare("INSERT INTO statistics_reports (id, received_day, channel, "
                  "category, country, reporter_age, "
                  "reporter_gender, found_via, suspect_age, suspect_gender, "
                  "child_age, child_gender, anonymous, "
                  "with_attachments, acknowledgement, referred_police, "
                  "referral_outcome, closed_outcome) "
                  "VALUES (randomblob(16), ?, ?, ?, ?, ?, ?, ?, '', '', '', '', "
                  "1, 0, ?, ?, ?, ?)")
        .bind(1, record.day)
        .bind(2, record.channel)
        .bind(3, record.category)
        .bind(4, record.country)
        .bind(5, record.reporterAge)
        .bind(6, record.reporterGender)
        .bind(7, record.foundVia)
        .bind(8, record.acknowledgement)
        .bind(9, std::int64_t { record.referredToPolice ? 1 : 0 })
        .bind(10, record.referralOutcome)
        .bind(11, record.closedOutcome)
        .run();
}

// Seven reports in 2026 and one in 2025, and page views in both years.
void insertSample(StaffAppFixture& fixture)
{
    insertRecord(fixture,
        { "2026-01-05", "form", "travel_tourism", "TH", "30_49", "female", "campaign", "in_time",
            true, "investigation_opened", "referred_to_police" });
    insertRecord(fixture,
        { "2026-01-20", "form", "travel_tourism", "TH", "30_49", "male", "search_engine", "in_time",
            false, "", "advice_given" });
    insertRecord(fixture,
        { "2026-03-02", "phone", "online_material", "NL", "18_29", "female", "campaign", "late",
            false, "", "" });
    insertRecord(fixture,
        { "2026-03-09", "email", "other_violence", "KE", "", "", "", "in_time", false, "", "" });
    insertRecord(fixture,
        { "2026-03-15", "form", "travel_tourism", "TH", "50_64", "female", "news", "in_time", true,
            "received", "" });
    insertRecord(fixture,
        { "2026-11-30", "form", "not_sure", "unknown", "65_plus", "other", "campaign", "pending",
            false, "", "" });
    insertRecord(fixture,
        { "2026-12-31", "phone", "travel_tourism", "TH", "", "", "", "late", false, "", "" });
    insertRecord(fixture,
        { "2025-12-31", "form", "travel_tourism", "BR", "", "", "", "in_time", false, "", "" });
    std::lock_guard lock(fixture.mutex);
    fixture.db.database->exec(
        "INSERT INTO visit_counts (day, page, language, count) VALUES "
        "('2026-01-01', 'home', 'en', 1200), ('2026-01-31', 'form', 'nl', 34), "
        "('2026-07-04', 'home', 'ru', 500), ('2025-06-01', 'home', 'en', 99999)");
}

// The text of a table row on the dashboard: its label and its cells.
std::string row(const std::string& label, const std::string& cells)
{
    return "<tr><th scope=\"row\">" + label + "</th>" + cells + "</tr>";
}

std::string pdfText(const std::string& pdf, const std::filesystem::path& folder)
{
    const auto input = folder / "report.pdf";
    const auto output = folder / "report.txt";
    {
        std::ofstream out(input, std::ios::binary);
        out << pdf;
    }
    Process pdftotext(
        { "/usr/bin/pdftotext", "-enc", "UTF-8", input.string(), output.string() }, {});
    const auto status = pdftotext.wait(std::chrono::seconds(30));
    REQUIRE(status.has_value());
    REQUIRE(WIFEXITED(*status));
    REQUIRE(WEXITSTATUS(*status) == 0);
    return readFile(output);
}

} // namespace

TEST_CASE("Statistics dashboard figures", "[staff][statistics]")
{
    StaffAppFixture fixture("staff-statistics");
    insertSample(fixture);
    const auto coordinator = fixture.addMember("cora", Role::Coordinator);
    StaffClient client(*fixture.app);
    fixture.logIn(client, coordinator);
    const auto response = client.get("/statistics?year=2026");
    REQUIRE(response.status == 200);
    const std::string& page = response.body;

    SECTION("the summary counts the year's reports, visits and deadlines kept")
    {
        CHECK_THAT(page, ContainsSubstring("<strong id=\"summary-reports\">7</strong>"));
        CHECK_THAT(page, ContainsSubstring("<strong id=\"summary-visits\">1734</strong>"));
        // Four of six acknowledgements kept the deadline; one is pending.
        CHECK_THAT(page, ContainsSubstring("<strong id=\"summary-in-time\">67%</strong> (of 6)"));
    }

    SECTION("reports per month are split by channel and by category")
    {
        // Columns in key order: email, form, phone.
        CHECK_THAT(
            page, ContainsSubstring(row("January", "<td>0</td><td>2</td><td>0</td><td>2</td>")));
        CHECK_THAT(
            page, ContainsSubstring(row("March", "<td>1</td><td>1</td><td>1</td><td>3</td>")));
        CHECK_THAT(
            page, ContainsSubstring(row("December", "<td>0</td><td>0</td><td>1</td><td>1</td>")));
        CHECK_THAT(page,
            ContainsSubstring("<th scope=\"col\">Sexual exploitation of "
                              "children in travel and tourism</th>"));
    }

    SECTION("countries, ages, genders and how reporters found the hotline are "
            "tallied")
    {
        CHECK_THAT(page, ContainsSubstring(row("Thailand", "<td>4</td>")));
        CHECK_THAT(page, ContainsSubstring(row("Netherlands", "<td>1</td>")));
        CHECK_THAT(page, ContainsSubstring(row("Not known to the reporter", "<td>1</td>")));
        CHECK(page.find("Brazil") == std::string::npos);
        CHECK_THAT(page, ContainsSubstring(row("30 to 49", "<td>2</td>")));
        CHECK_THAT(page, ContainsSubstring(row("Female", "<td>3</td>")));
        CHECK_THAT(page, ContainsSubstring(row("A poster, flyer or advertisement", "<td>3</td>")));
        CHECK_THAT(page, ContainsSubstring(row("Not answered", "<td>2</td>")));
    }

    SECTION("acknowledgements, referrals and outcomes are tallied")
    {
        CHECK_THAT(page, ContainsSubstring(row("Within the deadline", "<td>4</td>")));
        CHECK_THAT(page, ContainsSubstring(row("After the deadline", "<td>2</td>")));
        CHECK_THAT(page, ContainsSubstring(row("Not yet acknowledged", "<td>1</td>")));
        CHECK_THAT(page, ContainsSubstring(row("Police", "<td>2</td>")));
        CHECK_THAT(page, ContainsSubstring(row("Investigation opened", "<td>1</td>")));
        CHECK_THAT(page, ContainsSubstring(row("Received by the partner", "<td>1</td>")));
        CHECK_THAT(page, ContainsSubstring(row("Referred to the police", "<td>1</td>")));
        CHECK_THAT(page, ContainsSubstring(row("Advice given", "<td>1</td>")));
    }

    SECTION("site visits are summed per month")
    {
        CHECK_THAT(page, ContainsSubstring(row("January", "<td>1234</td>")));
        CHECK_THAT(page, ContainsSubstring(row("July", "<td>500</td>")));
    }

    SECTION("charts are inline SVG with a title and no script")
    {
        CHECK_THAT(page,
            ContainsSubstring("<svg xmlns=\"http://www.w3.org/2000/svg\" "
                              "class=\"chart\" role=\"img\""));
        CHECK_THAT(
            page, ContainsSubstring("<title id=\"chart-countries-title\">Countries</title>"));
        CHECK_THAT(page, ContainsSubstring("<caption>Countries</caption>"));
        CHECK(page.find("<script") == std::string::npos);
        CHECK(page.find(" style=") == std::string::npos);
    }

    SECTION("another year shows only its own figures")
    {
        const auto other = client.get("/statistics?year=2025");
        CHECK_THAT(other.body, ContainsSubstring("<strong id=\"summary-reports\">1</strong>"));
        CHECK_THAT(other.body, ContainsSubstring("<strong id=\"summary-visits\">99999</strong>"));
        CHECK_THAT(other.body, ContainsSubstring("Brazil"));
    }

    SECTION("an invalid year is rejected with a message")
    {
        for (const char* year : { "20x6", "1999", "-1", "99999" }) {
            INFO(year);
            const auto rejected = client.get(std::string("/statistics?year=") + year);
            CHECK(rejected.status == 400);
            CHECK_THAT(
                rejected.body, ContainsSubstring("The year must be a number from 2000 to 9999"));
        }
    }
}

TEST_CASE("Statistics routes by role", "[staff][statistics][routes]")
{
    StaffAppFixture fixture("staff-statistics-roles");
    const struct {
        Role role;
        bool mayRead;
        bool mayWrite;
    } expectations[] = {
        { Role::Coordinator, true, true },
        { Role::Auditor, true, false },
        { Role::Caseworker, false, false },
        { Role::Admin, false, false },
    };
    for (const auto& expected : expectations) {
        const auto member
            = fixture.addMember(std::string(roleName(expected.role)) + "-member", expected.role);
        StaffClient client(*fixture.app);
        fixture.logIn(client, member);
        INFO(roleName(expected.role));
        for (const char* path :
            { "/statistics?year=2026", "/statistics/annual-report.csv?year=2026",
                "/statistics/annual-report.pdf?year=2026" }) {
            INFO(path);
            CHECK(client.get(path).status == (expected.mayRead ? 200 : 403));
        }
        client.get("/account");
        const auto saved = client.post(
            "/statistics/text", { { "year", "2026" }, { "text", "A year of work." } });
        CHECK(saved.status == (expected.mayWrite ? 303 : 403));
    }
}

TEST_CASE("Annual report downloads", "[staff][statistics]")
{
    StaffAppFixture fixture("staff-annual-report");
    insertSample(fixture);
    const auto coordinator = fixture.addMember("cora", Role::Coordinator);
    StaffClient client(*fixture.app);
    fixture.logIn(client, coordinator);
    client.get("/statistics?year=2026");

    SECTION("the coordinator's text is stored and shown again")
    {
        CHECK(client
                  .post("/statistics/text",
                      { { "year", "2026" }, { "text", "Our first full year." } })
                  .status
            == 303);
        CHECK_THAT(client.get("/statistics?year=2026").body,
            ContainsSubstring("Our first full year.</textarea>"));
        CHECK(client.get("/statistics?year=2025").body.find("Our first full year.")
            == std::string::npos);
    }

    SECTION("a text with control characters is rejected and kept in the form")
    {
        const auto rejected
            = client.post("/statistics/text", { { "year", "2026" }, { "text", "Bad\x01text" } });
        CHECK(rejected.status == 400);
        CHECK_THAT(rejected.body, ContainsSubstring("control characters"));
        CHECK_THAT(rejected.body, ContainsSubstring("Bad\x01text</textarea>"));
    }

    SECTION("the CSV holds every figure and downloads as an attachment")
    {
        const auto csv = client.get("/statistics/annual-report.csv?year=2026");
        REQUIRE(csv.status == 200);
        CHECK(csv.contentType == "text/csv; charset=utf-8");
        CHECK(header(csv, "Content-Disposition")
            == "attachment; filename=\"meldpunt-annual-report-2026.csv\"");
        CHECK(csv.body.starts_with("year,section,title,label,column,count\r\n"));
        CHECK_THAT(csv.body, ContainsSubstring("2026,countries,Countries,Thailand,Reports,4\r\n"));
        CHECK_THAT(csv.body,
            ContainsSubstring("2026,channels-per-month,Reports per month by "
                              "channel,March,Phone,1\r\n"));
        CHECK_THAT(csv.body,
            ContainsSubstring("2026,acknowledgements,Acknowledgement of "
                              "reports,After the deadline,Reports,2\r\n"));
        CHECK_THAT(csv.body,
            ContainsSubstring("2026,visits-per-month,Site visits per "
                              "month,January,Page views,1234\r\n"));
    }

    SECTION("the PDF holds the text and the figures as extractable text")
    {
        const std::string english
            = "The hotline answered every report within two working days in spring.";
        client.post("/statistics/text", { { "year", "2026" }, { "text", english } });
        const auto pdf = client.get("/statistics/annual-report.pdf?year=2026");
        REQUIRE(pdf.status == 200);
        CHECK(pdf.contentType == "application/pdf");
        CHECK(header(pdf, "Content-Disposition")
            == "attachment; filename=\"meldpunt-annual-report-2026.pdf\"");
        REQUIRE(pdf.body.starts_with("%PDF-"));
        const std::string text = pdfText(pdf.body, fixture.db.scratch.path());
        CHECK_THAT(text, ContainsSubstring("Annual report 2026"));
        CHECK_THAT(text, ContainsSubstring("within two working days in spring"));
        CHECK_THAT(text, ContainsSubstring("Reports received: 7"));
        CHECK_THAT(text, ContainsSubstring("Site visits (page views): 1734"));
        CHECK_THAT(text, ContainsSubstring("Acknowledged within the deadline: 67%"));
        CHECK_THAT(text, ContainsSubstring("Thailand"));
        CHECK_THAT(text, ContainsSubstring("Reports per month by channel"));
        // March: one by e-mail, one by the form, one by phone.
        CHECK_THAT(text, ContainsSubstring("3 (1 / 1 / 1)"));
    }

    SECTION("a Cyrillic text comes out of the PDF as written")
    {
        const std::string russian = "Горячая линия получила семь "
                                    "сообщений.\n\nСпасибо партнёрам за работу.";
        client.post("/statistics/text", { { "year", "2026" }, { "text", russian } });
        const auto pdf = client.get("/statistics/annual-report.pdf?year=2026");
        REQUIRE(pdf.status == 200);
        const std::string text = pdfText(pdf.body, fixture.db.scratch.path());
        CHECK_THAT(text, ContainsSubstring("Горячая линия получила семь сообщений."));
        CHECK_THAT(text, ContainsSubstring("Спасибо партнёрам за работу."));
        CHECK_THAT(text, ContainsSubstring("Reports received: 7"));
    }

    SECTION("a Russian annual report has Russian headings, labels and country names")
    {
        client.post("/statistics/text", { { "year", "2026" }, { "text", "Спасибо партнёрам." } });
        const auto pdf = client.get("/statistics/annual-report.pdf?year=2026&language=ru");
        REQUIRE(pdf.status == 200);
        const std::string text = pdfText(pdf.body, fixture.db.scratch.path());
        CHECK_THAT(text, ContainsSubstring("Годовой отчёт 2026"));
        CHECK_THAT(text, ContainsSubstring("Спасибо партнёрам."));
        CHECK_THAT(text, ContainsSubstring("Получено сообщений: 7"));
        CHECK_THAT(text, ContainsSubstring("Подтверждено в срок: 67%"));
        CHECK_THAT(text, ContainsSubstring("Сообщения по месяцам и каналам"));
        CHECK_THAT(text, ContainsSubstring("Таиланд"));
        CHECK_THAT(text, ContainsSubstring("Электронная почта"));
        CHECK(text.find("Thailand") == std::string::npos);
        CHECK(text.find("Reports received") == std::string::npos);
    }

    SECTION("a language the site does not offer is rejected")
    {
        const auto rejected = client.get("/statistics/annual-report.pdf?year=2026&language=xx");
        CHECK(rejected.status == 400);
        CHECK_THAT(rejected.body, ContainsSubstring("languages only. Choose one"));
    }

    SECTION("the dashboard offers the site's languages for the annual report")
    {
        const auto page = client.get("/statistics?year=2026").body;
        CHECK_THAT(page, ContainsSubstring("<option value=\"ru\">"));
        CHECK_THAT(page, ContainsSubstring("<option value=\"en\" selected>"));
    }

    SECTION("a long text runs on over further pages")
    {
        std::string longText;
        for (int paragraph = 0; paragraph < 60; ++paragraph)
            longText += "Paragraph " + std::to_string(paragraph)
                + " of the review, long enough to wrap over more than one line "
                  "of the page.\n\n";
        longText += "The last paragraph.";
        client.post("/statistics/text", { { "year", "2026" }, { "text", longText } });
        const auto pdf = client.get("/statistics/annual-report.pdf?year=2026");
        const std::string text = pdfText(pdf.body, fixture.db.scratch.path());
        CHECK_THAT(text, ContainsSubstring("Paragraph 59 of the review"));
        CHECK_THAT(text, ContainsSubstring("The last paragraph."));
        // pdftotext separates pages with a form feed.
        CHECK(std::count(text.begin(), text.end(), '\f') >= 3);
    }
}

TEST_CASE("Chart SVG of long or hostile labels", "[staff][statistics]")
{
    FigureSection section { "test", "Test <chart>", "Label", { "Reports" },
        { { "Saint Helena, Ascension and Tristan da Cunha", { 3 } },
            { "<script>x</script>", { 1 } } } };
    const std::string svg = chartSvg(section);
    CHECK_THAT(svg, ContainsSubstring(">Saint Helena, Ascension and Tris\u2026</text>"));
    CHECK_THAT(svg, ContainsSubstring("&lt;script&gt;x&lt;/script&gt;"));
    CHECK_THAT(svg, ContainsSubstring("<title id=\"chart-test-title\">Test &lt;chart&gt;</title>"));
    CHECK(svg.find("<script>") == std::string::npos);
}
