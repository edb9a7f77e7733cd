#pragma once

#include "Crypto.h"
#include "Database.h"

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
// deletes its content (deleteReportContent) and records when. Called
// inside a transaction.
WithdrawalResult withdrawReport(Database& database, const std::string& reference, const std::string& nowUtc);

// Deletes what a report's reporter wrote and who they are: the free text,
// place, time, contact details, messages and queued e-mails. What the yearly statistics
// need stays: received time, language, channel, category, country,
// anonymity and status. Called inside a transaction; the database runs
// with secure_delete, so the old values are overwritten on disk.
void deleteReportContent(Database& database, std::int64_t reportId);

// Writes a file into `publishFolder`/receipts for every receipt whose
// state or messages changed. docs/publish-folder.md describes the files.
// Returns the number of files written. Throws std::system_error naming
// the path, DatabaseError on failure.
// TODO: remove the file of a report that retention deletes, once the
// retention sweep exists.
int publishReceipts(Database& database, const std::filesystem::path& publishFolder);

} // namespace meldpunt::storage
