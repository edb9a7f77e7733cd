#include "RetentionFixture.h"

#include "AuditLog.h"
#include "CaseQueries.h"
#include "ChunkedFile.h"
#include "Crypto.h"
#include "IntakeKeys.h"
#include "KeyRotation.h"
#include "MailOutbox.h"
#include "Receipts.h"
#include "Uuid.h"

#include <catch2/catch_test_macros.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>

using meldpunt::test::Bytes;
using meldpunt::test::RetentionBench;

namespace crypto = meldpunt::crypto;
namespace spool = meldpunt::spool;
namespace staff = meldpunt::staff;
namespace storage = meldpunt::storage;
namespace fs = std::filesystem;

namespace {

Bytes readBytes(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool containsExactly(const Bytes& haystack, const std::string& needle)
{
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) != haystack.end();
}

// The text as typed, or as the search index keeps it (in lower case).
bool contains(const Bytes& haystack, const std::string& needle)
{
    std::string lower = needle;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) {
        return static_cast<char>(std::tolower(c));
    });
    return containsExactly(haystack, needle) || containsExactly(haystack, lower);
}

// SQLCipher 4 with its defaults: 4096-byte pages, each ending in 80
// reserved bytes (a 16-byte IV, then a 64-byte HMAC-SHA512); AES-256-CBC
// under the raw key. The first 16 bytes of page 1 are the salt.
constexpr std::size_t kPageSize = 4096;
constexpr std::size_t kReserve = 80;

Bytes decryptPage(const Bytes& key, const std::uint8_t* page, std::uint32_t pageNumber)
{
    const std::size_t offset = pageNumber == 1 ? 16 : 0;
    const std::uint8_t* iv = page + kPageSize - kReserve;
    Bytes plain(kPageSize, 0);
    EVP_CIPHER_CTX* context = EVP_CIPHER_CTX_new();
    REQUIRE(context != nullptr);
    int written = 0;
    int last = 0;
    const bool ok = EVP_DecryptInit_ex(context, EVP_aes_256_cbc(), nullptr, key.data(), iv) == 1
        && EVP_CIPHER_CTX_set_padding(context, 0) == 1
        && EVP_DecryptUpdate(context, plain.data() + offset, &written, page + offset,
               static_cast<int>(kPageSize - kReserve - offset))
            == 1
        && EVP_DecryptFinal_ex(context, plain.data() + offset + written, &last) == 1;
    EVP_CIPHER_CTX_free(context);
    REQUIRE(ok);
    return plain;
}

// Every page of the database file, decrypted, one after the other; free
// pages included, because a deleted row may linger in one.
Bytes decryptedDatabase(const Bytes& key, const fs::path& file)
{
    const Bytes raw = readBytes(file);
    REQUIRE(raw.size() % kPageSize == 0);
    Bytes plain;
    for (std::size_t start = 0; start < raw.size(); start += kPageSize) {
        const Bytes page = decryptPage(key, raw.data() + start, static_cast<std::uint32_t>(start / kPageSize + 1));
        plain.insert(plain.end(), page.begin(), page.end());
    }
    // Decryption with this key works: page 1 gives the page size and the
    // reserved bytes SQLite itself wrote in its header.
    if (!plain.empty()) {
        CHECK(plain[16] == 0x10);
        CHECK(plain[17] == 0x00);
        CHECK(plain[20] == kReserve);
    }
    return plain;
}

// Every frame of the write-ahead log, decrypted: a 32-byte header, then
// frames of a 24-byte header (the page number first) and one page.
Bytes decryptedLog(const Bytes& key, const fs::path& file)
{
    std::error_code error;
    if (!fs::exists(file, error))
        return {};
    const Bytes raw = readBytes(file);
    Bytes plain;
    for (std::size_t start = 32; start + 24 + kPageSize <= raw.size(); start += 24 + kPageSize) {
        const std::uint32_t pageNumber = (std::uint32_t { raw[start] } << 24) | (std::uint32_t { raw[start + 1] } << 16)
            | (std::uint32_t { raw[start + 2] } << 8) | raw[start + 3];
        const Bytes page = decryptPage(key, raw.data() + start + 24, pageNumber);
        plain.insert(plain.end(), page.begin(), page.end());
    }
    return plain;
}

