#include "Migrations.h"
#include "Process.h"

#include "Crypto.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

using Catch::Matchers::ContainsSubstring;
using meldpunt::storage::Database;
using meldpunt::storage::DatabaseError;
using meldpunt::storage::migrate;
using meldpunt::storage::migrations;
using meldpunt::storage::OpenMode;
using meldpunt::storage::schemaVersion;
using meldpunt::test::ScratchFolder;

namespace crypto = meldpunt::crypto;
namespace fs = std::filesystem;

namespace {

std::set<std::string> tableNames(Database& database)
{
    std::set<std::string> names;
    auto query = database.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
    while (query.step())
        names.insert(query.columnText(0));
    return names;
}

std::vector<std::uint8_t> uuidBytes(std::uint8_t fill)
{
    return std::vector<std::uint8_t>(16, fill);
}

void insertSpoolEntry(Database& database, const std::vector<std::uint8_t>& uuid)
{
    database.prepare("INSERT INTO spool_entries (entry_uuid, kind, ingested_at) VALUES (?, 1, 't')")
        .bind(1, uuid)
        .run();
}

// Inserts a report row with every mandatory column filled in.
void insertReport(Database& database, const std::vector<std::uint8_t>& uuid, const std::string& reference,
    const std::string& status)
{
    database
        .prepare("INSERT INTO reports (entry_uuid, reference, received_at, ingested_at, language, channel, "
                 "category, country, place, occurred, what, anonymous, consent, status) "
                 "VALUES (?, ?, 't', 't', 'nl', 'form', 'not_sure', 'NL', '', '', 'x', 1, 1, ?)")
        .bind(1, uuid)
        .bind(2, reference)
        .bind(3, status)
        .run();
}

DatabaseError::Kind failureKind(const std::function<void()>& work)
{
    try {
        work();
    } catch (const DatabaseError& error) {
        return error.kind();
    }
    FAIL("the statement succeeded");
    return DatabaseError::Kind::Other;
}

} // namespace

TEST_CASE("Migrations build the newest schema", "[migrations]")
{
    ScratchFolder scratch("migrations-schema");
    Database database(scratch.path() / "meldpunt.db", crypto::randomBytes(32), OpenMode::CreateNew);
    const int newest = migrations().back().version;

    SECTION("The migrations are numbered from 1 without gaps")
    {
        int expected = 1;
        for (const auto& migration : migrations()) {
            CHECK(migration.version == expected++);
            CHECK_FALSE(migration.name.empty());
        }
    }

    SECTION("An empty database migrates to the newest version")
    {
        CHECK(schemaVersion(database) == 0);
        CHECK(migrate(database) == static_cast<int>(migrations().size()));
        CHECK(schemaVersion(database) == newest);
        // FTS5 keeps the search index in shadow tables named after it.
        const std::set<std::string> expected = {"meta", "intake_keys", "spool_entries", "reports",
            "key_events", "complaints", "visit_counts", "report_details", "receipts",
            "reporter_messages", "email_outbox", "report_keys", "attachments", "staff_accounts",
            "staff_sessions", "staff_recovery_codes", "staff_setup_codes", "audit_log",
            "audit_checkpoints", "case_notes", "case_state", "report_search", "report_search_config",
            "report_search_content", "report_search_data", "report_search_docsize",
            "report_search_idx", "partners", "referrals", "referral_files", "referral_receipts",
            "referral_outcomes", "referral_alerts", "statistics_reports", "statistics_annual_texts", "site_settings",
            "site_texts", "site_categories", "site_category_labels", "protocol_steps", "case_protocol_ticks",
            "staff_notices_sent", "report_links", "case_merges", "note_search", "note_search_config",
            "note_search_content", "note_search_data", "note_search_docsize", "note_search_idx"};
        CHECK(tableNames(database) == expected);
    }

    SECTION("Running the migrations again applies nothing")
    {
        migrate(database);
        CHECK(migrate(database) == 0);
        CHECK(schemaVersion(database) == newest);
    }

    SECTION("A database from a newer release is rejected with both versions named")
    {
        const int future = newest + 41;
        database.exec("PRAGMA user_version = " + std::to_string(future));
        try {
            migrate(database);
            FAIL("a newer schema was accepted");
        } catch (const DatabaseError& error) {
            CHECK_THAT(error.what(), ContainsSubstring(std::to_string(future)));
            CHECK_THAT(error.what(), ContainsSubstring("(" + std::to_string(newest) + ")"));
        }
        CHECK(schemaVersion(database) == future);
        CHECK(tableNames(database).empty());
    }
}

