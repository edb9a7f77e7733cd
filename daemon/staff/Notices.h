#pragma once

// Content-free notices for staff with a case role: how many reports wait
// for their acknowledgement and how many of those near their triage
// deadline, on every page and by e-mail. A notice holds counts and a link,
// never a reference, category, country, text or reporter data.

#include "Clock.h"
#include "Database.h"
#include "TriageDeadline.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace meldpunt::staff {

struct NoticeCounts {
    std::int64_t waiting = 0; // reports not yet acknowledged
    std::int64_t dueSoon = 0; // of those, due within the warning time or overdue
};

// A notice e-mail due to one staff member: how many reports arrived and
// how many near their deadline since the last notice, and the events it
// covers, recorded as sent once the mail went out.
struct NoticeMail {
    std::int64_t accountId = 0;
    std::string recipient;
    int arrived = 0;
    int dueSoon = 0;
    std::vector<std::pair<std::int64_t, std::string>> events; // report id, "arrived" or "due_soon"
};

struct NoticeText {
    std::string subject;
    std::string body;
};

// Checks an e-mail address typed by an admin and returns it trimmed;
// empty stays empty (no notices). Throws AccountError saying what is
// wrong.
std::string validateNoticeEmail(const std::string& typed);

// The notice e-mail's text: the counts and `staffUrl` (when set), nothing
// about any report.
NoticeText noticeMailText(const NoticeMail& mail, std::chrono::hours dueSoon, const std::string& staffUrl);

// Notices and notice addresses in the database. Not thread-safe: the
// caller holds the database's lock.
class StaffNotices {
public:
    StaffNotices(storage::Database& database, const TriageDeadline& deadlines, std::chrono::hours dueSoon);

    NoticeCounts counts(TimePoint now);

    // The notice e-mails due now: one per active caseworker or coordinator
    // with an address who has events not yet mailed.
    std::vector<NoticeMail> dueMails(TimePoint now);
    void markSent(const NoticeMail& mail, TimePoint now);

    // Throws AccountError for an invalid address.
    void setNoticeEmail(std::int64_t accountId, const std::string& typed);
    std::string noticeEmail(std::int64_t accountId);
    // The notice addresses of the active admins, for health alerts.
    std::vector<std::string> adminAddresses();

private:
    struct Waiting {
        std::int64_t id = 0;
        bool dueSoon = false;
    };
    std::vector<Waiting> waitingReports(TimePoint now);

    storage::Database& database_;
    const TriageDeadline& deadlines_;
    std::chrono::hours dueSoon_;
};

} // namespace meldpunt::staff
