#include "Notices.h"

#include "Accounts.h"

#include <algorithm>
#include <map>
#include <set>

namespace meldpunt::staff {

namespace {

constexpr std::size_t kMaxEmailBytes = 254; // RFC 5321's limit on a forward path

std::string trimmed(const std::string& text)
{
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos)
        return {};
    return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

std::string plural(std::int64_t count, const std::string& one, const std::string& many)
{
    return std::to_string(count) + " " + (count == 1 ? one : many);
}

} // namespace

std::string validateNoticeEmail(const std::string& typed)
{
    const std::string address = trimmed(typed);
    if (address.empty())
        return address;
    if (address.size() > kMaxEmailBytes)
        throw AccountError("The e-mail address is longer than 254 characters. Type a shorter address.");
    const bool printable = std::all_of(address.begin(), address.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte > 0x20 && byte < 0x7f && c != '<' && c != '>' && c != ',' && c != ';' && c != '"' && c != '\\';
    });
    if (!printable)
        throw AccountError("The e-mail address contains a space, a comma or another character that an address "
                           "cannot hold. Type one plain address such as name@example.org.");
    const auto at = address.find('@');
    if (at == std::string::npos || at == 0 || address.find('@', at + 1) != std::string::npos)
        throw AccountError("The e-mail address needs exactly one @ with a name before it, as in name@example.org.");
    const std::string domain = address.substr(at + 1);
    if (domain.empty() || domain.front() == '.' || domain.back() == '.' || domain.find("..") != std::string::npos
        || domain.find('.') == std::string::npos)
        throw AccountError("The part after the @ is not a domain name. Type an address such as name@example.org.");
    return address;
}

NoticeText noticeMailText(const NoticeMail& mail, std::chrono::hours dueSoon, const std::string& staffUrl)
{
    NoticeText text;
    std::vector<std::string> parts;
    if (mail.arrived > 0)
        parts.push_back(plural(mail.arrived, "new report", "new reports"));
    if (mail.dueSoon > 0)
        parts.push_back(plural(mail.dueSoon, "report", "reports") + " due soon");
    text.subject = "Meldpunt: ";
    for (std::size_t index = 0; index < parts.size(); ++index)
        text.subject += (index == 0 ? "" : ", ") + parts[index];
    text.body = "This is a notice from the Meldpunt staff interface.\n\n";
    if (mail.arrived == 1)
        text.body += "1 new report waits for its acknowledgement.\n";
    else if (mail.arrived > 1)
        text.body += std::to_string(mail.arrived) + " new reports wait for their acknowledgement.\n";
    if (mail.dueSoon > 0)
        text.body += (mail.dueSoon == 1 ? "1 report is" : std::to_string(mail.dueSoon) + " reports are")
            + std::string(" due within ") + std::to_string(dueSoon.count()) + " hours or overdue.\n";
    text.body += "\nLog in to the staff interface to read and acknowledge them";
    text.body += staffUrl.empty() ? std::string(".\n") : ":\n" + staffUrl + "\n";
    text.body += "\nThis e-mail holds no case content on purpose.\n";
    return text;
}

StaffNotices::StaffNotices(storage::Database& database, const TriageDeadline& deadlines, std::chrono::hours dueSoon)
    : database_(database)
    , deadlines_(deadlines)
    , dueSoon_(dueSoon)
{
}

std::vector<StaffNotices::Waiting> StaffNotices::waitingReports(TimePoint now)
{
    // The same test as the inbox's: a report is acknowledged once a
    // caseworker changed its status away from "new".
    auto query = database_.prepare("SELECT r.id, r.received_at FROM reports r "
                                   "LEFT JOIN case_state c ON c.report_id = r.id "
                                   "WHERE r.status = 'new' AND c.acknowledged_at IS NULL");
    std::vector<Waiting> reports;
    while (query.step()) {
        Waiting report;
        report.id = query.columnInt(0);
        try {
            const auto urgency = TriageDeadline::urgency(deadlines_.deadlineFor(parseUtc(query.columnText(1))), now,
                dueSoon_);
            report.dueSoon = urgency != TriageDeadline::Urgency::Normal;
        } catch (const std::invalid_argument&) {
            // A receipt time that is not ISO 8601 has no deadline to near.
        }
        reports.push_back(report);
    }
    return reports;
}

