// The audit log's page and CSV export: only auditors read them, and the
// entries carry ids and action names, never what anyone typed into a
// field.

#include "AuditLog.h"
#include "HttpsClient.h"
#include "StaffAppFixture.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <regex>

using namespace meldpunt;
using namespace meldpunt::staff;
using Catch::Matchers::ContainsSubstring;
using meldpunt::test::formBody;
using meldpunt::test::header;
using meldpunt::test::StaffAppFixture;
using meldpunt::test::StaffClient;

namespace {

// Words that occur nowhere else in the test: a search term, a note, and
// a report's text.
constexpr const char* kSearchTerm = "veerpontzeeland";
constexpr const char* kNoteText = "Belde de moeder terug op dinsdag";
constexpr const char* kReportText = "gezien bij de haven van Harlingen";

// Every column of every row of audit_log, as text.
std::string auditTableText(StaffAppFixture& fixture)
{
    std::lock_guard lock(fixture.mutex);
    auto query = fixture.db.database->prepare(
        "SELECT id, at, account_id, username, address, action, object_type, object_id FROM audit_log");
    std::string text;
    while (query.step()) {
        for (int column = 0; column < 8; ++column)
            text += query.columnText(column) + "\n";
    }
    return text;
}

} // namespace

TEST_CASE("Audit pages for auditors only", "[staff][audit]")
{
    StaffAppFixture fixture("staff-audit-pages");
    const auto caseworkerMember = fixture.addMember("anna", Role::Caseworker);
    const auto auditorMember = fixture.addMember("olga", Role::Auditor);
    std::int64_t report = 0;
    {
        std::lock_guard lock(fixture.mutex);
        report = fixture.db.addReport(std::string(kReportText) + " " + kSearchTerm, "2026-12-01T09:00:00Z");
    }
    const std::string casePath = "/cases/" + std::to_string(report);
    StaffClient anna(*fixture.app);
    fixture.logIn(anna, caseworkerMember);
    const auto search = anna.get("/inbox?" + formBody({{"q", kSearchTerm}}));
    REQUIRE(search.status == 200);
    REQUIRE_THAT(search.body, ContainsSubstring("href=\"" + casePath + "\""));
    REQUIRE(anna.get(casePath).status == 200);
    REQUIRE(anna.post(casePath + "/notes", {{"note", kNoteText}}).status == 303);
    REQUIRE(anna.post(casePath + "/reveal", {}).status == 200);
    StaffClient olga(*fixture.app);
    fixture.logIn(olga, auditorMember);

    SECTION("the page lists actions and ids")
    {
        const auto page = olga.get("/audit");
        REQUIRE(page.status == 200);
        CHECK_THAT(page.body, ContainsSubstring("The hash chain verifies:"));
        for (const char* action : {"inbox.search", "case.view", "case.note_added", "case.reveal_contact", "login"})
            CHECK_THAT(page.body, ContainsSubstring(std::string("<td>") + action + "</td>"));
        CHECK_THAT(page.body, ContainsSubstring("<td>case " + std::to_string(report) + "</td>"));
        CHECK_THAT(page.body, ContainsSubstring("<td>anna</td>"));
    }

    SECTION("the export is CSV with one line per entry")
    {
        const auto exported = olga.get("/audit/export");
        REQUIRE(exported.status == 200);
        CHECK(exported.contentType == "text/csv; charset=utf-8");
        CHECK_THAT(header(exported, "Content-Disposition"), ContainsSubstring("attachment"));
        const auto entries = fixture.auditEntries();
        std::size_t lines = 0;
        for (std::size_t at = 0; (at = exported.body.find("\r\n", at)) != std::string::npos; at += 2)
            ++lines;
        CHECK(lines == entries.size() + 1);
        CHECK(exported.body.starts_with("id,at,account_id,username,address,action,object_type,object_id\r\n"));
        CHECK_THAT(exported.body,
            ContainsSubstring("\"anna\",\"192.0.2.20\",\"case.note_added\",\"case\",\"" + std::to_string(report) + "\""));
    }

    SECTION("entries hold ids and action names only")
    {
        // An export first, so that the log contains its audit.export
        // entry too.
        olga.get("/audit/export");
        const std::regex actionName("[a-z_]+(\\.[a-z0-9_]+)*");
        const std::regex objectId("[0-9]*|/[a-z0-9/{}.-]*");
        for (const auto& entry : fixture.auditEntries()) {
            INFO("entry " << entry.id << ": " << entry.action << " " << entry.objectType << " " << entry.objectId);
            CHECK(std::regex_match(entry.action, actionName));
            CHECK(std::regex_match(entry.objectId, objectId));
        }
        const std::string table = auditTableText(fixture);
        CHECK_THAT(table, ContainsSubstring("inbox.search"));
        CHECK_THAT(table, !ContainsSubstring(kSearchTerm));
        CHECK_THAT(table, !ContainsSubstring("veerpont"));
        CHECK_THAT(table, !ContainsSubstring(kNoteText));
        CHECK_THAT(table, !ContainsSubstring("moeder"));
        CHECK_THAT(table, !ContainsSubstring(kReportText));
        CHECK_THAT(table, !ContainsSubstring("Harlingen"));
        CHECK_THAT(table, !ContainsSubstring("reporter@example.org"));
        const auto page = olga.get("/audit");
        const auto exported = olga.get("/audit/export");
        for (const char* secret : {kSearchTerm, kNoteText, kReportText}) {
            CHECK_THAT(page.body, !ContainsSubstring(secret));
            CHECK_THAT(exported.body, !ContainsSubstring(secret));
        }
    }

    SECTION("other roles are refused and the refusal is audited")
    {
        for (const Role role : {Role::Admin, Role::Coordinator, Role::Caseworker}) {
            const auto member = fixture.addMember(std::string(roleName(role)) + "-reader", role);
            StaffClient client(*fixture.app);
            fixture.logIn(client, member);
            for (const std::string path : {"/audit", "/audit/export"}) {
                INFO(roleName(role) << " " << path);
                const auto response = client.get(path);
                CHECK(response.status == 403);
                CHECK_THAT(response.body, !ContainsSubstring("case.note_added"));
                const auto entries = fixture.auditEntries();
                const auto& last = entries.back();
                CHECK(last.action == "access.denied");
                CHECK(last.objectId == path);
                CHECK(last.accountId == member.id);
            }
        }
    }

    SECTION("without a session the pages send to the login")
    {
        StaffClient stranger(*fixture.app);
        for (const std::string path : {"/audit", "/audit/export"}) {
            const auto response = stranger.get(path);
            CHECK(response.status == 303);
            CHECK(header(response, "Location") == "/login");
        }
    }

    SECTION("the page shows where a changed entry breaks the chain")
    {
        {
            std::lock_guard lock(fixture.mutex);
            fixture.db.database->exec("DROP TRIGGER audit_log_no_update");
            fixture.db.database->exec("UPDATE audit_log SET object_id = '999' WHERE id = 3");
        }
        const auto page = olga.get("/audit");
        REQUIRE(page.status == 200);
        CHECK_THAT(page.body, ContainsSubstring("The hash chain is broken at entry 3:"));
    }
}
