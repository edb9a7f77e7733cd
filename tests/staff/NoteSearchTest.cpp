// The inbox search over the staff's notes, beside the report text.

#include "ReportDeletion.h"
#include "StaffAppFixture.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

using namespace meldpunt;
using namespace meldpunt::staff;
using Catch::Matchers::ContainsSubstring;
using meldpunt::test::StaffAppFixture;
using meldpunt::test::StaffClient;

namespace {

std::int64_t count(StaffAppFixture& fixture, const std::string& sql)
{
    std::lock_guard lock(fixture.mutex);
    auto query = fixture.db.database->prepare(sql);
    query.step();
    return query.columnInt(0);
}

} // namespace

TEST_CASE("Inbox search covers notes", "[staff][search]")
{
    StaffAppFixture fixture("staff-note-search");
    const auto member = fixture.addMember("anna", Role::Caseworker);
    StaffClient anna(*fixture.app);
    fixture.logIn(anna, member);
    std::int64_t noted = 0;
    std::int64_t other = 0;
    {
        std::lock_guard lock(fixture.mutex);
        noted = fixture.db.addReport("seen near the ferry", "2026-12-01T09:00:00Z");
        other = fixture.db.addReport("seen near the ferry as well", "2026-12-01T10:00:00Z");
    }
    const std::string notedPath = "/cases/" + std::to_string(noted);
    const std::string otherLink = "href=\"/cases/" + std::to_string(other) + "\"";
    const std::string notedLink = "href=\"" + notedPath + "\"";
    anna.get(notedPath);
    REQUIRE(anna.post(notedPath + "/notes", {{"note", "The school in Kampen called back"}}).status == 303);

    SECTION("a word from a note finds its case")
    {
        const auto found = anna.get("/inbox?q=kampen");
        REQUIRE(found.status == 200);
        CHECK_THAT(found.body, ContainsSubstring(notedLink));
        CHECK_THAT(found.body, !ContainsSubstring(otherLink));
    }

    SECTION("every word must occur in the report or its notes")
    {
        const auto both = anna.get("/inbox?q=ferry+kampen");
        CHECK_THAT(both.body, ContainsSubstring(notedLink));
        CHECK_THAT(both.body, !ContainsSubstring(otherLink));
        const auto reportOnly = anna.get("/inbox?q=ferry");
        CHECK_THAT(reportOnly.body, ContainsSubstring(notedLink));
        CHECK_THAT(reportOnly.body, ContainsSubstring(otherLink));
        const auto missingWord = anna.get("/inbox?q=kampen+zwolle");
        CHECK_THAT(missingWord.body, !ContainsSubstring(notedLink));
        CHECK_THAT(missingWord.body, ContainsSubstring("No case matches."));
    }

    SECTION("operators in the search are searched for as text")
    {
        const auto response = anna.get("/inbox?q=kampen+OR+NEAR%28x%29+%22");
        CHECK(response.status == 200);
        CHECK_THAT(response.body, ContainsSubstring("No case matches."));
    }

    SECTION("secure-delete is on and a deleted report's notes leave the index")
    {
        CHECK(count(fixture, "SELECT v FROM note_search_config WHERE k = 'secure-delete'") == 1);
        CHECK(count(fixture, "SELECT count(*) FROM note_search WHERE note_search MATCH 'kampen'") == 1);
        {
            std::lock_guard lock(fixture.mutex);
            storage::DeletedFiles files;
            storage::deleteReport(*fixture.db.database, noted, files);
        }
        CHECK(count(fixture, "SELECT count(*) FROM note_search WHERE note_search MATCH 'kampen'") == 0);
        CHECK(count(fixture, "SELECT count(*) FROM note_search") == 0);
        CHECK(count(fixture, "SELECT count(*) FROM note_search_content WHERE c0 LIKE '%Kampen%'") == 0);
    }
}
