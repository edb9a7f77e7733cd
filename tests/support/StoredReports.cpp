#include "StoredReports.h"

#include "AttachmentStore.h"
#include "Database.h"
#include "Receipts.h"
#include "KeySealer.h"
#include "SealedKeyFile.h"

#include <algorithm>

namespace meldpunt::test {

std::vector<StoredReport> readStoredReports(const std::filesystem::path& stateFolder, const std::string& tcti)
{
    const auto file = tpm::SealedKeyFile::read(stateFolder / "sealed-key.json");
    tpm::Tpm tpm(tcti);
    const SecretBytes key = tpm.unseal(file.key);
    storage::Database database(stateFolder / "meldpunt.db", key.span(), storage::OpenMode::MustExist);
    // The detailed answers are read under their form field names.
    const std::vector<std::string> details = {"why_suspicious", "city", "venue_type", "urls",
        "suspect_count", "suspect_age", "suspect_gender", "suspect_description", "suspect_language",
        "child_count", "child_age", "child_gender", "child_description", "child_language",
        "action_taken", "remarks", "reporter_age", "reporter_gender", "found_via"};
    std::string sql = "SELECT reference, received_at, language, channel, category, country, place, "
                      "occurred, what, anonymous, ifnull(contact_name, '(null)'), "
                      "ifnull(contact_email, '(null)'), ifnull(contact_phone, '(null)'), consent, status";
    for (const auto& name : details)
        sql += ", ifnull(d." + name + ", '(null)')";
    sql += " FROM reports LEFT JOIN report_details d ON d.report_id = reports.id ORDER BY reports.id";
    auto query = database.prepare(sql);
    std::vector<std::string> names = {"reference", "received_at", "language", "channel", "category",
        "country", "place", "when", "what", "anonymous", "name", "email", "phone", "consent", "status"};
    names.insert(names.end(), details.begin(), details.end());
    std::vector<StoredReport> reports;
    while (query.step()) {
        StoredReport report;
        for (int column = 0; column < static_cast<int>(names.size()); ++column)
            report[names[column]] = query.columnText(column);
        reports.push_back(report);
    }
    return reports;
}

std::vector<std::pair<std::string, std::string>> readComplaints(const std::filesystem::path& stateFolder,
    const std::string& tcti)
{
    const auto file = tpm::SealedKeyFile::read(stateFolder / "sealed-key.json");
    tpm::Tpm tpm(tcti);
    const SecretBytes key = tpm.unseal(file.key);
    storage::Database database(stateFolder / "meldpunt.db", key.span(), storage::OpenMode::MustExist);
    auto query = database.prepare("SELECT message, email FROM complaints ORDER BY id");
    std::vector<std::pair<std::string, std::string>> complaints;
    while (query.step())
        complaints.emplace_back(query.columnText(0), query.columnText(1));
    return complaints;
}

std::map<std::string, long long> readVisitCounts(const std::filesystem::path& stateFolder, const std::string& tcti)
{
    const auto file = tpm::SealedKeyFile::read(stateFolder / "sealed-key.json");
    tpm::Tpm tpm(tcti);
    const SecretBytes key = tpm.unseal(file.key);
    storage::Database database(stateFolder / "meldpunt.db", key.span(), storage::OpenMode::MustExist);
    auto query = database.prepare("SELECT day, page, language, count FROM visit_counts");
    std::map<std::string, long long> counts;
    while (query.step())
        counts[query.columnText(0) + " " + query.columnText(1) + " " + query.columnText(2)] = query.columnInt(3);
    return counts;
}

std::vector<StoredAttachment> readStoredAttachments(const std::filesystem::path& stateFolder, const std::string& tcti)
{
    const auto file = tpm::SealedKeyFile::read(stateFolder / "sealed-key.json");
    tpm::Tpm tpm(tcti);
    const SecretBytes key = tpm.unseal(file.key);
    storage::Database database(stateFolder / "meldpunt.db", key.span(), storage::OpenMode::MustExist);
    const storage::AttachmentStore store(stateFolder / "attachments");
    auto query = database.prepare("SELECT r.reference, a.file_id, a.name, a.media_type, a.size, a.sha256 "
                                  "FROM attachments a JOIN reports r ON r.id = a.report_id ORDER BY r.id, a.position");
    std::vector<StoredAttachment> attachments;
    while (query.step()) {
        StoredAttachment attachment;
        attachment.reference = query.columnText(0);
        attachment.fileId = query.columnText(1);
        attachment.name = query.columnText(2);
        attachment.mediaType = query.columnText(3);
        attachment.size = static_cast<std::uint64_t>(query.columnInt(4));
        attachment.sha256 = crypto::toHex(query.columnBlob(5));
        storage::readStoredAttachment(database, store, attachment.fileId, [&](std::span<const std::uint8_t> piece) {
            attachment.content.append(reinterpret_cast<const char*>(piece.data()), piece.size());
        });
        attachments.push_back(std::move(attachment));
    }
    return attachments;
}

void deleteReportKeys(const std::filesystem::path& stateFolder, const std::string& tcti)
{
    const auto file = tpm::SealedKeyFile::read(stateFolder / "sealed-key.json");
    tpm::Tpm tpm(tcti);
    const SecretBytes key = tpm.unseal(file.key);
    storage::Database database(stateFolder / "meldpunt.db", key.span(), storage::OpenMode::MustExist);
    database.exec("DELETE FROM report_keys");
}

std::vector<std::string> readKeyEvents(const std::filesystem::path& stateFolder, const std::string& tcti)
{
    const auto file = tpm::SealedKeyFile::read(stateFolder / "sealed-key.json");
    tpm::Tpm tpm(tcti);
    const SecretBytes key = tpm.unseal(file.key);
    storage::Database database(stateFolder / "meldpunt.db", key.span(), storage::OpenMode::MustExist);
    auto query = database.prepare("SELECT event FROM key_events ORDER BY id");
    std::vector<std::string> events;
    while (query.step())
        events.push_back(query.columnText(0));
    return events;
}

} // namespace meldpunt::test

