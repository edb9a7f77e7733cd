#include "CaseQueries.h"

#include "FormData.h"
#include "ReportDetails.h"
#include "Spool.h"
#include "Statistics.h"
#include "Uuid.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <regex>

namespace meldpunt::staff {

namespace {

constexpr std::size_t kMaxNoteBytes = 20000;
constexpr std::size_t kMaxSearchWords = 16;

struct ReportColumn {
    const char* name;
    const char* label;
};

// The report fields shown on the case page, in order. Contact details are
// kept apart, because they stay hidden until revealed.
const std::vector<ReportColumn>& reportFields()
{
    static const std::vector<ReportColumn> list = {
        {"reference", "Reference"},
        {"received_at", "Received (UTC)"},
        {"language", "Language of the form"},
        {"channel", "Channel"},
        {"category", "Category"},
        {"country", "Country"},
        {"place", "Where"},
        {"occurred", "When"},
        {"what", "What happened"},
        {"consent", "Consent given"},
    };
    return list;
}

const std::vector<ReportColumn>& contactFields()
{
    static const std::vector<ReportColumn> list = {
        {"contact_name", "Name"},
        {"contact_email", "E-mail address"},
        {"contact_phone", "Phone number"},
    };
    return list;
}

// A calendar date in the form YYYY-MM-DD; 2026-13-45 has the form but is
// no date.
bool isDate(const std::string& text)
{
    static const std::regex pattern("[0-9]{4}-[0-9]{2}-[0-9]{2}");
    if (!std::regex_match(text, pattern))
        return false;
    const int year = std::stoi(text.substr(0, 4));
    const unsigned month = static_cast<unsigned>(std::stoi(text.substr(5, 2)));
    const unsigned day = static_cast<unsigned>(std::stoi(text.substr(8, 2)));
    return std::chrono::year_month_day {std::chrono::year {year}, std::chrono::month {month}, std::chrono::day {day}}.ok();
}

constexpr const char* kSummaryColumns =
    "r.id, r.reference, r.received_at, r.status, r.category, r.channel, r.country, "
    "coalesce(c.assignee_id, 0), coalesce(a.username, ''), c.acknowledged_at IS NOT NULL";

CaseSummary readSummary(const storage::Statement& row)
{
    CaseSummary summary;
    summary.id = row.columnInt(0);
    summary.reference = row.columnText(1);
    summary.receivedAt = parseUtc(row.columnText(2));
    summary.status = row.columnText(3);
    summary.category = row.columnText(4);
    summary.channel = row.columnText(5);
    summary.country = row.columnText(6);
    summary.assigneeId = row.columnInt(7);
    summary.assigneeName = row.columnText(8);
    summary.acknowledged = row.columnInt(9) == 1 || summary.status != "new";
    return summary;
}

// A filter as SQL conditions with their values, bound in order.
struct Conditions {
    std::string sql;
    std::vector<std::string> values;

