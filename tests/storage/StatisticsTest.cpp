// The anonymised statistics records: written at ingestion and at manual
// intake, updated by the case's course, free of free text, and kept when
// the report goes.

#include "SiteContent.h"
#include "Statistics.h"
#include "CaseQueries.h"
#include "Ingester.h"
#include "Migrations.h"
#include "Process.h"

#include "ReportForm.h"
#include "Spool.h"
#include "Uuid.h"

#include <catch2/catch_test_macros.hpp>

#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

using meldpunt::FormData;
using meldpunt::ReportForm;
using meldpunt::Uuid;
using meldpunt::storage::Database;
using meldpunt::storage::IntakeKeys;
using meldpunt::storage::OpenMode;
using meldpunt::test::ScratchFolder;

namespace crypto = meldpunt::crypto;
namespace spool = meldpunt::spool;
namespace staff = meldpunt::staff;
namespace storage = meldpunt::storage;
namespace fs = std::filesystem;

namespace {

// Every free-text field of the report form, each of which gets its own
// marker, so that a marker found in a statistics table names its source.
const std::vector<std::string> kFreeTextFields = { "what", "why_suspicious", "city", "place",
    "urls", "when", "suspect_description", "suspect_language", "child_description",
    "child_language", "action_taken", "remarks", "name", "email", "phone" };

std::string markerFor(const std::string& field) { return "ZQXMARK-" + field; }

FormData markedReport(const std::string& reporterAge = "50_64", const std::string& foundVia = "campaign",
    const std::string& category = "travel_tourism")
{
    FormData form;
    for (const auto& field : kFreeTextFields)
        form.add(field, markerFor(field));
    form.add("country", "TH");
    form.add("category", category);
    form.add("venue_type", "hotel");
    form.add("suspect_age", "30_49");
    form.add("suspect_gender", "male");
    form.add("child_age", "12_15");
    form.add("child_gender", "female");
    form.add("reporter_age", reporterAge);
    form.add("reporter_gender", "female");
    form.add("found_via", foundVia);
    form.add("contact", "contact");
    form.add("consent", "yes");
    return form;
}

struct StatisticsBench {
    ScratchFolder scratch { "statistics" };
    fs::path spoolFolder = scratch.path() / "spool";
    fs::path quarantineFolder = scratch.path() / "quarantine";
    std::optional<Database> database;
    std::mutex databaseMutex;
    spool::IntakePublicKey intakeKey;
    staff::TimePoint now = staff::parseUtc("2026-07-14T17:00:00Z");

    StatisticsBench()
    {
        fs::create_directory(spoolFolder);
        fs::create_directory(quarantineFolder);
        database.emplace(
            scratch.path() / "meldpunt.db", crypto::randomBytes(32), OpenMode::CreateNew);
        storage::migrate(*database);
        intakeKey = IntakeKeys(*database).ensureCurrent("2026-01-01T00:00:00Z");
    }

    // Ingests a report with the form's fields and, when `attachment` is not
    // empty, one attachment whose name is that text.
    std::int64_t ingest(const FormData& form, const std::string& attachment = {})
    {
        spool::Writer writer(spoolFolder, spool::EntryKind::Report, Uuid::generate(), intakeKey,
            spool::kMinChunkSize);
        writer.writeRecord(spool::RecordType::Fields,
            crypto::asBytes(ReportForm::toJson(form, "nl", "2026-07-14T16:30:00Z")));
        if (!attachment.empty()) {
            const std::string content = "not really a JPEG";
            crypto::Sha256 hash;
            hash.update(crypto::asBytes(content));
            const std::string size = std::to_string(content.size());
            writer.writeRecord(spool::RecordType::AttachmentBegin,
                crypto::asBytes("{\"schema\":1,\"name\":\"" + attachment
                    + "\",\"type\":\"image/jpeg\",\"size\":" + size
                    + ",\"uploaded_at\":\"2026-07-14T16:29:00Z\"}"));
            writer.writeRecord(spool::RecordType::AttachmentData, crypto::asBytes(content));
            writer.writeRecord(spool::RecordType::AttachmentEnd,
                crypto::asBytes(
                    "{\"size\":" + size + ",\"sha256\":\"" + crypto::toHex(hash.finish()) + "\"}"));
        }
        writer.commit();
        storage::Ingester ingester(*database, databaseMutex, spoolFolder, quarantineFolder);
        REQUIRE(ingester.runOnce().ingested == 1);
        auto id = database->prepare("SELECT max(id) FROM reports");
        REQUIRE(id.step());
        return id.columnInt(0);
    }

    staff::CaseQueries cases()
    {
        return staff::CaseQueries(*database, [this] { return now; });
    }

