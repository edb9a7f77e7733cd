#pragma once

// Deleting reports for good: for the retention sweep and for a reporter's
// withdrawal. The database runs with secure_delete and the search index
// with FTS5 secure-delete, so deleted values are overwritten in the pages;
// the caller empties the write-ahead log afterwards (RetentionSweep).

#include "Database.h"

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace meldpunt::storage {

// What is left to do outside the transaction once it committed.
struct DeletedFiles {
    // Attachment files whose keys went with the transaction.
    std::vector<std::string> attachmentIds;
    // References whose receipt files in the publish folder go too.
    std::vector<std::string> receiptReferences;
};

// The ids as a JSON array for `IN (SELECT value FROM json_each(?))`: one
// bound text in place of one statement per id.
std::string idList(std::span<const std::int64_t> ids);

// Deletes report `reportId` and everything stored under it: details,
// receipt, messages, queued e-mails, case state and notes, referrals with
// their sealed copies, the search index row, the attachment rows and the
// report's key, whose loss makes every copy of its attachment files
// unreadable. Statistics tables are not touched. Called inside a
// transaction; adds the files to remove to `files`.
void deleteReport(Database& database, std::int64_t reportId, DeletedFiles& files);

// Deletes the reports `reportIds` as deleteReport does, with one
// statement per table for all of them: SQLCipher's memory security makes
// each prepared statement costly (it locks and wipes every allocation),
// so a sweep deletes a batch this way.
void deleteReports(Database& database, std::span<const std::int64_t> reportIds, DeletedFiles& files);

// Deletes what a reporter wrote and who they are, keeping only the row
// that says the report existed and was withdrawn: the free text is
// blanked (the search index follows), and details, messages, queued
// e-mails, notes, attachments with their key and the referral copies are
// deleted. Called inside a transaction; adds the attachment files to
// `files`.
void deleteReportContent(Database& database, std::int64_t reportId, DeletedFiles& files);

// Deletes one attachment's row, and the report's key once the report has
// no attachment left. Called inside a transaction.
void deleteAttachment(Database& database, std::int64_t attachmentId, DeletedFiles& files);
// The same for the attachments `attachmentIds`, one statement per table.
void deleteAttachments(Database& database, std::span<const std::int64_t> attachmentIds, DeletedFiles& files);

// Removes the files of `files` after the transaction committed: the
// attachment files from `attachmentsFolder`, the receipt files from
// `publishFolder`/receipts (when not empty). Returns how many attachment
// files went. Missing files are not an error.
std::size_t removeDeletedFiles(const DeletedFiles& files, const std::filesystem::path& attachmentsFolder,
    const std::filesystem::path& publishFolder);

} // namespace meldpunt::storage