fs::path logOf(const storage::Database& database)
{
    return database.path().string() + "-wal";
}

void closeCase(RetentionBench& bench, std::int64_t id)
{
    staff::CaseQueries(*bench.database, bench.clock()).setStatus(id, "closed", "advice_given", bench.clock()());
}

void addReferralCopy(RetentionBench& bench, std::int64_t reportId, const std::string& content)
{
    if (bench.count("SELECT count(*) FROM partners") == 0)
        bench.database->exec("INSERT INTO partners (name, kind, countries, endpoint, server_trust_pem, "
                             "client_certificate_pem, client_key_pem, encryption_certificate_pem, "
                             "receipt_certificate_pem, outcome_certificate_sha256, imported_at) VALUES "
                             "('Politie', 'police', 'NL', 'https://127.0.0.1:1/', '', '', '', '', '', '"
            + std::string(64, 'a') + "', '2026-01-01T00:00:00Z')");
    bench.database
        ->prepare("INSERT INTO referrals (uuid, report_id, partner_id, state, manifest_sha256, created_at, "
                  "delivered_at, finished_at) VALUES (?, ?, 1, 'delivered', ?, ?, ?, ?)")
        .bind(1, meldpunt::Uuid::generate().toString())
        .bind(2, reportId)
        .bind(3, std::string(64, 'b'))
        .bind(4, bench.nowText())
        .bind(5, bench.nowText())
        .bind(6, bench.nowText())
        .run();
    bench.database
        ->prepare("INSERT INTO referral_files (referral_id, position, name, content) VALUES (?, 0, 'report.sealed', ?)")
        .bind(1, bench.database->lastInsertId())
        .bind(2, crypto::asBytes(content))
        .run();
}

// A statistics table as the statistics records keep them: rows that
// outlive the reports and that no sweep touches.
void addStatistics(RetentionBench& bench)
{
    bench.database->exec("CREATE TABLE IF NOT EXISTS statistics_sweep_probe (id TEXT PRIMARY KEY, month TEXT NOT NULL, "
                         "category TEXT NOT NULL) STRICT");
    bench.database->exec("INSERT INTO statistics_sweep_probe VALUES ('a1', '2026-03', 'travel_tourism'), "
                         "('b2', '2025-01', 'online')");
}

std::string referenceOf(RetentionBench& bench, std::int64_t id)
{
    auto query = bench.database->prepare("SELECT reference FROM reports WHERE id = ?");
    query.bind(1, id);
    REQUIRE(query.step());
    return query.columnText(0);
}

std::int64_t addCoordinator(RetentionBench& bench)
{
    bench.database
        ->prepare("INSERT INTO staff_accounts (username, role, password_hash, created_at) "
                  "VALUES ('coordinator', 'coordinator', 'x', ?)")
        .bind(1, bench.nowText())
        .run();
    return bench.database->lastInsertId();
}

// Adds what staff and the reporter add to a report later: a note, a reply
// and a message from the reporter, all carrying the marker.
void addCaseWork(RetentionBench& bench, std::int64_t id, std::int64_t accountId, const std::string& marker)
{
    staff::CaseQueries(*bench.database, bench.clock()).addNote(id, accountId, "Notitie " + marker);
    storage::addStaffMessage(*bench.database, referenceOf(bench, id), "Antwoord " + marker, bench.nowText());
    // A reporter's message comes from a follow-up spool entry.
    const Bytes entry = crypto::randomBytes(16);
    bench.database->transaction([&] {
        bench.database->prepare("INSERT INTO spool_entries (entry_uuid, kind, ingested_at) VALUES (?, 2, ?)")
            .bind(1, entry)
            .bind(2, bench.nowText())
            .run();
        storage::storeReporterMessage(*bench.database, referenceOf(bench, id), entry, "Bericht van de melder " + marker,
            bench.nowText());
    });
}

std::string statisticsRows(RetentionBench& bench)
{
    std::string rows;
    auto query = bench.database->prepare("SELECT id, month, category FROM statistics_sweep_probe ORDER BY id");
    while (query.step())
        rows += query.columnText(0) + "|" + query.columnText(1) + "|" + query.columnText(2) + ";";
    return rows;
}

} // namespace