    std::string text(const std::string& sql)
    {
        auto query = database->prepare(sql);
        REQUIRE(query.step());
        return query.columnText(0);
    }

    std::int64_t number(const std::string& sql)
    {
        auto query = database->prepare(sql);
        REQUIRE(query.step());
        return query.columnInt(0);
    }

    // Every value in every table whose name starts with "statistics", as text.
    std::vector<std::string> statisticsValues()
    {
        std::vector<std::string> values;
        auto tables = database->prepare("SELECT name FROM sqlite_schema WHERE type "
                                        "= 'table' AND name LIKE 'statistics%'");
        while (tables.step()) {
            const std::string table = tables.columnText(0);
            auto columns = database->prepare("SELECT name FROM pragma_table_info('" + table + "')");
            while (columns.step()) {
                auto rows = database->prepare(
                    "SELECT CAST(\"" + columns.columnText(0) + "\" AS TEXT) FROM " + table);
                while (rows.step())
                    values.push_back(rows.columnIsNull(0) ? std::string() : rows.columnText(0));
            }
        }
        return values;
    }
};

} // namespace

TEST_CASE("Statistics record of an ingested report", "[statistics]")
{
    StatisticsBench bench;
    const std::int64_t report = bench.ingest(markedReport());
    const std::string where = " FROM statistics_reports WHERE id = (SELECT "
                              "statistics_id FROM reports WHERE id = "
        + std::to_string(report) + ")";

    SECTION("ingestion writes the record with the day and the chosen options")
    {
        CHECK(bench.number("SELECT count(*) FROM statistics_reports") == 1);
        CHECK(bench.text("SELECT received_day" + where) == "2026-07-14");
        CHECK(bench.text("SELECT channel" + where) == "form");
        CHECK(bench.text("SELECT category" + where) == "travel_tourism");
        CHECK(bench.text("SELECT country" + where) == "TH");
        CHECK(bench.text("SELECT reporter_age" + where) == "50_64");
        CHECK(bench.text("SELECT reporter_gender" + where) == "female");
        CHECK(bench.text("SELECT found_via" + where) == "campaign");
        CHECK(bench.text("SELECT child_age" + where) == "12_15");
        CHECK(bench.number("SELECT anonymous" + where) == 0);
        CHECK(bench.text("SELECT acknowledgement" + where) == "pending");
        CHECK(bench.text("SELECT closed_outcome" + where).empty());
    }

    SECTION("acknowledging in time and closing update the record")
    {
        auto cases = bench.cases();
        const auto deadline = staff::parseUtc("2026-07-15T17:00:00Z");
        cases.setStatus(report, "acknowledged", "", deadline);
        CHECK(bench.text("SELECT acknowledgement" + where) == "in_time");
        bench.now = staff::parseUtc("2026-08-01T09:00:00Z");
        cases.setStatus(report, "closed", "advice_given", deadline);
        CHECK(bench.text("SELECT closed_outcome" + where) == "advice_given");
        // The first acknowledgement counts; later status changes keep it.
        CHECK(bench.text("SELECT acknowledgement" + where) == "in_time");
    }

    SECTION("an acknowledgement after the deadline is recorded as late")
    {
        bench.now = staff::parseUtc("2026-07-20T09:00:00Z");
        bench.cases().setStatus(report, "in_progress", "", staff::parseUtc("2026-07-15T17:00:00Z"));
        CHECK(bench.text("SELECT acknowledgement" + where) == "late");
    }

    SECTION("a referral and its outcome update the record")
    {
        bench.database->exec("INSERT INTO partners (id, name, kind, countries, endpoint, "
                             "server_trust_pem, "
                             "client_certificate_pem, client_key_pem, encryption_certificate_pem, "
                             "receipt_certificate_pem, outcome_certificate_sha256, imported_at) "
                             "VALUES (1, 'Police', "
                             "'police', 'TH', 'https://127.0.0.1/', '', '', '', '', '', '"
            + std::string(64, 'a') + "', '2026-01-01T00:00:00Z')");
        bench.database
            ->prepare("INSERT INTO referrals (id, uuid, report_id, partner_id, "
                      "state, manifest_sha256, "
                      "created_at) VALUES (7, 'u-7', ?, 1, 'delivered', ?, "
                      "'2026-07-16T10:00:00Z')")
            .bind(1, report)
            .bind(2, std::string(64, 'b'))
            .run();
        storage::recordReferral(*bench.database, report, storage::PartnerKind::Police);
        storage::recordReferralOutcome(*bench.database, 7, "investigation_opened");
        CHECK(bench.number("SELECT referred_police" + where) == 1);
        CHECK(bench.number("SELECT referred_hotline" + where) == 0);
        CHECK(bench.text("SELECT referral_outcome" + where) == "investigation_opened");
    }

    SECTION("no statistics table holds any free text of the report")
    {
        auto cases = bench.cases();
        bench.database->exec("INSERT INTO staff_accounts (id, username, role, password_hash, "
                             "created_at) "
                             "VALUES (1, 'anna', 'caseworker', 'x', '2026-01-01T00:00:00Z')");
        cases.addNote(report, 1, markerFor("note"));
        cases.setStatus(report, "closed", "duplicate", staff::parseUtc("2026-07-15T17:00:00Z"));
        // The report's own row contains the markers, so the search can find them.
        CHECK(bench.number("SELECT count(*) FROM reports WHERE what = '" + markerFor("what") + "'")
            == 1);
        const auto values = bench.statisticsValues();
        REQUIRE_FALSE(values.empty());
        for (const auto& value : values) {
            INFO(value);
            CHECK(value.find("ZQXMARK") == std::string::npos);
        }
    }

    SECTION("deleting the report keeps the record and leaves no link to it")
    {
        const std::string recordId = bench.text(
            "SELECT hex(statistics_id) FROM reports WHERE id = " + std::to_string(report));
        bench.database->exec(
            "DELETE FROM case_state; DELETE FROM reports WHERE id = " + std::to_string(report));
        CHECK(bench.number("SELECT count(*) FROM statistics_reports") == 1);
        CHECK(bench.number(
                  "SELECT count(*) FROM statistics_reports WHERE hex(id) = '" + recordId + "'")
            == 1);
        CHECK(bench.number(
                  "SELECT count(*) FROM reports WHERE hex(statistics_id) = '" + recordId + "'")
            == 0);
        // The record names no report: it has no column for a report's id,
        // reference or time, only these.
        const std::set<std::string> expected = { "id", "received_day", "channel", "category",
            "country", "reporter_age", "reporter_gender", "found_via", "suspect_age",
            "suspect_gender", "child_age", "child_gender", "anonymous", "with_attachments",
            "acknowledgement", "referred_police", "referred_hotline", "referred_other",
            "referral_outcome", "closed_outcome" };
        std::set<std::string> columns;
        auto names
            = bench.database->prepare("SELECT name FROM pragma_table_info('statistics_reports')");
        while (names.step())
            columns.insert(names.columnText(0));
        CHECK(columns == expected);
        // Updates for the deleted case find no record and change nothing.
        storage::recordClosing(*bench.database, report, "duplicate");
        CHECK(bench.text("SELECT closed_outcome FROM statistics_reports").empty());
    }
}

