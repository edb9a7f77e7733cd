#include "ReportDeletion.h"

#include "AttachmentStore.h"
#include "Receipts.h"

#include <system_error>

namespace meldpunt::storage {

namespace fs = std::filesystem;

namespace {

void collectAttachments(Database& database, std::int64_t reportId, DeletedFiles& files)
{
    auto query = database.prepare("SELECT file_id FROM attachments WHERE report_id = ?");
    query.bind(1, reportId);
    while (query.step())
        files.attachmentIds.push_back(query.columnText(0));
}

void run(Database& database, const char* sql, std::int64_t id)
{
    database.prepare(sql).bind(1, id).run();
}

} // namespace

std::string idList(std::span<const std::int64_t> ids)
{
    std::string list = "[";
    for (const auto id : ids)
        list += (list.size() > 1 ? "," : "") + std::to_string(id);
    return list + "]";
}

void deleteReports(Database& database, std::span<const std::int64_t> reportIds, DeletedFiles& files)
{
    if (reportIds.empty())
        return;
    const std::string ids = idList(reportIds);
    const std::string inBatch = " IN (SELECT value FROM json_each(?))";
    auto references = database.prepare("SELECT reference FROM reports WHERE id" + inBatch);
    references.bind(1, ids);
    while (references.step())
        files.receiptReferences.push_back(references.columnText(0));
    auto attachments = database.prepare("SELECT file_id FROM attachments WHERE report_id" + inBatch);
    attachments.bind(1, ids);
    while (attachments.step())
        files.attachmentIds.push_back(attachments.columnText(0));
    // Every table under a report refers to it ON DELETE CASCADE. Deleting
    // them by name first keeps this complete should a cascade ever be
    // missing, and puts the keys first.
    for (const char* sql : {
             "DELETE FROM report_keys WHERE report_id",
             "DELETE FROM attachments WHERE report_id",
             "DELETE FROM referral_files WHERE referral_id IN (SELECT id FROM referrals WHERE report_id",
             "DELETE FROM referral_outcomes WHERE referral_id IN (SELECT id FROM referrals WHERE report_id",
             "DELETE FROM referrals WHERE report_id",
             "DELETE FROM reporter_messages WHERE report_id",
             "DELETE FROM email_outbox WHERE report_id",
             "DELETE FROM case_notes WHERE report_id",
             "DELETE FROM case_state WHERE report_id",
             "DELETE FROM report_links WHERE report_id",
             "DELETE FROM report_links WHERE linked_report_id",
             "DELETE FROM case_merges WHERE duplicate_id",
             "DELETE FROM case_merges WHERE primary_id",
             "DELETE FROM receipts WHERE report_id",
             "DELETE FROM report_details WHERE report_id",
             // The search index row goes with the report_search_delete trigger.
             "DELETE FROM reports WHERE id",
         }) {
        std::string statement = std::string(sql) + inBatch;
        if (statement.find("IN (SELECT id FROM referrals") != std::string::npos)
            statement += ")";
        database.prepare(statement).bind(1, ids).run();
    }
}

void deleteReport(Database& database, std::int64_t reportId, DeletedFiles& files)
{
    deleteReports(database, std::span<const std::int64_t>(&reportId, 1), files);
}

void deleteReportContent(Database& database, std::int64_t reportId, DeletedFiles& files)
{
    collectAttachments(database, reportId, files);
    // The report_search_update trigger replaces the index row too.
    run(database,
        "UPDATE reports SET what = '', place = '', occurred = '', contact_name = NULL, "
        "contact_email = NULL, contact_phone = NULL WHERE id = ?",
        reportId);
    run(database, "DELETE FROM report_keys WHERE report_id = ?", reportId);
    run(database, "DELETE FROM attachments WHERE report_id = ?", reportId);
    run(database, "DELETE FROM referral_files WHERE referral_id IN (SELECT id FROM referrals WHERE report_id = ?)",
        reportId);
    run(database, "DELETE FROM report_details WHERE report_id = ?", reportId);
    run(database, "DELETE FROM reporter_messages WHERE report_id = ?", reportId);
    run(database, "DELETE FROM email_outbox WHERE report_id = ?", reportId);
    run(database, "DELETE FROM case_notes WHERE report_id = ?", reportId);
}

void deleteAttachments(Database& database, std::span<const std::int64_t> attachmentIds, DeletedFiles& files)
{
    if (attachmentIds.empty())
        return;
    const std::string ids = idList(attachmentIds);
    std::vector<std::int64_t> reports;
    auto query
        = database.prepare("SELECT file_id, report_id FROM attachments WHERE id IN (SELECT value FROM json_each(?))");
    query.bind(1, ids);
    while (query.step()) {
        files.attachmentIds.push_back(query.columnText(0));
        reports.push_back(query.columnInt(1));
    }
    database.prepare("DELETE FROM attachments WHERE id IN (SELECT value FROM json_each(?))").bind(1, ids).run();
    // A report's key goes once the report has no attachment left.
    database
        .prepare("DELETE FROM report_keys WHERE report_id IN (SELECT value FROM json_each(?)) "
                 "AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.report_id = report_keys.report_id)")
        .bind(1, idList(reports))
        .run();
}

void deleteAttachment(Database& database, std::int64_t attachmentId, DeletedFiles& files)
{
    deleteAttachments(database, std::span<const std::int64_t>(&attachmentId, 1), files);
}

std::size_t removeDeletedFiles(const DeletedFiles& files, const fs::path& attachmentsFolder,
    const fs::path& publishFolder)
{
    std::size_t removed = 0;
    if (!files.attachmentIds.empty()) {
        const AttachmentStore store(attachmentsFolder);
        for (const auto& id : files.attachmentIds) {
            std::error_code error;
            if (fs::exists(attachmentsFolder / (id + ".att"), error))
                ++removed;
            store.remove(id);
        }
        store.syncFolder();
    }
    if (!publishFolder.empty()) {
        for (const auto& reference : files.receiptReferences) {
            std::error_code error;
            fs::remove(publishFolder / "receipts" / receiptFileName(reference), error);
        }
    }
    return removed;
}

} // namespace meldpunt::storage
