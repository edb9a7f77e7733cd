#include "RetentionFixture.h"

#include "Crypto.h"
#include "FormData.h"
#include "IntakeKeys.h"
#include "Migrations.h"
#include "ReceiptSecret.h"
#include "ReportForm.h"
#include "ReporterCode.h"
#include "Uuid.h"

#include <catch2/catch_test_macros.hpp>

namespace meldpunt::test {

namespace fs = std::filesystem;

RetentionBench::RetentionBench(const std::string& name)
    : scratch(name)
    , spoolFolder(scratch.path() / "spool")
    , publishFolder(scratch.path() / "publish")
    , attachmentsFolder(scratch.path() / "attachments")
    , key(crypto::randomBytes(32))
    , now(std::chrono::system_clock::from_time_t(kStartSeconds))
{
    fs::create_directories(spoolFolder / "quarantine");
    fs::create_directories(publishFolder / "receipts");
    database = std::make_unique<storage::Database>(scratch.path() / "meldpunt.db", key, storage::OpenMode::CreateNew);
    storage::migrate(*database);
    intakeKey = storage::IntakeKeys(*database).ensureCurrent(nowText());
    ingester = std::make_unique<storage::Ingester>(*database, databaseMutex, spoolFolder, spoolFolder / "quarantine");
    periods.reportsAfterClosingDays = 10;
    periods.reportsNeverClosedDays = 30;
    periods.attachmentsDays = 20;
    periods.attachmentsAfterReferralDays = 5;
    periods.reporterMessagesDays = 7;
    periods.auditLogDays = 40;
    periods.outboxCopiesDays = 3;
}

std::int64_t RetentionBench::sendReport(const std::string& marker, const std::vector<Bytes>& attachments)
{
    FormData form;
    form.add("what", "Wat er gebeurde " + marker);
    form.add("why_suspicious", "Waarom verdacht " + marker);
    form.add("remarks", "Opmerking " + marker);
    form.add("place", "Plaats " + marker);
    form.add("country", "NL");
    form.add("category", "travel_tourism");
    form.add("contact", "contact");
    form.add("name", "Naam " + marker);
    form.add("email", "melder@example.org");
    form.add("consent", "yes");
    std::string json = ReportForm::toJson(form, "nl", nowText());
    const auto receipt
        = deriveReceiptKeys(ReporterCode::generate(ReporterCode::Kind::Receipt), ReceiptHashCost { 1, 1024, 1 });
    json.insert(json.size() - 1,
        ",\"receipt\":{\"hash\":\"" + receipt.verifier.hash + "\",\"public_key\":\""
            + crypto::toBase64(receipt.verifier.publicKey) + "\"}");
    spool::Writer writer(spoolFolder, spool::EntryKind::Report, Uuid::generate(), intakeKey);
    writer.writeRecord(spool::RecordType::Fields, crypto::asBytes(json));
    int index = 0;
    for (const auto& content : attachments) {
        crypto::Sha256 hash;
        hash.update(content);
        const std::string begin = "{\"schema\":1,\"name\":\"foto-" + marker + "-" + std::to_string(index++)
            + ".jpg\",\"type\":\"image/jpeg\",\"size\":" + std::to_string(content.size()) + ",\"uploaded_at\":\""
            + nowText() + "\"}";
        writer.writeRecord(spool::RecordType::AttachmentBegin, crypto::asBytes(begin));
        writer.writeRecord(spool::RecordType::AttachmentData, content);
        const std::string end
            = "{\"size\":" + std::to_string(content.size()) + ",\"sha256\":\"" + crypto::toHex(hash.finish()) + "\"}";
        writer.writeRecord(spool::RecordType::AttachmentEnd, crypto::asBytes(end));
    }
    writer.commit();
    REQUIRE(ingester->runOnce().ingested == 1);
    return count("SELECT max(id) FROM reports");
}

staff::SweepCounts RetentionBench::sweep()
{
    staff::SweepSettings settings;
    settings.periods = periods;
    settings.attachmentsFolder = attachmentsFolder;
    settings.publishFolder = publishFolder;
    settings.batchSize = 3; // several batches even for a few rows
    settings.pause = std::chrono::milliseconds(0);
    return staff::RetentionSweep(*database, databaseMutex, settings, clock()).run();
}

std::int64_t RetentionBench::count(const std::string& sql)
{
    auto query = database->prepare(sql);
    REQUIRE(query.step());
    return query.columnInt(0);
}

std::int64_t RetentionBench::countFor(const std::string& table, std::int64_t reportId)
{
    auto query = database->prepare("SELECT count(*) FROM " + table + " WHERE report_id = ?");
    query.bind(1, reportId);
    REQUIRE(query.step());
    return query.columnInt(0);
}

std::int64_t RetentionBench::rowsUnder(std::int64_t reportId)
{
    std::int64_t rows = count("SELECT count(*) FROM reports WHERE id = " + std::to_string(reportId));
    rows += count("SELECT count(*) FROM report_search WHERE rowid = " + std::to_string(reportId));
    for (const char* table : { "report_details", "receipts", "reporter_messages", "email_outbox", "report_keys",
             "attachments", "case_state", "case_notes", "referrals" })
        rows += countFor(table, reportId);
    rows += count("SELECT count(*) FROM referral_files WHERE referral_id IN "
                  "(SELECT id FROM referrals WHERE report_id = "
        + std::to_string(reportId) + ")");
    return rows;
}

std::vector<std::string> RetentionBench::fileIdsOf(std::int64_t reportId)
{
    std::vector<std::string> ids;
    auto query = database->prepare("SELECT file_id FROM attachments WHERE report_id = ? ORDER BY position");
    query.bind(1, reportId);
    while (query.step())
        ids.push_back(query.columnText(0));
    return ids;
}

} // namespace meldpunt::test