TEST_CASE("Statistics record of a hostile or manual report", "[statistics]")
{
    StatisticsBench bench;

    SECTION("an attachment is recorded as such, without its name")
    {
        bench.ingest(markedReport(), markerFor("attachment-name") + ".jpg");
        CHECK(bench.number("SELECT count(*) FROM attachments") == 1);
        CHECK(bench.number("SELECT with_attachments FROM statistics_reports") == 1);
        for (const auto& value : bench.statisticsValues())
            CHECK(value.find("ZQXMARK") == std::string::npos);
    }

    SECTION("values that are not the form's options are stored as not answered")
    {
        bench.ingest(markedReport(markerFor("reporter_age"), markerFor("found_via")));
        CHECK(bench.text("SELECT reporter_age FROM statistics_reports").empty());
        CHECK(bench.text("SELECT found_via FROM statistics_reports").empty());
        for (const auto& value : bench.statisticsValues())
            CHECK(value.find("ZQXMARK") == std::string::npos);
    }

    SECTION("a category a coordinator added is recorded under its code")
    {
        storage::addCategory(*bench.database, "grooming_online", {{"en", "Online grooming"}}, "2026-07-01T00:00:00Z");
        bench.ingest(markedReport("50_64", "campaign", "grooming_online"));
        CHECK(bench.text("SELECT category FROM statistics_reports") == "grooming_online");
    }

    SECTION("manual intake writes a record without the typed text")
    {
        staff::ManualReport manual;
        manual.channel = "phone";
        manual.language = "en";
        manual.category = markerFor("category");
        manual.country = "nl";
        manual.place = markerFor("place");
        manual.occurred = markerFor("occurred");
        manual.what = markerFor("what");
        manual.contactName = markerFor("contact_name");
        const std::int64_t id = bench.cases().addManualReport(manual);
        CHECK(bench.number("SELECT count(*) FROM statistics_reports WHERE id = "
                           "(SELECT statistics_id FROM reports "
                           "WHERE id = "
                  + std::to_string(id) + ")")
            == 1);
        CHECK(bench.text("SELECT channel FROM statistics_reports") == "phone");
        CHECK(bench.text("SELECT country FROM statistics_reports") == "NL");
        CHECK(bench.text("SELECT category FROM statistics_reports").empty());
        CHECK(bench.text("SELECT received_day FROM statistics_reports") == "2026-07-14");
        for (const auto& value : bench.statisticsValues())
            CHECK(value.find("ZQXMARK") == std::string::npos);
    }
}

