#pragma once

#include "Crypto.h"
#include "Database.h"
#include "ReportDeletion.h"

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace meldpunt::storage {

// A staff message to a reporter names a report that has no receipt (made
// before receipts existed) or was withdrawn.
class NoReceiptError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Stores the receipt of report `reportId`. Called inside the transaction
// that stores the report.
void storeReceipt(Database& database, std::int64_t reportId, const std::string& secretHash,
    const crypto::X25519PublicKey& publicKey);

// Stores a staff member's message to the reporter of the report with
// `reference`, to be published encrypted to the reporter's public key.
// Returns the message id. Throws NoReceiptError when the report has no
// receipt or was withdrawn, DatabaseError on failure.
std::int64_t addStaffMessage(Database& database, const std::string& reference, const std::string& text,
    const std::string& nowUtc);

// Stores a reporter's message that came in the follow-up entry
// `entryUuid`. Returns false, storing nothing, when the reference is
// unknown or withdrawn. Called inside a transaction.
bool storeReporterMessage(Database& database, const std::string& reference,
    std::span<const std::uint8_t> entryUuid, const std::string& text, const std::string& nowUtc);

enum class WithdrawalResult { Withdrawn, AlreadyWithdrawn, Referred, UnknownReference };

// Withdraws the report with `reference` when it has not been referred:
// deletes its content (deleteReportContent in ReportDeletion.h), adding
// its attachment files to `files` for the caller to remove after the
// commit, and records when. The row that remains holds no free text and
// nothing about the reporter; the retention sweep deletes it once the
// period after closing has passed since the withdrawal. Called inside a
// transaction.
WithdrawalResult withdrawReport(Database& database, const std::string& reference, const std::string& nowUtc,
    DeletedFiles& files);

// The name of a report's receipt file in `publishFolder`/receipts.
std::string receiptFileName(const std::string& reference);

// Writes a file into `publishFolder`/receipts for every receipt whose
// state or messages changed. docs/publish-folder.md describes the files.
// Returns the number of files written. Throws std::system_error naming
// the path, DatabaseError on failure.
int publishReceipts(Database& database, const std::filesystem::path& publishFolder);

} // namespace meldpunt::storage