TEST_CASE("Nothing past its retention period survives a sweep", "[retention]")
{
    RetentionBench bench("retention-periods");
    addStatistics(bench);
    const std::string statistics = statisticsRows(bench);
    const auto coordinator = addCoordinator(bench);
    staff::AuditLog(*bench.database, bench.clock())
        .record({ coordinator, "coordinator", "127.0.0.1" }, "case.view", "case", "1");

    const auto closed = bench.sendReport("gesloten", { crypto::randomBytes(3000) });
    addCaseWork(bench, closed, coordinator, "gesloten");
    closeCase(bench, closed);
    const auto open = bench.sendReport("open", { crypto::randomBytes(2000) });
    addCaseWork(bench, open, coordinator, "open");
    const auto referred = bench.sendReport("doorgestuurd", { crypto::randomBytes(1000) });
    addReferralCopy(bench, referred, "verzegeld doorgestuurd");
    storage::markMailSent(*bench.database, bench.count("SELECT min(id) FROM email_outbox"), bench.nowText());
    storage::publishReceipts(*bench.database, bench.publishFolder);
    const auto closedFiles = bench.fileIdsOf(closed);
    const auto openFiles = bench.fileIdsOf(open);
    const auto referredFiles = bench.fileIdsOf(referred);
    REQUIRE(closedFiles.size() == 1);
    const fs::path closedReceipt
        = bench.publishFolder / "receipts" / storage::receiptFileName(referenceOf(bench, closed));
    REQUIRE(fs::exists(closedReceipt));
    auto fileExists = [&](const std::string& id) {
        return fs::exists(bench.attachmentsFolder / (id + ".att"));
    };

    // Day 0: nothing has reached its period.
    CHECK(bench.sweep().deleted() == 0);
    CHECK(bench.count("SELECT count(*) FROM reports") == 3);

    // Day 3: the outbox copies stay until their period has passed.
    bench.advanceDays(3);
    CHECK(bench.sweep().deleted() == 0);

    // Day 4: the copies of the delivered referral and the sent e-mail go;
    // the referral itself stays.
    bench.advanceDays(1);
    auto counts = bench.sweep();
    CHECK(counts.referralCopies == 1);
    CHECK(counts.emails == 1);
    CHECK(bench.count("SELECT count(*) FROM referral_files") == 0);
    CHECK(bench.countFor("referrals", referred) == 1);
    CHECK(bench.count("SELECT count(*) FROM email_outbox WHERE state = 'sent'") == 0);
    CHECK(bench.countFor("attachments", referred) == 1);

    // Day 6: the attachments of the referred report go, with its key.
    bench.advanceDays(2);
    counts = bench.sweep();
    CHECK(counts.attachments == 1);
    CHECK(counts.attachmentFiles == 1);
    CHECK(bench.countFor("attachments", referred) == 0);
    CHECK(bench.countFor("report_keys", referred) == 0);
    CHECK_FALSE(fileExists(referredFiles.at(0)));
    CHECK(bench.count("SELECT count(*) FROM reports WHERE id = " + std::to_string(referred)) == 1);
    CHECK(bench.countFor("reporter_messages", open) == 2);

    // Day 8: messages older than 7 days go; the reports stay.
    bench.advanceDays(2);
    counts = bench.sweep();
    CHECK(counts.reporterMessages == 4);
    CHECK(bench.count("SELECT count(*) FROM reporter_messages") == 0);
    CHECK(bench.count("SELECT count(*) FROM receipts WHERE needs_publish = 1") == 2);

    // Day 10: the closed report has not yet been closed for 10 full days.
    bench.advanceDays(2);
    CHECK(bench.sweep().reportsClosed == 0);
    bench.advanceDays(1);
    counts = bench.sweep();
    CHECK(counts.reportsClosed == 1);
    CHECK(bench.rowsUnder(closed) == 0);
    CHECK_FALSE(fileExists(closedFiles.at(0)));
    CHECK_FALSE(fs::exists(closedReceipt));
    CHECK(bench.count("SELECT count(*) FROM report_search WHERE report_search MATCH 'gesloten'") == 0);
    CHECK(bench.count("SELECT count(*) FROM case_notes") == 1);

    // Day 21: every attachment older than 20 days goes, the report stays.
    bench.advanceDays(10);
    counts = bench.sweep();
    CHECK(counts.attachments == 1);
    CHECK(bench.countFor("attachments", open) == 0);
    CHECK(bench.countFor("report_keys", open) == 0);
    CHECK_FALSE(fileExists(openFiles.at(0)));
    CHECK(bench.count("SELECT count(*) FROM reports WHERE id = " + std::to_string(open)) == 1);

    // Day 31: the reports never closed go.
    bench.advanceDays(10);
    counts = bench.sweep();
    CHECK(counts.reportsNeverClosed == 2);
    CHECK(bench.rowsUnder(open) == 0);
    CHECK(bench.rowsUnder(referred) == 0);
    CHECK(bench.count("SELECT count(*) FROM reports") == 0);
    CHECK(bench.count("SELECT count(*) FROM report_search") == 0);
    CHECK(fs::is_empty(bench.attachmentsFolder));

    // Day 41: the audit entries older than 40 days go, behind a checkpoint
    // that keeps the rest verifiable.
    const auto auditBefore = bench.count("SELECT count(*) FROM audit_log");
    REQUIRE(auditBefore > 0);
    bench.advanceDays(10);
    counts = bench.sweep();
    CHECK(counts.auditEntries == auditBefore);
    CHECK(bench.count("SELECT count(*) FROM audit_log") == 0);
    CHECK(bench.count("SELECT count(*) FROM audit_checkpoints") == 1);
    CHECK(staff::AuditLog(*bench.database, bench.clock()).verify().intact);

    // The statistics rows are as they were.
    CHECK(statisticsRows(bench) == statistics);
    CHECK(counts.summary().find("gesloten") == std::string::npos);
}