NoticeCounts StaffNotices::counts(TimePoint now)
{
    NoticeCounts counts;
    for (const auto& report : waitingReports(now)) {
        ++counts.waiting;
        if (report.dueSoon)
            ++counts.dueSoon;
    }
    return counts;
}

std::vector<NoticeMail> StaffNotices::dueMails(TimePoint now)
{
    std::vector<NoticeMail> mails;
    const auto reports = waitingReports(now);
    if (reports.empty())
        return mails;
    auto accounts = database_.prepare("SELECT id, notice_email FROM staff_accounts "
                                      "WHERE role IN ('caseworker', 'coordinator') AND disabled_at IS NULL "
                                      "AND notice_email IS NOT NULL AND notice_email <> '' ORDER BY id");
    while (accounts.step()) {
        NoticeMail mail;
        mail.accountId = accounts.columnInt(0);
        mail.recipient = accounts.columnText(1);
        std::set<std::pair<std::int64_t, std::string>> sent;
        auto previous = database_.prepare("SELECT report_id, event FROM staff_notices_sent WHERE account_id = ?");
        previous.bind(1, mail.accountId);
        while (previous.step())
            sent.emplace(previous.columnInt(0), previous.columnText(1));
        for (const auto& report : reports) {
            if (!sent.contains({report.id, "arrived"})) {
                mail.events.emplace_back(report.id, "arrived");
                ++mail.arrived;
            }
            if (report.dueSoon && !sent.contains({report.id, "due_soon"})) {
                mail.events.emplace_back(report.id, "due_soon");
                ++mail.dueSoon;
            }
        }
        if (!mail.events.empty())
            mails.push_back(std::move(mail));
    }
    return mails;
}

void StaffNotices::markSent(const NoticeMail& mail, TimePoint now)
{
    const std::string at = formatUtc(now);
    database_.transaction([&] {
        for (const auto& [reportId, event] : mail.events) {
            // The report may have been deleted since; then there is nothing
            // to remember.
            database_.prepare("INSERT OR IGNORE INTO staff_notices_sent (account_id, report_id, event, sent_at) "
                              "SELECT ?, id, ?, ? FROM reports WHERE id = ?")
                .bind(1, mail.accountId)
                .bind(2, event)
                .bind(3, at)
                .bind(4, reportId)
                .run();
        }
    });
}

void StaffNotices::setNoticeEmail(std::int64_t accountId, const std::string& typed)
{
    const std::string address = validateNoticeEmail(typed);
    auto statement = database_.prepare("UPDATE staff_accounts SET notice_email = ? WHERE id = ?");
    if (address.empty())
        statement.bindNull(1);
    else
        statement.bind(1, address);
    statement.bind(2, accountId).run();
}

std::string StaffNotices::noticeEmail(std::int64_t accountId)
{
    auto query = database_.prepare("SELECT coalesce(notice_email, '') FROM staff_accounts WHERE id = ?");
    query.bind(1, accountId);
    return query.step() ? query.columnText(0) : std::string();
}

std::vector<std::string> StaffNotices::adminAddresses()
{
    auto query = database_.prepare("SELECT notice_email FROM staff_accounts WHERE role = 'admin' "
                                   "AND disabled_at IS NULL AND notice_email IS NOT NULL AND notice_email <> '' "
                                   "ORDER BY id");
    std::vector<std::string> addresses;
    while (query.step())
        addresses.push_back(query.columnText(0));
    return addresses;
}

} // namespace meldpunt::staff
