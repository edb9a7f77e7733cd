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

void deleteReport(Database& database, std::int64_t reportId, DeletedFiles& files)
{
    auto reference = database.prepare("SELECT reference FROM reports WHERE id = ?");
    reference.bind(1, reportId);
    if (!reference.step())
        return;
    files.receiptReferences.push_back(reference.columnText(0));
    collectAttachments(database, reportId, files);
    // Every table under a report refers to it ON DELETE CASCADE; deleting
    // them by name first keeps this complete should a cascade ever be
    // missing, and puts the keys first.
    run(database, "DELETE FROM report_keys WHERE report_id = ?", reportId);
    run(database, "DELETE FROM attachments WHERE report_id = ?", reportId);
    run(database, "DELETE FROM referral_files WHERE referral_id IN (SELECT id FROM referrals WHERE report_id = ?)",
        reportId);
    run(database, "DELETE FROM referrals WHERE report_id = ?", reportId);
    run(database, "DELETE FROM reporter_messages WHERE report_id = ?", reportId);
    run(database, "DELETE FROM email_outbox WHERE report_id = ?", reportId);
    run(database, "DELETE FROM case_notes WHERE report_id = ?", reportId);
    run(database, "DELETE FROM case_state WHERE report_id = ?", reportId);
    run(database, "DELETE FROM receipts WHERE report_id = ?", reportId);
    run(database, "DELETE FROM report_details WHERE report_id = ?", reportId);
    // The search index row goes with the report_search_delete trigger.
    run(database, "DELETE FROM reports WHERE id = ?", reportId);
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

void deleteAttachment(Database& database, std::int64_t attachmentId, DeletedFiles& files)
{
    auto query = database.prepare("SELECT report_id, file_id FROM attachments WHERE id = ?");
    query.bind(1, attachmentId);
    if (!query.step())
        return;
    const std::int64_t reportId = query.columnInt(0);
    files.attachmentIds.push_back(query.columnText(1));
    run(database, "DELETE FROM attachments WHERE id = ?", attachmentId);
    run(database,
        "DELETE FROM report_keys WHERE report_id = ?1 "
        "AND NOT EXISTS (SELECT 1 FROM attachments WHERE report_id = ?1)",
        reportId);
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