    void add(const std::string& condition, const std::string& value)
    {
        sql += " AND " + condition;
        values.push_back(value);
    }
};

Conditions conditionsFor(const CaseFilter& filter)
{
    Conditions conditions;
    if (filter.status.empty())
        conditions.sql += " AND r.status <> 'closed'";
    else if (filter.status != "all") {
        if (std::find(caseStatuses().begin(), caseStatuses().end(), filter.status) == caseStatuses().end())
            throw CaseError("The status '" + filter.status + "' does not exist. Choose one from the list.");
        conditions.add("r.status = ?", filter.status);
    }
    if (!filter.category.empty())
        conditions.add("r.category = ?", filter.category);
    if (!filter.channel.empty())
        conditions.add("r.channel = ?", filter.channel);
    if (!filter.country.empty())
        conditions.add("r.country = ?", filter.country);
    if (filter.assignee == "none")
        conditions.sql += " AND c.assignee_id IS NULL";
    else if (!filter.assignee.empty()) {
        std::int64_t id = 0;
        const auto [end, error] = std::from_chars(filter.assignee.data(), filter.assignee.data() + filter.assignee.size(), id);
        if (error != std::errc() || end != filter.assignee.data() + filter.assignee.size())
            throw CaseError("The assignee filter is invalid. Choose a staff member from the list.");
        conditions.add("c.assignee_id = ?", filter.assignee);
    }
    for (const auto& [date, condition] : {std::pair{filter.receivedFrom, "r.received_at >= ?"},
             std::pair{filter.receivedTo, "r.received_at < date(?, '+1 day')"}}) {
        if (date.empty())
            continue;
        if (!isDate(date))
            throw CaseError("The date '" + date + "' is invalid. Use the form YYYY-MM-DD.");
        conditions.add(condition, date);
    }
    if (!filter.includeMerged)
        conditions.sql += " AND r.id NOT IN (SELECT duplicate_id FROM case_merges)";
    // Each word must occur in the report's text or in one of its notes.
    for (const std::string& word : ftsWords(filter.search)) {
        conditions.sql += " AND (r.id IN (SELECT rowid FROM report_search WHERE report_search MATCH ?) "
                          "OR r.id IN (SELECT report_id FROM case_notes WHERE id IN "
                          "(SELECT rowid FROM note_search WHERE note_search MATCH ?)))";
        conditions.values.push_back(word);
        conditions.values.push_back(word);
    }
    return conditions;
}

} // namespace

std::vector<std::string> ftsWords(const std::string& typed)
{
    // Spaces and control characters separate words. FTS5 stops reading its
    // query at a NUL byte, so a NUL inside a word would leave a quoted
    // string open and fail the search.
    const auto separates = [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; };
    std::vector<std::string> words;
    auto position = typed.begin();
    while (position != typed.end() && words.size() < kMaxSearchWords) {
        const auto start = std::find_if_not(position, typed.end(), separates);
        if (start == typed.end())
            break;
        const auto end = std::find_if(start, typed.end(), separates);
        const std::string word(start, end);
        std::string quoted = "\"";
        for (char c : word) {
            quoted += c;
            if (c == '"')
                quoted += '"';
        }
        words.push_back(quoted + "\"");
        position = end;
    }
    return words;
}

CaseQueries::CaseQueries(storage::Database& database, Clock clock)
    : database_(database)
    , clock_(std::move(clock))
{
}

std::vector<CaseSummary> CaseQueries::list(const CaseFilter& filter)
{
    const Conditions conditions = conditionsFor(filter);
    auto query = database_.prepare(std::string("SELECT ") + kSummaryColumns
        + " FROM reports r LEFT JOIN case_state c ON c.report_id = r.id "
          "LEFT JOIN staff_accounts a ON a.id = c.assignee_id WHERE 1 = 1"
        + conditions.sql + " ORDER BY r.received_at, r.id");
    for (std::size_t index = 0; index < conditions.values.size(); ++index)
        query.bind(static_cast<int>(index + 1), conditions.values[index]);
    std::vector<CaseSummary> cases;
    while (query.step())
        cases.push_back(readSummary(query));
    return cases;
}

std::optional<CaseDetail> CaseQueries::find(std::int64_t id)
{
    auto summaryQuery = database_.prepare(std::string("SELECT ") + kSummaryColumns
        + ", r.anonymous, coalesce(c.outcome, ''), coalesce(c.legal_hold, 0) FROM reports r LEFT JOIN case_state c ON c.report_id = r.id "
          "LEFT JOIN staff_accounts a ON a.id = c.assignee_id WHERE r.id = ?");
    summaryQuery.bind(1, id);
    if (!summaryQuery.step())
        return std::nullopt;
    CaseDetail detail;
    detail.summary = readSummary(summaryQuery);
    detail.anonymous = summaryQuery.columnInt(10) == 1;
    detail.outcome = summaryQuery.columnText(11);
    detail.legalHold = summaryQuery.columnInt(12) == 1;

    for (const auto* fields : {&reportFields(), &contactFields()}) {
        for (const auto& column : *fields) {
            auto value = database_.prepare(std::string("SELECT coalesce(") + column.name + ", '') FROM reports WHERE id = ?");
            value.bind(1, id);
            value.step();
            auto& target = fields == &reportFields() ? detail.fields : detail.contact;
            std::string text = value.columnText(0);
            if (std::string_view(column.name) == "consent")
                text = text == "1" ? "Yes" : "No";
            target.push_back({column.name, column.label, text});
        }
    }
    auto notes = database_.prepare("SELECT n.id, n.at, coalesce(a.username, ''), n.text FROM case_notes n "
                                   "LEFT JOIN staff_accounts a ON a.id = n.account_id WHERE n.report_id = ? ORDER BY n.id");
    notes.bind(1, id);
    while (notes.step())
        detail.notes.push_back({notes.columnInt(0), notes.columnText(1), notes.columnText(2), notes.columnText(3)});
    // The recipient is contact data and stays out of this view; the relay's
    // error had the address replaced before it was stored.
    auto mail = database_.prepare("SELECT state, attempts, coalesce(last_error, ''), next_attempt_at, "
                                  "coalesce(sent_at, '') FROM email_outbox WHERE report_id = ? ORDER BY id DESC LIMIT 1");
    mail.bind(1, id);
    if (mail.step())
        detail.acknowledgementMail = AcknowledgementMail{mail.columnText(0), mail.columnInt(1), mail.columnText(2),
            mail.columnText(3), mail.columnText(4)};
    return detail;
}

void CaseQueries::ensureState(std::int64_t id)
{
    database_.prepare("INSERT OR IGNORE INTO case_state (report_id, updated_at) VALUES (?, ?)")
        .bind(1, id)
        .bind(2, formatUtc(clock_()))
        .run();
}

void CaseQueries::setStatus(std::int64_t id, const std::string& status, const std::string& outcome,
    TimePoint deadline)
{
    if (std::find(caseStatuses().begin(), caseStatuses().end(), status) == caseStatuses().end())
        throw CaseError("The status '" + status + "' does not exist. Choose one from the list.");
    const bool closing = status == "closed";
    if (closing && std::find(caseOutcomes().begin(), caseOutcomes().end(), outcome) == caseOutcomes().end())
        throw CaseError("A case is closed with an outcome. Choose what came of it from the list.");
    const std::string now = formatUtc(clock_());
    database_.transaction([&] {
        ensureState(id);
        auto state = database_.prepare("SELECT acknowledged_at IS NULL FROM case_state WHERE report_id = ?");
        state.bind(1, id);
        const bool firstAcknowledgement = state.step() && state.columnInt(0) == 1 && status != "new";
        if (firstAcknowledgement)
            storage::recordAcknowledgement(database_, id, clock_() <= deadline);
        if (closing)
            storage::recordClosing(database_, id, outcome);
        database_.prepare("UPDATE reports SET status = ? WHERE id = ?").bind(1, status).bind(2, id).run();
        // closed_at starts the retention period after closing; a case
        // opened again loses it.
        auto update = database_.prepare("UPDATE case_state SET outcome = ?1, updated_at = ?2, "
                                        "acknowledged_at = CASE WHEN ?3 <> 'new' THEN coalesce(acknowledged_at, ?2) "
                                        "ELSE acknowledged_at END, "
                                        "closed_at = CASE WHEN ?3 = 'closed' THEN coalesce(closed_at, ?2) ELSE NULL END "
                                        "WHERE report_id = ?4");
        update.bind(1, closing ? outcome : std::string()).bind(2, now).bind(3, status).bind(4, id).run();
    });
}

void CaseQueries::setLegalHold(std::int64_t id, bool held)
{
    database_.transaction([&] {
        ensureState(id);
        database_.prepare("UPDATE case_state SET legal_hold = ?, updated_at = ? WHERE report_id = ?")
            .bind(1, std::int64_t{held ? 1 : 0})
            .bind(2, formatUtc(clock_()))
            .bind(3, id)
            .run();
    });
}

void CaseQueries::assign(std::int64_t id, std::int64_t accountId)
{
    database_.transaction([&] {
        ensureState(id);
        auto update = database_.prepare("UPDATE case_state SET assignee_id = ?, updated_at = ? WHERE report_id = ?");
        if (accountId == 0)
            update.bindNull(1);
        else
            update.bind(1, accountId);
        update.bind(2, formatUtc(clock_())).bind(3, id).run();
    });
}

void CaseQueries::addNote(std::int64_t id, std::int64_t accountId, const std::string& text)
{
    if (!hasVisibleText(text))
        throw CaseError("The note is empty. Write the note, then save it.");
    if (text.size() > kMaxNoteBytes)
        throw CaseError("The note is too long. Keep it under " + std::to_string(kMaxNoteBytes) + " bytes, or split it.");
    if (!isValidUtf8(text) || hasForbiddenControl(text))
        throw CaseError("The note contains control characters. Remove them and save again.");
    database_.prepare("INSERT INTO case_notes (report_id, account_id, at, text) VALUES (?, ?, ?, ?)")
        .bind(1, id)
        .bind(2, accountId)
        .bind(3, formatUtc(clock_()))
        .bind(4, text)
        .run();
}

namespace {

void checkText(const std::string& text, const std::string& field, bool required)
{
    if (required && !hasVisibleText(text))
        throw CaseError("The field '" + field + "' is empty. Fill it in, then save the report.");
    if (text.size() > kMaxNoteBytes)
        throw CaseError("The field '" + field + "' is too long. Keep it under " + std::to_string(kMaxNoteBytes) + " bytes.");
    if (!isValidUtf8(text) || hasForbiddenControl(text))
        throw CaseError("The field '" + field + "' contains control characters. Remove them and save again.");
}

} // namespace

std::int64_t CaseQueries::addManualReport(const ManualReport& report)
{
    if (std::find(manualChannels().begin(), manualChannels().end(), report.channel) == manualChannels().end())
        throw CaseError("Choose whether the report came by phone or by e-mail.");
    checkText(report.what, "What happened", true);
    for (const auto& [text, field] : {std::pair{report.place, "Where"}, std::pair{report.occurred, "When"},
             std::pair{report.category, "Category"}, std::pair{report.country, "Country"},
             std::pair{report.language, "Language"}, std::pair{report.contactName, "Name"},
             std::pair{report.contactPhone, "Phone number"}, std::pair{report.contactEmail, "E-mail address"}})
        checkText(text, field, false);
    if (!report.contactEmail.empty() && !looksLikeEmail(report.contactEmail))
        throw CaseError("The e-mail address '" + report.contactEmail + "' is invalid. Correct it or leave it empty.");
    checkReportDetails(report.details);
    const bool anonymous = report.contactName.empty() && report.contactEmail.empty() && report.contactPhone.empty();
    // A report typed in has no spool file, but it gets an entry id like
    // every other report, so its reference has the same form.
    const Uuid uuid = Uuid::generate();
    const std::string now = formatUtc(clock_());
    std::int64_t id = 0;
    database_.transaction([&] {
        database_.prepare("INSERT INTO spool_entries (entry_uuid, kind, ingested_at) VALUES (?, ?, ?)")
            .bind(1, std::span<const std::uint8_t>(uuid.bytes))
            .bind(2, static_cast<std::int64_t>(spool::EntryKind::Report))
            .bind(3, now)
            .run();
        auto insert = database_.prepare(
            "INSERT INTO reports (entry_uuid, reference, received_at, ingested_at, language, channel, category, "
            "country, place, occurred, what, anonymous, contact_name, contact_email, contact_phone, consent) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        insert.bind(1, std::span<const std::uint8_t>(uuid.bytes)).bind(2, referenceFromUuid(uuid)).bind(3, now);
        insert.bind(4, now).bind(5, report.language).bind(6, report.channel).bind(7, report.category);
        insert.bind(8, report.country).bind(9, report.place).bind(10, report.occurred).bind(11, report.what);
        insert.bind(12, std::int64_t{anonymous ? 1 : 0});
        int column = 13;
        for (const std::string* value : {&report.contactName, &report.contactEmail, &report.contactPhone}) {
            if (anonymous || value->empty())
                insert.bindNull(column++);
            else
                insert.bind(column++, *value);
        }
        insert.bind(16, std::int64_t{report.consent ? 1 : 0});
        insert.run();
        id = database_.lastInsertId();
        storeReportDetails(database_, id, report.details);
        const auto answer = [&](const char* name) {
            const auto found = report.details.find(name);
            return found == report.details.end() ? std::string() : found->second;
        };
        storage::StatisticsFacts facts;
        facts.reporterAge = answer("reporter_age");
        facts.reporterGender = answer("reporter_gender");
        facts.foundVia = answer("found_via");
        facts.suspectAge = answer("suspect_age");
        facts.suspectGender = answer("suspect_gender");
        facts.childAge = answer("child_age");
        facts.childGender = answer("child_gender");
        facts.receivedAt = now;
        facts.channel = report.channel;
        facts.category = report.category;
        facts.country = report.country;
        facts.anonymous = anonymous;
        storage::recordReport(database_, id, facts);
    });
    return id;
}

std::vector<std::string> CaseQueries::distinctValues(const std::string& column)
{
    static const std::vector<std::string> allowed = {"category", "channel", "country"};
    if (std::find(allowed.begin(), allowed.end(), column) == allowed.end())
        throw std::invalid_argument("no filter on the column '" + column + "'");
    auto query = database_.prepare("SELECT DISTINCT " + column + " FROM reports WHERE " + column + " <> '' ORDER BY 1");
    std::vector<std::string> values;
    while (query.step())
        values.push_back(query.columnText(0));
    return values;
}

} // namespace meldpunt::staff
