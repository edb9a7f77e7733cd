#pragma once

#include <cstdint>
#include <filesystem>
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

} // namespace meldpunt::test