TEST_CASE("A legal hold keeps a case and everything under it", "[retention]")
{
    RetentionBench bench("retention-hold");
    addStatistics(bench);
    const std::string statistics = statisticsRows(bench);
    const auto coordinator = addCoordinator(bench);
    const auto held = bench.sendReport("vastgehouden", { crypto::randomBytes(1500) });
    addCaseWork(bench, held, coordinator, "vastgehouden");
    addReferralCopy(bench, held, "verzegeld vastgehouden");
    closeCase(bench, held);
    const auto other = bench.sendReport("vrij", { crypto::randomBytes(1500) });
    closeCase(bench, other);
    staff::CaseQueries cases(*bench.database, bench.clock());
    cases.setLegalHold(held, true);
    const auto rowsHeld = bench.rowsUnder(held);
    const auto files = bench.fileIdsOf(held);

    bench.advanceDays(400);
    const auto counts = bench.sweep();
    CHECK(counts.reportsClosed == 1);
    CHECK(bench.rowsUnder(other) == 0);
    CHECK(bench.rowsUnder(held) == rowsHeld);
    CHECK(bench.count("SELECT count(*) FROM referral_files") == 1);
    CHECK(bench.countFor("reporter_messages", held) == 2);
    CHECK(fs::exists(bench.attachmentsFolder / (files.at(0) + ".att")));
    REQUIRE(cases.find(held));
    CHECK(cases.find(held)->legalHold);

    SECTION("released, the case goes at the next sweep")
    {
        cases.setLegalHold(held, false);
        CHECK(bench.sweep().reportsClosed == 1);
        CHECK(bench.rowsUnder(held) == 0);
        CHECK(fs::is_empty(bench.attachmentsFolder));
        CHECK(statisticsRows(bench) == statistics);
    }
    SECTION("a case opened again loses its closing time")
    {
        cases.setLegalHold(held, false);
        cases.setStatus(held, "in_progress", "", bench.clock()());
        CHECK(bench.count(
                  "SELECT count(*) FROM case_state WHERE closed_at IS NULL AND report_id = " + std::to_string(held))
            == 1);
        cases.setStatus(held, "closed", "advice_given", bench.clock()());
        CHECK(bench.sweep().reportsClosed == 0);
        bench.advanceDays(11);
        CHECK(bench.sweep().reportsClosed == 1);
    }
}