TEST_CASE("Migration 1 constrains reports", "[migrations]")
{
    ScratchFolder scratch("migrations-reports");
    Database database(scratch.path() / "meldpunt.db", crypto::randomBytes(32), OpenMode::CreateNew);
    migrate(database);
    insertSpoolEntry(database, uuidBytes(1));
    insertSpoolEntry(database, uuidBytes(2));

    SECTION("Every listed status is accepted")
    {
        std::uint8_t fill = 10;
        for (const char* status : {"new", "acknowledged", "in_progress", "referred", "closed"}) {
            insertSpoolEntry(database, uuidBytes(fill));
            insertReport(database, uuidBytes(fill), std::string("R-") + status, status);
            ++fill;
        }
        auto count = database.prepare("SELECT count(*) FROM reports");
        REQUIRE(count.step());
        CHECK(count.columnInt(0) == 5);
    }

    SECTION("A status outside the list is rejected")
    {
        for (const char* status : {"deleted", "NEW", ""}) {
            INFO(status);
            CHECK(failureKind([&] { insertReport(database, uuidBytes(1), "R-1", status); })
                == DatabaseError::Kind::Constraint);
        }
    }

    SECTION("A new report has the status new")
    {
        database
            .prepare("INSERT INTO reports (entry_uuid, reference, received_at, ingested_at, language, channel, "
                     "category, country, place, occurred, what, anonymous, consent) "
                     "VALUES (?, 'R-1', 't', 't', 'nl', 'form', 'not_sure', 'NL', '', '', 'x', 1, 1)")
            .bind(1, uuidBytes(1))
            .run();
        auto query = database.prepare("SELECT status FROM reports");
        REQUIRE(query.step());
        CHECK(query.columnText(0) == "new");
    }

    SECTION("A duplicate entry UUID is rejected")
    {
        insertReport(database, uuidBytes(1), "R-1", "new");
        CHECK(failureKind([&] { insertReport(database, uuidBytes(1), "R-2", "new"); })
            == DatabaseError::Kind::Constraint);
    }

    SECTION("A duplicate reference is rejected")
    {
        insertReport(database, uuidBytes(1), "R-1", "new");
        CHECK(failureKind([&] { insertReport(database, uuidBytes(2), "R-1", "new"); })
            == DatabaseError::Kind::Constraint);
    }

    SECTION("A report without a spool entry is rejected")
    {
        CHECK(failureKind([&] { insertReport(database, uuidBytes(9), "R-9", "new"); })
            == DatabaseError::Kind::Constraint);
    }

    SECTION("A duplicate spool entry is rejected")
    {
        CHECK(failureKind([&] { insertSpoolEntry(database, uuidBytes(1)); }) == DatabaseError::Kind::Constraint);
    }

    SECTION("Key and UUID lengths are checked")
    {
        CHECK(failureKind([&] { insertSpoolEntry(database, std::vector<std::uint8_t>(15, 3)); })
            == DatabaseError::Kind::Constraint);
        CHECK(failureKind([&] {
            database.prepare("INSERT INTO intake_keys (id, public_key, private_key, created_at) VALUES (?, ?, ?, 't')")
                .bind(1, std::vector<std::uint8_t>(16, 1))
                .bind(2, std::vector<std::uint8_t>(31, 2))
                .bind(3, std::vector<std::uint8_t>(32, 3))
                .run();
        }) == DatabaseError::Kind::Constraint);
    }
}

TEST_CASE("Migration 2 records key events", "[migrations]")
{
    ScratchFolder scratch("migrations-key-events");
    Database database(scratch.path() / "meldpunt.db", crypto::randomBytes(32), OpenMode::CreateNew);

    SECTION("a database at version 1 gains the table and keeps its rows")
    {
        database.exec(migrations().front().sql);
        database.exec("PRAGMA user_version = 1");
        insertSpoolEntry(database, uuidBytes(1));
        insertReport(database, uuidBytes(1), "R-1", "new");
        CHECK(migrate(database) == static_cast<int>(migrations().size()) - 1);
        CHECK(tableNames(database).count("key_events") == 1);
        auto count = database.prepare("SELECT count(*) FROM reports");
        REQUIRE(count.step());
        CHECK(count.columnInt(0) == 1);
    }
    SECTION("only the listed events are accepted")
    {
        migrate(database);
        for (const char* event : {"created", "recovered", "rotated", "backup_written", "restored", "recovery_key_replaced"})
            database.prepare("INSERT INTO key_events (at, event) VALUES ('t', ?)").bind(1, std::string(event)).run();
        CHECK(failureKind([&] {
            database.prepare("INSERT INTO key_events (at, event) VALUES ('t', 'unsealed with a guess')").run();
        }) == DatabaseError::Kind::Constraint);
    }
}

TEST_CASE("Migration 3 stores complaints", "[migrations]")
{
    ScratchFolder scratch("migrations-complaints");
    Database database(scratch.path() / "meldpunt.db", crypto::randomBytes(32), OpenMode::CreateNew);
    migrate(database);
    insertSpoolEntry(database, uuidBytes(7));
    auto insert = [&](const std::string& status) {
        database.prepare("INSERT INTO complaints (entry_uuid, received_at, language, message, email, status) "
                         "VALUES (?, 't', 'en', 'slow answer', '', ?)")
            .bind(1, uuidBytes(7))
            .bind(2, status)
            .run();
    };
    CHECK(failureKind([&] { insert("lost"); }) == DatabaseError::Kind::Constraint);
    insert("new");
    CHECK(failureKind([&] { insert("new"); }) == DatabaseError::Kind::Constraint);
}

TEST_CASE("Migration 4 keeps visit counts by day", "[migrations]")
{
    ScratchFolder scratch("migrations-visits");
    Database database(scratch.path() / "meldpunt.db", crypto::randomBytes(32), OpenMode::CreateNew);
    migrate(database);
    auto add = [&](const std::string& day, std::int64_t count) {
        database.prepare("INSERT INTO visit_counts (day, page, language, count) VALUES (?, 'home', 'nl', ?) "
                         "ON CONFLICT (day, page, language) DO UPDATE SET count = count + excluded.count")
            .bind(1, day)
            .bind(2, count)
            .run();
    };
    add("2026-12-04", 2);
    add("2026-12-04", 3);
    auto total = database.prepare("SELECT count FROM visit_counts");
    REQUIRE(total.step());
    CHECK(total.columnInt(0) == 5);
    CHECK(failureKind([&] { add("2026-12-04T10:00", 1); }) == DatabaseError::Kind::Constraint);
    CHECK(failureKind([&] { add("2026-12-04", -1); }) == DatabaseError::Kind::Constraint);
}