namespace meldpunt::test {

std::int64_t addStaffMessage(const std::filesystem::path& stateFolder, const std::string& tcti,
    const std::string& reference, const std::string& text)
{
    const auto file = tpm::SealedKeyFile::read(stateFolder / "sealed-key.json");
    tpm::Tpm tpm(tcti);
    const SecretBytes key = tpm.unseal(file.key);
    storage::Database database(stateFolder / "meldpunt.db", key.span(), storage::OpenMode::MustExist);
    return storage::addStaffMessage(database, reference, text, "2026-07-15T09:00:00Z");
}

std::vector<std::pair<std::string, std::string>> readReporterMessages(const std::filesystem::path& stateFolder,
    const std::string& tcti, const std::string& reference)
{
    const auto file = tpm::SealedKeyFile::read(stateFolder / "sealed-key.json");
    tpm::Tpm tpm(tcti);
    const SecretBytes key = tpm.unseal(file.key);
    storage::Database database(stateFolder / "meldpunt.db", key.span(), storage::OpenMode::MustExist);
    auto query = database.prepare("SELECT m.direction, m.body FROM reporter_messages m JOIN reports r "
                                  "ON r.id = m.report_id WHERE r.reference = ? ORDER BY m.id");
    query.bind(1, reference);
    std::vector<std::pair<std::string, std::string>> messages;
    while (query.step())
        messages.emplace_back(query.columnText(0), query.columnText(1));
    return messages;
}

} // namespace meldpunt::test