TEST_CASE("A deleted report's text is in no page of the database or its log", "[retention]")
{
    RetentionBench bench("retention-pages");
    const auto coordinator = addCoordinator(bench);
    const std::string marker = "QXJ" + crypto::toHex(crypto::randomBytes(8)) + "ZK";
    const std::string kept = "KPT" + crypto::toHex(crypto::randomBytes(8)) + "WV";
    const auto doomed = bench.sendReport(marker);
    addCaseWork(bench, doomed, coordinator, marker);
    addReferralCopy(bench, doomed, "verzegeld " + marker);
    closeCase(bench, doomed);
    bench.advanceDays(5);
    const auto survivor = bench.sendReport(kept);
    const fs::path file = bench.database->path();

    // The check can fail: before the sweep, the text is in the pages.
    bench.database->exec("PRAGMA wal_checkpoint(TRUNCATE)");
    REQUIRE(contains(decryptedDatabase(bench.key, file), marker));

    // The sweep's own deletions pass through the log first.
    bench.advanceDays(6);
    const auto counts = bench.sweep();
    REQUIRE(counts.reportsClosed == 1);
    CHECK(counts.logEmptied);
    CHECK(bench.rowsUnder(doomed) == 0);
    CHECK(bench.rowsUnder(survivor) > 0);
    CHECK(bench.count("PRAGMA auto_vacuum") == 2);
    CHECK(bench.count("PRAGMA freelist_count") == 0);

    const Bytes pages = decryptedDatabase(bench.key, file);
    CHECK_FALSE(contains(pages, marker));
    CHECK(contains(pages, kept));
    const Bytes log = decryptedLog(bench.key, logOf(*bench.database));
    CHECK_FALSE(contains(log, marker));
    CHECK(readBytes(logOf(*bench.database)).empty());

    SECTION("nor in a plaintext export or the log once the connection closes")
    {
        const fs::path plain = bench.scratch.path() / "plain.db";
        bench.database->exec("ATTACH DATABASE '" + plain.string() + "' AS plaintext KEY ''");
        bench.database->exec("SELECT sqlcipher_export('plaintext')");
        bench.database->exec("DETACH DATABASE plaintext");
        const Bytes exported = readBytes(plain);
        CHECK(contains(exported, kept));
        CHECK_FALSE(contains(exported, marker));
        bench.ingester.reset();
        bench.database.reset();
        CHECK_FALSE(contains(decryptedDatabase(bench.key, file), marker));
        CHECK_FALSE(contains(decryptedLog(bench.key, file.string() + "-wal"), marker));
    }
}

TEST_CASE("A report's attachments cannot be decrypted once its key row is gone", "[retention]")
{
    RetentionBench bench("retention-shred");
    const Bytes photo = crypto::randomBytes(70000);
    const auto doomed = bench.sendReport("weg", { photo, crypto::randomBytes(500) });
    closeCase(bench, doomed);
    bench.advanceDays(5);
    const auto survivor = bench.sendReport("blijft", { crypto::randomBytes(800) });
    const std::string fileId = bench.fileIdsOf(doomed).at(0);

    // A copy of the encrypted file, as flash may keep it after deletion.
    const fs::path remnants = bench.scratch.path() / "remnants";
    fs::create_directory(remnants);
    fs::copy_file(bench.attachmentsFolder / (fileId + ".att"), remnants / (fileId + ".att"));
    const storage::AttachmentStore remnantStore(remnants);
    auto readWith = [&](std::span<const std::uint8_t> fileKey) {
        Bytes out;
        remnantStore.read(fileId, fileKey, [&](std::span<const std::uint8_t> piece) {
            out.insert(out.end(), piece.begin(), piece.end());
        });
        return out;
    };
    // The check can fail: with the key rows, the copy opens.
    {
        auto query = bench.database->prepare("SELECT k.key, a.wrapped_key FROM attachments a "
                                             "JOIN report_keys k ON k.report_id = a.report_id WHERE a.file_id = ?");
        query.bind(1, fileId);
        REQUIRE(query.step());
        const auto fileKey = storage::unwrapFileKey(query.columnBlob(0), query.columnBlob(1), fileId);
        CHECK(readWith(fileKey.span()) == photo);
    }

    bench.advanceDays(6);
    REQUIRE(bench.sweep().reportsClosed == 1);
    CHECK(bench.countFor("report_keys", doomed) == 0);
    CHECK_FALSE(fs::exists(bench.attachmentsFolder / (fileId + ".att")));
    CHECK(bench.countFor("report_keys", survivor) == 1);

    // Every key left in the database, as a file key and as the key that
    // unwraps each remaining wrapped key, fails on the copy.
    std::vector<Bytes> reportKeys;
    auto keys = bench.database->prepare("SELECT key FROM report_keys");
    while (keys.step())
        reportKeys.push_back(keys.columnBlob(0));
    REQUIRE_FALSE(reportKeys.empty());
    std::vector<Bytes> wrapped;
    auto rows = bench.database->prepare("SELECT wrapped_key FROM attachments");
    while (rows.step())
        wrapped.push_back(rows.columnBlob(0));
    REQUIRE_FALSE(wrapped.empty());
    int tries = 0;
    for (const auto& reportKey : reportKeys) {
        CHECK_THROWS_AS(readWith(reportKey), meldpunt::chunked::IntegrityError);
        ++tries;
        for (const auto& each : wrapped) {
            CHECK_THROWS_AS(storage::unwrapFileKey(reportKey, each, fileId), meldpunt::chunked::IntegrityError);
            ++tries;
        }
    }
    CHECK(tries == static_cast<int>(reportKeys.size() * (1 + wrapped.size())));
    CHECK(bench.count("SELECT count(*) FROM attachments WHERE file_id = '" + fileId + "'") == 0);
}

