#pragma once

#include <cstdint>
#include <filesystem>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace meldpunt::test {

// A report row as meldpuntd stored it, column name to text.
using StoredReport = std::map<std::string, std::string>;

// Reads the reports of a running or stopped appliance the only way there
// is: the data key is unsealed from the TPM with the sealed key file, then
// the database is opened with it.
std::vector<StoredReport> readStoredReports(const std::filesystem::path& stateFolder, const std::string& tcti);

// The complaints stored, oldest first: message and e-mail address.
std::vector<std::pair<std::string, std::string>> readComplaints(const std::filesystem::path& stateFolder,
    const std::string& tcti);

// The stored visit counts as "day page language" to count.
std::map<std::string, long long> readVisitCounts(const std::filesystem::path& stateFolder, const std::string& tcti);

// An attachment as meldpuntd stored it, decrypted with the keys in the
// database.
struct StoredAttachment {
    std::string reference; // of its report
    std::string fileId;
    std::string name;
    std::string mediaType;
    std::uint64_t size = 0;
    std::string sha256; // hex, as recorded
    std::string content;
};

// Every stored attachment, by report and position.
std::vector<StoredAttachment> readStoredAttachments(const std::filesystem::path& stateFolder, const std::string& tcti);

// Deletes every report key row, as deletion of the reports' keys does.
void deleteReportKeys(const std::filesystem::path& stateFolder, const std::string& tcti);

// The names of the key events recorded, oldest first.
std::vector<std::string> readKeyEvents(const std::filesystem::path& stateFolder, const std::string& tcti);

// Stores a staff member's message to the reporter of `reference`, the way
// the staff UI does, while meldpuntd is stopped. Returns the message id.
std::int64_t addStaffMessage(const std::filesystem::path& stateFolder, const std::string& tcti,
    const std::string& reference, const std::string& text);

// The messages between staff and the reporter of `reference`, oldest
// first: direction ("to_reporter" or "from_reporter") and text.
std::vector<std::pair<std::string, std::string>> readReporterMessages(const std::filesystem::path& stateFolder,
    const std::string& tcti, const std::string& reference);

// The acknowledgement e-mails in the outbox, oldest first: each row's
// recipient, language, reference, state, attempts and last_error.
std::vector<std::map<std::string, std::string>> readOutbox(const std::filesystem::path& stateFolder,
    const std::string& tcti);

// Stores `count` closed reports that arrived and were closed at `at`,
// each with its details, receipt, a message and a note-free case state,
// straight into the database of a stopped meldpuntd: the load for the
// retention sweep benchmark. Commits every 5,000 reports.
void addClosedReports(const std::filesystem::path& stateFolder, const std::string& tcti, int count,
    const std::string& at);

} // namespace meldpunt::test

namespace meldpunt::test {

// What PRAGMA integrity_check says of the database: "ok" when sound.
std::string checkDatabaseIntegrity(const std::filesystem::path& stateFolder, const std::string& tcti);

} // namespace meldpunt::test
