#pragma once

#include "Clock.h"
#include "Database.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace meldpunt::staff {

struct CaseSummary {
    std::int64_t id = 0;
    std::string reference;
    TimePoint receivedAt{};
    std::string status; // new, acknowledged, in_progress, referred, closed
    std::string category;
    std::string channel;
    std::string country;
    std::int64_t assigneeId = 0; // 0: nobody
    std::string assigneeName;
    bool acknowledged = false;
};

struct CaseField {
    std::string name;  // the column, such as "what"
    std::string label; // English, looked up in the catalog when shown
    std::string value;
};

struct CaseNote {
    std::int64_t id = 0;
    std::string at;
    std::string author;
    std::string text;
};

// The state of a report's acknowledgement e-mail, from email_outbox.
struct AcknowledgementMail {
    std::string state; // pending, sent or failed
    std::int64_t attempts = 0;
    std::string lastError;     // empty when the last attempt succeeded or none was made
    std::string nextAttemptAt; // UTC, for a pending mail
    std::string sentAt;        // UTC, for a sent mail
};

struct CaseDetail {
    CaseSummary summary;
    std::vector<CaseField> fields;  // every stored report field but the contact details
    bool anonymous = true;
    std::vector<CaseField> contact; // shown only after a reveal
    std::string outcome;
    // Kept past every retention period until released.
    bool legalHold = false;
    std::vector<CaseNote> notes;
    // None when the reporter left no e-mail address.
    std::optional<AcknowledgementMail> acknowledgementMail;
};

struct CaseFilter {
    std::string status;   // empty: every status but closed; "all": every status
    std::string category;
    std::string channel;
    std::string country;
    std::string assignee;     // "", "none" or an account id
    std::string receivedFrom; // YYYY-MM-DD, UTC
    std::string receivedTo;   // YYYY-MM-DD, UTC, inclusive
    std::string search;       // words, all of which must occur
    bool includeMerged = false; // duplicates merged into another report are left out unless set
};

inline const std::vector<std::string>& caseStatuses()
{
    static const std::vector<std::string> list = {"new", "acknowledged", "in_progress", "referred", "closed"};
    return list;
}

// What came of a closed case.
inline const std::vector<std::string>& caseOutcomes()
{
    static const std::vector<std::string> list = {"referred_to_police", "referred_to_partner", "advice_given",
        "no_action_possible", "outside_remit", "duplicate"};
    return list;
}

// A report taken by phone or e-mail and typed in by a caseworker, with the
// same fields as the public form.
struct ManualReport {
    std::string channel; // "phone" or "email"
    std::string language;
    std::string category;
    std::string country;
    std::string place;
    std::string occurred;
    std::string what;
    std::string contactName;
    std::string contactEmail;
    std::string contactPhone;
    bool consent = false;
    // The detailed answers by report_details column (ReportDetails.h);
    // an absent or empty answer is "not answered".
    std::map<std::string, std::string> details;
};

inline const std::vector<std::string>& manualChannels()
{
    static const std::vector<std::string> list = {"phone", "email"};
    return list;
}

class CaseError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Reads and changes cases: the reports table and the case work beside
// it. Every read of a report goes through here, so a new report column
// needs one line in reportFields(). Not thread-safe: the caller holds the
// database's lock.
class CaseQueries {
public:
    CaseQueries(storage::Database& database, Clock clock);

    // Throws CaseError for a malformed filter value (a date, an assignee).
    std::vector<CaseSummary> list(const CaseFilter& filter);
    std::optional<CaseDetail> find(std::int64_t id);

    // Throws CaseError for an unknown status, or a closing without a known
    // outcome. Any status but "new" counts as the acknowledgement, and the
    // first one is recorded in the statistics as in time when it comes no
    // later than `deadline`, the case's triage deadline.
    void setStatus(std::int64_t id, const std::string& status, const std::string& outcome, TimePoint deadline);
    void assign(std::int64_t id, std::int64_t accountId); // 0 to unassign
    // Sets or releases the legal hold that keeps a case and everything
    // under it past every retention period.
    void setLegalHold(std::int64_t id, bool held);
    // Throws CaseError for an empty or invalid note.
    void addNote(std::int64_t id, std::int64_t accountId, const std::string& text);

    // Stores a report taken by phone or e-mail, received now, and returns
    // its id. Throws CaseError naming the field to correct.
    std::int64_t addManualReport(const ManualReport& report);

    // The distinct values in use, for the filter menus.
    std::vector<std::string> distinctValues(const std::string& column);

private:
    void ensureState(std::int64_t id);

    storage::Database& database_;
    Clock clock_;
};

// Splits typed text at white space into at most 16 FTS5 queries of one
// quoted word each, so that FTS5 operators in the input are searched for
// as text.
std::vector<std::string> ftsWords(const std::string& typed);

} // namespace meldpunt::staff
