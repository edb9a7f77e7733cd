// Links between related reports and merges of duplicates, through the
// case page's forms.

#include "ReportDeletion.h"
#include "StaffAppFixture.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>

using namespace meldpunt;
using namespace meldpunt::staff;
using Catch::Matchers::ContainsSubstring;
using meldpunt::test::header;
using meldpunt::test::StaffAppFixture;
using meldpunt::test::StaffClient;

namespace {

struct Report {
    std::int64_t id = 0;
    std::string reference;
    std::string path;
};

Report addReport(StaffAppFixture& fixture, const std::string& text)
{
    std::lock_guard lock(fixture.mutex);
    Report report;
    report.id = fixture.db.addReport(text, "2026-12-01T09:00:00Z");
    auto query = fixture.db.database->prepare("SELECT reference FROM reports WHERE id = ?");
    query.bind(1, report.id);
    query.step();
    report.reference = query.columnText(0);
    report.path = "/cases/" + std::to_string(report.id);
    return report;
}

std::int64_t count(StaffAppFixture& fixture, const std::string& sql)
{
    std::lock_guard lock(fixture.mutex);
    auto query = fixture.db.database->prepare(sql);
    query.step();
    return query.columnInt(0);
}

std::vector<std::string> auditedOn(StaffAppFixture& fixture, std::int64_t id)
{
    std::vector<std::string> actions;
    for (const auto& entry : fixture.auditEntries()) {
        if (entry.objectType == "case" && entry.objectId == std::to_string(id))
            actions.push_back(entry.action);
    }
    return actions;
}

bool contains(const std::vector<std::string>& list, const std::string& value)
{
    return std::find(list.begin(), list.end(), value) != list.end();
}

// The part of the case page under "Related reports".
std::string relatedSection(const std::string& page)
{
    const auto start = page.find("<h2 id=\"related\">");
    const auto end = page.find("<h2>", start + 1);
    return start == std::string::npos ? std::string() : page.substr(start, end - start);
}

} // namespace

TEST_CASE("Linking related reports", "[staff][relations]")
{
    StaffAppFixture fixture("staff-case-links");
    const auto member = fixture.addMember("anna", Role::Caseworker);
    StaffClient anna(*fixture.app);
    fixture.logIn(anna, member);
    const Report first = addReport(fixture, "a boy at the station");
    const Report second = addReport(fixture, "the same boy at the market");
    const Report third = addReport(fixture, "something else");
    anna.get(first.path);

    SECTION("a link by reference shows on both case pages")
    {
        // The reference may be typed in lower case and with spaces.
        std::string typed = "  " + second.reference + " ";
        std::transform(typed.begin(), typed.end(), typed.begin(), [](unsigned char c) { return std::tolower(c); });
        const auto linked = anna.post(first.path + "/links", {{"reference", typed}});
        REQUIRE(linked.status == 303);
        CHECK(header(linked, "Location") == first.path + "#related");
        CHECK_THAT(relatedSection(anna.get(first.path).body),
            ContainsSubstring("<a href=\"" + second.path + "\">" + second.reference + "</a>"));
        CHECK_THAT(relatedSection(anna.get(second.path).body),
            ContainsSubstring("<a href=\"" + first.path + "\">" + first.reference + "</a>"));
        CHECK_THAT(relatedSection(anna.get(third.path).body), ContainsSubstring("No report is linked to this one."));
        CHECK(contains(auditedOn(fixture, first.id), "case.linked"));
        CHECK(contains(auditedOn(fixture, second.id), "case.linked"));
    }

    SECTION("invalid links are rejected with the reason")
    {
        REQUIRE(anna.post(first.path + "/links", {{"reference", second.reference}}).status == 303);
        const std::vector<std::pair<std::string, std::string>> cases = {
            {"", "Type the reference of the other report"},
            {"MP-00000000", "No report has the reference &apos;MP-00000000&apos;"},
            {first.reference, "A report cannot be linked to itself"},
            {second.reference, "This report is linked to " + second.reference + " already."},
            {std::string(100, 'x'), "The reference is too long."},
        };
        for (const auto& [typed, problem] : cases) {
            INFO(typed);
            const auto response = anna.post(first.path + "/links", {{"reference", typed}});
            CHECK(response.status == 400);
            CHECK_THAT(response.body, ContainsSubstring(problem));
        }
        // Linked from the other side is the same link.
        const auto reverse = anna.post(second.path + "/links", {{"reference", first.reference}});
        CHECK(reverse.status == 400);
        CHECK_THAT(reverse.body, ContainsSubstring("linked to " + first.reference + " already"));
        CHECK(count(fixture, "SELECT count(*) FROM report_links") == 1);
    }

    SECTION("an unlink removes the link from both pages")
    {
        REQUIRE(anna.post(first.path + "/links", {{"reference", second.reference}}).status == 303);
        const auto unlinked = anna.post(second.path + "/unlink", {{"report", std::to_string(first.id)}});
        REQUIRE(unlinked.status == 303);
        CHECK_THAT(relatedSection(anna.get(first.path).body), !ContainsSubstring(second.reference));
        CHECK_THAT(relatedSection(anna.get(second.path).body), !ContainsSubstring(first.reference));
        CHECK(contains(auditedOn(fixture, first.id), "case.unlinked"));
        CHECK(contains(auditedOn(fixture, second.id), "case.unlinked"));
        const auto again = anna.post(second.path + "/unlink", {{"report", std::to_string(first.id)}});
        CHECK(again.status == 400);
        CHECK_THAT(again.body, ContainsSubstring("These reports are not linked."));
        const auto garbage = anna.post(second.path + "/unlink", {{"report", "<b>1</b>"}});
        CHECK(garbage.status == 400);
    }

    SECTION("a deleted report takes its links along")
    {
        REQUIRE(anna.post(first.path + "/links", {{"reference", second.reference}}).status == 303);
        REQUIRE(anna.post(third.path + "/links", {{"reference", second.reference}}).status == 303);
        {
            std::lock_guard lock(fixture.mutex);
            storage::DeletedFiles files;
            storage::deleteReport(*fixture.db.database, second.id, files);
        }
        CHECK(count(fixture, "SELECT count(*) FROM report_links") == 0);
        CHECK_THAT(relatedSection(anna.get(first.path).body), ContainsSubstring("No report is linked to this one."));
    }
}

