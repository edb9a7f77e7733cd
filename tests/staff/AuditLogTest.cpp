#include "AuditLog.h"
#include "StaffDatabase.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

using namespace meldpunt::staff;
using Catch::Matchers::ContainsSubstring;
using meldpunt::storage::DatabaseError;
using meldpunt::test::StaffDatabase;

namespace {

void recordFive(AuditLog& log, StaffDatabase& fixture)
{
    const Actor anna{1, "anna", "192.0.2.10"};
    for (int index = 1; index <= 5; ++index) {
        log.record(anna, "case.view", "case", std::to_string(index));
        fixture.advance(std::chrono::hours(24));
    }
}

// An attacker with the database key could drop the triggers and edit rows;
// the chain still shows it.
void dropTriggers(StaffDatabase& fixture)
{
    fixture.database->exec("DROP TRIGGER audit_log_no_update");
    fixture.database->exec("DROP TRIGGER audit_log_prune_only");
}

} // namespace

TEST_CASE("Audit log hash chain", "[audit]")
{
    StaffDatabase fixture("audit-chain");
    AuditLog log(*fixture.database, fixture.clock());
    recordFive(log, fixture);

    SECTION("an untouched log verifies")
    {
        const auto result = log.verify();
        CHECK(result.intact);
        CHECK(result.entriesChecked == 5);
        CHECK(result.firstBrokenId == 0);
    }

    SECTION("entries hold who, what, when and from where")
    {
        const auto entries = log.allEntries();
        REQUIRE(entries.size() == 5);
        CHECK(entries[0].username == "anna");
        CHECK(entries[0].address == "192.0.2.10");
        CHECK(entries[0].action == "case.view");
        CHECK(entries[0].objectId == "1");
        CHECK(entries[0].at == "2026-12-02T10:00:00Z");
    }

    SECTION("the database rejects changing an entry")
    {
        CHECK_THROWS_AS(fixture.database->exec("UPDATE audit_log SET action = 'x' WHERE id = 2"), DatabaseError);
    }

    SECTION("the database rejects deleting an entry without a checkpoint")
    {
        CHECK_THROWS_AS(fixture.database->exec("DELETE FROM audit_log WHERE id = 2"), DatabaseError);
    }

    SECTION("a changed object id is found at its entry")
    {
        dropTriggers(fixture);
        fixture.database->exec("UPDATE audit_log SET object_id = '99' WHERE id = 3");
        const auto result = log.verify();
        CHECK_FALSE(result.intact);
        CHECK(result.firstBrokenId == 3);
        CHECK_THAT(result.problem, ContainsSubstring("does not match its hash"));
    }

    SECTION("a changed address is found at its entry")
    {
        dropTriggers(fixture);
        fixture.database->exec("UPDATE audit_log SET address = '192.0.2.99' WHERE id = 4");
        CHECK(log.verify().firstBrokenId == 4);
    }

    SECTION("an entry whose hash was recomputed breaks the next link")
    {
        dropTriggers(fixture);
        fixture.database->exec("UPDATE audit_log SET hash = zeroblob(32) WHERE id = 2");
        const auto result = log.verify();
        CHECK_FALSE(result.intact);
        CHECK(result.firstBrokenId == 2);
    }

    SECTION("a removed entry is found where the gap is")
    {
        dropTriggers(fixture);
        fixture.database->exec("DELETE FROM audit_log WHERE id = 3");
        const auto result = log.verify();
        CHECK_FALSE(result.intact);
        CHECK(result.firstBrokenId == 4);
        CHECK_THAT(result.problem, ContainsSubstring("entry 3 is missing"));
    }

    SECTION("a removed newest entry cannot be hidden from the next one")
    {
        dropTriggers(fixture);
        fixture.database->exec("DELETE FROM audit_log WHERE id = 5");
        log.record({1, "anna", "192.0.2.10"}, "case.view", "case", "6");
        CHECK(log.verify().intact);
        // The new entry takes the id after the last one left. So a removal of
        // the newest entries shows only as fewer entries, and the journal's
        // security events are the independent record of logins.
        CHECK(log.allEntries().back().id == 5);
    }
}

TEST_CASE("Audit log pruning", "[audit]")
{
    StaffDatabase fixture("audit-prune");
    AuditLog log(*fixture.database, fixture.clock());
    recordFive(log, fixture);

    SECTION("pruning keeps a checkpoint and the rest still verifies")
    {
        const auto deleted = log.pruneBefore(parseUtc("2026-12-04T12:00:00Z"));
        CHECK(deleted == 3);
        const auto entries = log.allEntries();
        REQUIRE(entries.size() == 2);
        CHECK(entries.front().id == 4);
        const auto result = log.verify();
        CHECK(result.intact);
        CHECK(result.entriesChecked == 2);
    }

    SECTION("entries recorded after pruning continue the chain")
    {
        log.pruneBefore(parseUtc("2026-12-10T00:00:00Z"));
        CHECK(log.allEntries().empty());
        log.record({1, "anna", "192.0.2.10"}, "login", "account", "1");
        CHECK(log.allEntries().front().id == 6);
        CHECK(log.verify().intact);
    }

    SECTION("a tampered entry after a checkpoint is still found")
    {
        log.pruneBefore(parseUtc("2026-12-04T12:00:00Z"));
        dropTriggers(fixture);
        fixture.database->exec("UPDATE audit_log SET action = 'case.edit' WHERE id = 4");
        CHECK(log.verify().firstBrokenId == 4);
    }

    SECTION("a tampered checkpoint breaks the first entry after it")
    {
        log.pruneBefore(parseUtc("2026-12-04T12:00:00Z"));
        fixture.database->exec("UPDATE audit_checkpoints SET last_entry_hash = zeroblob(32)");
        CHECK(log.verify().firstBrokenId == 4);
    }
}

TEST_CASE("Audit log export", "[audit]")
{
    StaffDatabase fixture("audit-export");
    AuditLog log(*fixture.database, fixture.clock());

    SECTION("the CSV has a header and one quoted line per entry")
    {
        log.record({2, "bob", "192.0.2.11"}, "login", "account", "2");
        log.record({2, "bob", "192.0.2.11"}, "case.view", "case", "7");
        const std::string csv = log.exportCsv();
        CHECK(csv == "id,at,account_id,username,address,action,object_type,object_id\r\n"
                     "1,\"2026-12-02T10:00:00Z\",2,\"bob\",\"192.0.2.11\",\"login\",\"account\",\"2\"\r\n"
                     "2,\"2026-12-02T10:00:00Z\",2,\"bob\",\"192.0.2.11\",\"case.view\",\"case\",\"7\"\r\n");
    }
}