TEST_CASE("Statistics records for reports stored earlier", "[statistics]")
{
    ScratchFolder scratch("statistics-upgrade");
    Database database(scratch.path() / "meldpunt.db", crypto::randomBytes(32), OpenMode::CreateNew);
    // The schema as the release before the statistics records left it.
    for (const auto& migration : storage::migrations()) {
        if (migration.name.find("statistics") != std::string::npos)
            break;
        database.exec(migration.sql);
        database.exec("PRAGMA user_version = " + std::to_string(migration.version));
    }
    database.exec(
        "INSERT INTO spool_entries (entry_uuid, kind, ingested_at) VALUES "
        "(randomblob(16), 1, '2026-03-01T10:00:00Z'), (randomblob(16), 1, '2026-04-01T10:00:00Z');"
        "INSERT INTO reports (entry_uuid, reference, received_at, ingested_at, language, channel, "
        "category, country, place, occurred, what, anonymous, consent, status) "
        "SELECT entry_uuid, 'R-' || rowid, ingested_at, ingested_at, 'en', "
        "CASE rowid WHEN 1 THEN 'form' ELSE 'phone' END, "
        "CASE rowid WHEN 1 THEN 'online_material' ELSE 'ZQXMARK-category' END, "
        "CASE rowid WHEN 1 THEN 'nl' ELSE 'ZQXMARK-country' END, 'ZQXMARK-place', 'ZQXMARK-when', "
        "'ZQXMARK-what', 1, 1, CASE rowid WHEN 1 THEN 'closed' ELSE 'new' END FROM spool_entries;"
        "INSERT INTO report_details (report_id, why_suspicious, city, venue_type, urls, "
        "suspect_count, suspect_age, suspect_gender, suspect_description, suspect_language, "
        "child_count, child_age, child_gender, child_description, child_language, action_taken, "
        "remarks, reporter_age, reporter_gender, found_via) VALUES (1, 'ZQXMARK-why', "
        "'ZQXMARK-city', 'hotel', 'ZQXMARK-urls', 'one', '30_49', 'male', 'ZQXMARK-suspect', "
        "'ZQXMARK-language', 'one', '6_11', 'female', 'ZQXMARK-child', 'ZQXMARK-language', "
        "'ZQXMARK-action', 'ZQXMARK-remarks', '18_29', 'ZQXMARK-gender', 'news');"
        "INSERT INTO case_state (report_id, outcome, acknowledged_at, updated_at) VALUES "
        "(1, 'advice_given', '2026-03-02T10:00:00Z', '2026-03-05T10:00:00Z');");

    CHECK(storage::migrate(database) >= 1);

    auto count = database.prepare("SELECT count(*) FROM statistics_reports s JOIN reports r ON "
                                  "r.statistics_id = s.id");
    REQUIRE(count.step());
    CHECK(count.columnInt(0) == 2);
    auto first = database.prepare(
        "SELECT s.received_day, s.channel, s.category, s.country, s.reporter_age, "
        "s.reporter_gender, s.found_via, s.acknowledgement, s.closed_outcome FROM "
        "statistics_reports s JOIN reports r ON r.statistics_id = s.id WHERE r.id = 1");
    REQUIRE(first.step());
    CHECK(first.columnText(0) == "2026-03-01");
    CHECK(first.columnText(1) == "form");
    CHECK(first.columnText(2) == "online_material");
    CHECK(first.columnText(3) == "NL");
    CHECK(first.columnText(4) == "18_29");
    CHECK(first.columnText(5).empty());
    CHECK(first.columnText(6) == "news");
    // Whether the deadline was kept was not recorded then.
    CHECK(first.columnText(7) == "unknown");
    CHECK(first.columnText(8) == "advice_given");
    auto second = database.prepare(
        "SELECT s.channel, s.category, s.country, s.acknowledgement FROM statistics_reports s "
        "JOIN reports r ON r.statistics_id = s.id WHERE r.id = 2");
    REQUIRE(second.step());
    CHECK(second.columnText(0) == "phone");
    CHECK(second.columnText(1).empty());
    CHECK(second.columnText(2).empty());
    CHECK(second.columnText(3) == "pending");

    auto values = database.prepare(
        "SELECT count(*) FROM statistics_reports WHERE instr(received_day || channel || category "
        "|| country || reporter_age || reporter_gender || found_via || suspect_age || "
        "suspect_gender || child_age || child_gender || closed_outcome, 'ZQXMARK') > 0");
    REQUIRE(values.step());
    CHECK(values.columnInt(0) == 0);
}