TEST_CASE("A withdrawal deletes the report's content for good", "[retention]")
{
    RetentionBench bench("retention-withdrawal");
    // Long enough that only the withdrawal's own period applies below.
    bench.periods.reportsNeverClosedDays = 3650;
    const auto coordinator = addCoordinator(bench);
    const std::string marker = "WDR" + crypto::toHex(crypto::randomBytes(8)) + "XQ";
    const auto id = bench.sendReport(marker, { crypto::randomBytes(4000) });
    addCaseWork(bench, id, coordinator, marker);
    addReferralCopy(bench, id, "verzegeld " + marker);
    bench.database->exec("UPDATE referrals SET state = 'retracted'");
    const std::string fileId = bench.fileIdsOf(id).at(0);

    // The withdrawal arrives as meldpunt-public writes it, through the spool.
    spool::Writer writer(bench.spoolFolder, spool::EntryKind::Withdrawal, meldpunt::Uuid::generate(), bench.intakeKey);
    writer.writeRecord(spool::RecordType::Fields,
        crypto::asBytes("{\"schema\":1,\"reference\":\"" + referenceOf(bench, id) + "\",\"received_at\":\""
            + bench.nowText() + "\",\"language\":\"nl\",\"message\":\"\"}"));
    writer.commit();
    REQUIRE(bench.ingester->runOnce().ingested == 1);
    CHECK(bench.count("SELECT count(*) FROM receipts WHERE withdrawn_at IS NOT NULL") == 1);
    CHECK_FALSE(fs::exists(bench.attachmentsFolder / (fileId + ".att")));
    for (const char* table :
        { "report_details", "reporter_messages", "email_outbox", "report_keys", "attachments", "case_notes" })
        CHECK(bench.countFor(table, id) == 0);
    CHECK(bench.count("SELECT count(*) FROM referral_files") == 0);
    CHECK(bench.count("SELECT count(*) FROM report_search WHERE report_search MATCH '" + marker + "'") == 0);
    CHECK(bench.count("SELECT count(*) FROM report_search_content WHERE c5 LIKE '%" + marker + "%'") == 0);
    bench.sweep();
    CHECK(bench.count("SELECT count(*) FROM reports WHERE id = " + std::to_string(id)) == 1);

    // The row that records the withdrawal goes after the period after
    // closing, counted from the withdrawal, which the ingester dates by
    // the system clock.
    bench.now = std::chrono::system_clock::now() + std::chrono::hours(24) * 9;
    CHECK(bench.sweep().reportsWithdrawn == 0);
    bench.advanceDays(2);
    CHECK(bench.sweep().reportsWithdrawn == 1);
    CHECK(bench.rowsUnder(id) == 0);
    CHECK_FALSE(contains(decryptedDatabase(bench.key, bench.database->path()), marker));
}