TEST_CASE("Merging a duplicate report", "[staff][relations]")
{
    StaffAppFixture fixture("staff-case-merge");
    const auto member = fixture.addMember("anna", Role::Caseworker);
    StaffClient anna(*fixture.app);
    fixture.logIn(anna, member);
    const Report primary = addReport(fixture, "a girl at the campsite");
    const Report duplicate = addReport(fixture, "the girl at the campsite again");
    const Report other = addReport(fixture, "a third report");
    anna.get(duplicate.path);
    REQUIRE(anna.post(duplicate.path + "/notes", {{"note", "Called the reporter back."}}).status == 303);
    {
        std::lock_guard lock(fixture.mutex);
        fixture.db.database
            ->prepare("INSERT INTO reporter_messages (report_id, direction, at, body) "
                      "VALUES (?, 'to_reporter', '2026-12-02T10:00:00Z', 'Thank you for the report.')")
            .bind(1, duplicate.id)
            .run();
    }
    const auto merge = [&](const Report& from, const std::string& into, bool confirm = true) {
        std::vector<std::pair<std::string, std::string>> fields = {{"primary", into}};
        if (confirm)
            fields.emplace_back("confirm", "yes");
        return anna.post(from.path + "/merge", fields);
    };

    SECTION("the duplicate closes, keeps its history and points to the primary")
    {
        const auto merged = merge(duplicate, primary.reference);
        REQUIRE(merged.status == 303);
        const auto page = anna.get(duplicate.path).body;
        CHECK_THAT(page, ContainsSubstring("This report is a duplicate. It was merged into"));
        CHECK_THAT(page, ContainsSubstring("<a href=\"" + primary.path + "\">" + primary.reference + "</a>"));
        CHECK_THAT(page, ContainsSubstring("Now: Closed (Duplicate of another report)"));
        CHECK_THAT(page, ContainsSubstring("Called the reporter back."));
        CHECK_THAT(page, !ContainsSubstring("Merge into that report"));
        CHECK(count(fixture, "SELECT count(*) FROM reporter_messages WHERE report_id = " + std::to_string(duplicate.id))
            == 1);
        CHECK(count(fixture, "SELECT count(*) FROM case_notes WHERE report_id = " + std::to_string(duplicate.id)) == 1);
        const auto primaryPage = anna.get(primary.path).body;
        CHECK_THAT(relatedSection(primaryPage), ContainsSubstring("Duplicates merged into this report:"));
        CHECK_THAT(relatedSection(primaryPage),
            ContainsSubstring("<a href=\"" + duplicate.path + "\">" + duplicate.reference + "</a>"));
        CHECK_THAT(primaryPage, !ContainsSubstring("This report is a duplicate."));

        const auto duplicateActions = auditedOn(fixture, duplicate.id);
        CHECK(contains(duplicateActions, "case.merged_as_duplicate"));
        CHECK(contains(duplicateActions, "case.view"));
        CHECK(contains(duplicateActions, "case.note_added"));
        CHECK(contains(auditedOn(fixture, primary.id), "case.duplicate_merged_in"));
    }

    SECTION("the inbox hides merged duplicates unless asked")
    {
        REQUIRE(merge(duplicate, primary.reference).status == 303);
        const std::string link = "href=\"" + duplicate.path + "\"";
        CHECK_THAT(anna.get("/inbox").body, !ContainsSubstring(link));
        CHECK_THAT(anna.get("/inbox?status=all").body, !ContainsSubstring(link));
        CHECK_THAT(anna.get("/inbox?status=closed").body, !ContainsSubstring(link));
        CHECK_THAT(anna.get("/inbox?status=all&merged=show").body, ContainsSubstring(link));
        CHECK_THAT(anna.get("/inbox?status=all&merged=show").body, ContainsSubstring("name=\"merged\" value=\"show\" checked"));
        CHECK_THAT(anna.get("/inbox").body, ContainsSubstring("href=\"" + primary.path + "\""));
    }

    SECTION("invalid merges are rejected with the reason")
    {
        const auto unconfirmed = merge(duplicate, primary.reference, false);
        CHECK(unconfirmed.status == 400);
        CHECK_THAT(unconfirmed.body, ContainsSubstring("Tick the box to confirm"));
        const auto itself = merge(duplicate, duplicate.reference);
        CHECK(itself.status == 400);
        CHECK_THAT(itself.body, ContainsSubstring("A report cannot be merged into itself."));
        const auto unknown = merge(duplicate, "MP-FFFFFFFF");
        CHECK(unknown.status == 400);
        CHECK_THAT(unknown.body, ContainsSubstring("No report has the reference &apos;MP-FFFFFFFF&apos;"));
        // The rejected merge sends the form back with the reference typed.
        CHECK_THAT(unknown.body, ContainsSubstring("value=\"MP-FFFFFFFF\""));
        CHECK(count(fixture, "SELECT count(*) FROM case_merges") == 0);

        REQUIRE(merge(duplicate, primary.reference).status == 303);
        const auto twice = merge(duplicate, other.reference);
        CHECK(twice.status == 400);
        CHECK_THAT(twice.body, ContainsSubstring("This report is merged into " + primary.reference + " already."));
        const auto intoDuplicate = merge(other, duplicate.reference);
        CHECK(intoDuplicate.status == 400);
        CHECK_THAT(intoDuplicate.body,
            ContainsSubstring(duplicate.reference + " is itself a duplicate of " + primary.reference));
        const auto primaryAway = merge(primary, other.reference);
        CHECK(primaryAway.status == 400);
        CHECK_THAT(primaryAway.body, ContainsSubstring("Other reports are merged into this one"));
        CHECK(count(fixture, "SELECT count(*) FROM case_merges") == 1);
        CHECK(count(fixture, "SELECT count(*) FROM reports WHERE status = 'closed'") == 1);
    }

    SECTION("a merged duplicate cannot be opened again")
    {
        REQUIRE(merge(duplicate, primary.reference).status == 303);
        const auto reopened = anna.post(duplicate.path + "/status", {{"status", "in_progress"}});
        CHECK(reopened.status == 400);
        CHECK_THAT(reopened.body, ContainsSubstring("so its status stays closed"));
        CHECK(count(fixture, "SELECT count(*) FROM reports WHERE status = 'closed'") == 1);
    }

    SECTION("deleting either report removes the merge row")
    {
        REQUIRE(merge(duplicate, primary.reference).status == 303);
        {
            std::lock_guard lock(fixture.mutex);
            storage::DeletedFiles files;
            storage::deleteReport(*fixture.db.database, primary.id, files);
        }
        CHECK(count(fixture, "SELECT count(*) FROM case_merges") == 0);
        const auto page = anna.get(duplicate.path);
        CHECK(page.status == 200);
        CHECK_THAT(page.body, !ContainsSubstring("This report is a duplicate."));
        CHECK_THAT(page.body, ContainsSubstring("Now: Closed (Duplicate of another report)"));
    }

    SECTION("audit entries name ids only")
    {
        REQUIRE(merge(duplicate, primary.reference).status == 303);
        REQUIRE(anna.post(other.path + "/links", {{"reference", primary.reference}}).status == 303);
        for (const auto& entry : fixture.auditEntries()) {
            INFO(entry.action << " " << entry.objectId);
            CHECK(entry.objectId.find("MP-") == std::string::npos);
        }
    }
}