namespace meldpunt::test {

std::vector<std::map<std::string, std::string>> readOutbox(const std::filesystem::path& stateFolder,
    const std::string& tcti)
{
    const auto file = tpm::SealedKeyFile::read(stateFolder / "sealed-key.json");
    tpm::Tpm tpm(tcti);
    const SecretBytes key = tpm.unseal(file.key);
    storage::Database database(stateFolder / "meldpunt.db", key.span(), storage::OpenMode::MustExist);
    auto query = database.prepare("SELECT recipient, language, reference, state, attempts, "
                                  "ifnull(last_error, '(null)') FROM email_outbox ORDER BY id");
    const char* names[] = {"recipient", "language", "reference", "state", "attempts", "last_error"};
    std::vector<std::map<std::string, std::string>> rows;
    while (query.step()) {
        std::map<std::string, std::string> row;
        for (int column = 0; column < 6; ++column)
            row[names[column]] = query.columnText(column);
        rows.push_back(row);
    }
    return rows;
}

void addClosedReports(const std::filesystem::path& stateFolder, const std::string& tcti, int count,
    const std::string& at)
{
    const auto file = tpm::SealedKeyFile::read(stateFolder / "sealed-key.json");
    tpm::Tpm tpm(tcti);
    const SecretBytes key = tpm.unseal(file.key);
    storage::Database database(stateFolder / "meldpunt.db", key.span(), storage::OpenMode::MustExist);
    const std::string text(600, 'x');
    for (int start = 0; start < count; start += 5000) {
        database.transaction([&] {
            for (int index = start; index < std::min(count, start + 5000); ++index) {
                const auto uuid = crypto::randomBytes(16);
                database.prepare("INSERT INTO spool_entries (entry_uuid, kind, ingested_at) VALUES (?, 1, ?)")
                    .bind(1, uuid)
                    .bind(2, at)
                    .run();
                database.prepare("INSERT INTO reports (entry_uuid, reference, received_at, ingested_at, language, "
                                 "channel, category, country, place, occurred, what, anonymous, consent, status) "
                                 "VALUES (?, ?, ?, ?, 'en', 'web', 'travel_tourism', 'TH', 'Fictional place', "
                                 "'last year', ?, 1, 1, 'closed')")
                    .bind(1, uuid)
                    .bind(2, "BENCH-" + std::to_string(index))
                    .bind(3, at)
                    .bind(4, at)
                    .bind(5, "Fictional report " + std::to_string(index) + " " + text)
                    .run();
                const std::int64_t id = database.lastInsertId();
                database.prepare("INSERT INTO report_details VALUES (?, ?, '', '', '', '', '', '', ?, '', '', '', "
                                 "'', '', '', '', ?, '', '', '')")
                    .bind(1, id)
                    .bind(2, text)
                    .bind(3, text)
                    .bind(4, text)
                    .run();
                database.prepare("INSERT INTO receipts (report_id, secret_hash, public_key, needs_publish) "
                                 "VALUES (?, 'bench', ?, 0)")
                    .bind(1, id)
                    .bind(2, crypto::randomBytes(32))
                    .run();
                database.prepare("INSERT INTO reporter_messages (report_id, direction, at, body) "
                                 "VALUES (?, 'to_reporter', ?, ?)")
                    .bind(1, id)
                    .bind(2, at)
                    .bind(3, text)
                    .run();
                database.prepare("INSERT INTO case_state (report_id, outcome, updated_at, closed_at) "
                                 "VALUES (?, 'advice_given', ?, ?)")
                    .bind(1, id)
                    .bind(2, at)
                    .bind(3, at)
                    .run();
            }
        });
    }
    database.exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

} // namespace meldpunt::test

namespace meldpunt::test {

std::string checkDatabaseIntegrity(const std::filesystem::path& stateFolder, const std::string& tcti)
{
    const auto file = tpm::SealedKeyFile::read(stateFolder / "sealed-key.json");
    tpm::Tpm tpm(tcti);
    const SecretBytes key = tpm.unseal(file.key);
    storage::Database database(stateFolder / "meldpunt.db", key.span(), storage::OpenMode::MustExist);
    auto query = database.prepare("PRAGMA integrity_check");
    std::string result;
    while (query.step())
        result += (result.empty() ? "" : "\n") + query.columnText(0);
    return result;
}

} // namespace meldpunt::test