TEST_CASE("An intake key outlives every spool entry made with it", "[retention]")
{
    RetentionBench bench("retention-intake");
    const auto oldKey = bench.intakeKey;
    auto writeEntry = [&](const spool::IntakePublicKey& key) {
        spool::Writer writer(bench.spoolFolder, spool::EntryKind::Complaint, meldpunt::Uuid::generate(), key);
        writer.writeRecord(spool::RecordType::Fields,
            crypto::asBytes(std::string("{\"schema\":1,\"received_at\":\"2026-03-02T09:00:00Z\",\"language\":\"nl\","
                                        "\"fields\":{\"message\":\"Klacht\",\"email\":\"\"}}")));
        return writer.commit();
    };
    auto keyRows = [&] {
        return bench.count("SELECT count(*) FROM intake_keys");
    };
    const fs::path waiting = writeEntry(oldKey);
    // A report still being written under the old key, as meldpunt-public
    // writes one while the key changes.
    auto partial = std::make_unique<spool::Writer>(bench.spoolFolder, spool::EntryKind::Complaint,
        meldpunt::Uuid::generate(), oldKey);

    storage::IntakeKeys keys(*bench.database);
    CHECK_FALSE(keys.rotateIfCreatedBefore(staff::formatUtc(bench.now - std::chrono::hours(1)), bench.nowText()));
    bench.advanceDays(31);
    const auto fresh
        = keys.rotateIfCreatedBefore(staff::formatUtc(bench.now - std::chrono::hours(24 * 30)), bench.nowText());
    REQUIRE(fresh);
    CHECK(fresh->id != oldKey.id);
    CHECK(keys.ensureCurrent(bench.nowText()).id == fresh->id);
    CHECK(keyRows() == 2);

    const std::string later = staff::formatUtc(bench.now + std::chrono::hours(1));
    // The waiting entry keeps the old key, and neither the key step nor a
    // retention sweep deletes the entry.
    CHECK(keys.destroyUnusedRetired(bench.spoolFolder, later) == 0);
    bench.advanceDays(400);
    bench.sweep();
    CHECK(fs::exists(waiting));
    CHECK(keyRows() == 2);

    // Ingested, the entry goes; the partial entry still names the key.
    CHECK(bench.ingester->runOnce().ingested == 1);
    CHECK_FALSE(fs::exists(waiting));
    CHECK(keys.destroyUnusedRetired(bench.spoolFolder, later) == 0);

    // Once nothing needs it, the private half goes, and an entry made
    // with it can no longer be read.
    partial.reset();
    CHECK(keys.destroyUnusedRetired(bench.spoolFolder, later) == 1);
    CHECK(keyRows() == 1);
    CHECK_FALSE(keys.privateKey(oldKey.id));
    writeEntry(oldKey);
    CHECK(bench.ingester->runOnce().quarantined == 1);
    // The current key is never destroyed.
    CHECK(
        keys.destroyUnusedRetired(bench.spoolFolder, staff::formatUtc(bench.now + std::chrono::hours(24 * 999))) == 0);
    CHECK(keys.privateKey(fresh->id));
}

TEST_CASE("A stopping daemon ends the sweep after one batch", "[retention]")
{
    RetentionBench bench("retention-stop");
    for (int index = 0; index < 7; ++index)
        bench.sendReport("stop" + std::to_string(index));
    bench.advanceDays(31);
    staff::SweepSettings settings;
    settings.periods = bench.periods;
    settings.attachmentsFolder = bench.attachmentsFolder;
    settings.batchSize = 3;
    settings.stopRequested = [] {
        return true;
    };
    const auto counts = staff::RetentionSweep(*bench.database, bench.databaseMutex, settings, bench.clock()).run();
    CHECK(counts.reportsNeverClosed == 3);
    CHECK(bench.count("SELECT count(*) FROM reports") == 4);
    // The next sweep goes on from there.
    CHECK(bench.sweep().reportsNeverClosed == 4);
    CHECK(bench.count("SELECT count(*) FROM reports") == 0);
}

TEST_CASE("A copy under a new key reclaims freed pages too", "[retention]")
{
    RetentionBench bench("retention-export");
    bench.sendReport("kopie");
    const fs::path copy = bench.scratch.path() / "copy.db";
    const auto newKey = meldpunt::SecretBytes::random(32);
    storage::exportEncryptedCopy(*bench.database, copy, newKey);
    storage::Database copied(copy, newKey.span(), storage::OpenMode::MustExist);
    auto mode = copied.prepare("PRAGMA auto_vacuum");
    REQUIRE(mode.step());
    CHECK(mode.columnInt(0) == 2);
}
