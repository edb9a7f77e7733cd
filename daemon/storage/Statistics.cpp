#include "Statistics.h"

#include "Crypto.h"
#include "ReportForm.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <regex>

namespace meldpunt::storage {

namespace {

constexpr std::array<std::string_view, 3> kChannels = { "form", "phone", "email" };
constexpr std::array<std::string_view, 6> kCaseOutcomes = { "referred_to_police",
    "referred_to_partner", "advice_given", "no_action_possible", "outside_remit", "duplicate" };
constexpr std::array<std::string_view, 4> kReferralOutcomes
    = { "received", "investigation_opened", "no_action", "closed" };

std::string dayOf(const std::string& receivedAt)
{
    static const std::regex day("([0-9]{4}-[0-9]{2}-[0-9]{2})T.*");
    std::smatch match;
    if (!std::regex_match(receivedAt, match, day))
        throw DatabaseError(DatabaseError::Kind::Constraint,
            "invalid receipt time '" + receivedAt
                + "': expected ISO 8601, such as 2026-07-14T16:30:00Z");
    return match[1];
}

// A country code typed in at manual intake may be in lower case.
std::string countryOrEmpty(const std::string& country)
{
    static const std::regex code("[A-Za-z]{2}");
    if (country == "unknown")
        return country;
    if (!std::regex_match(country, code))
        return {};
    std::string upper = country;
    for (char& letter : upper)
        letter = static_cast<char>(std::toupper(static_cast<unsigned char>(letter)));
    return upper;
}

template <std::size_t N>
bool isOneOf(const std::array<std::string_view, N>& list, const std::string& value)
{
    return std::find(list.begin(), list.end(), value) != list.end();
}

} // namespace

bool hasReceiptDay(const std::string& receivedAt)
{
    static const std::regex dayAndTime("[0-9]{4}-[0-9]{2}-[0-9]{2}T.*");
    return std::regex_match(receivedAt, dayAndTime);
}

std::string offeredOrEmpty(const std::string& field, const std::string& value)
{
    const FieldSpec* spec = ReportForm::field(field);
    if (spec == nullptr || spec->kind != FieldKind::Choice)
        return {};
    const auto& options = spec->options;
    return std::find(options.begin(), options.end(), value) != options.end() ? value
                                                                             : std::string();
}

// A category the form offers or offered: its own, or one a coordinator
// added (site_categories keeps disabled ones too).
std::string knownCategoryOrEmpty(Database& database, const std::string& category)
{
    if (!offeredOrEmpty("category", category).empty())
        return category;
    auto row = database.prepare("SELECT EXISTS (SELECT 1 FROM site_categories WHERE code = ?)");
    row.bind(1, category);
    return row.step() && row.columnInt(0) != 0 ? category : std::string();
}

void recordReport(Database& database, std::int64_t reportId, const StatisticsFacts& facts)
{
    const auto id = crypto::randomBytes(16);
    auto insert
        = database.prepare("INSERT INTO statistics_reports (id, received_day, channel, category, "
                           "country, reporter_age, "
                           "reporter_gender, found_via, suspect_age, suspect_gender, child_age, "
                           "child_gender, anonymous, "
                           "with_attachments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, std::span<const std::uint8_t>(id)).bind(2, dayOf(facts.receivedAt));
    insert.bind(3, isOneOf(kChannels, facts.channel) ? facts.channel : std::string("other"));
    insert.bind(4, knownCategoryOrEmpty(database, facts.category))
        .bind(5, countryOrEmpty(facts.country));
    int column = 6;
    for (const auto& [field, value] : { std::pair { "reporter_age", &facts.reporterAge },
             std::pair { "reporter_gender", &facts.reporterGender },
             std::pair { "found_via", &facts.foundVia },
             std::pair { "suspect_age", &facts.suspectAge },
             std::pair { "suspect_gender", &facts.suspectGender },
             std::pair { "child_age", &facts.childAge },
             std::pair { "child_gender", &facts.childGender } })
        insert.bind(column++, offeredOrEmpty(field, *value));
    insert.bind(13, std::int64_t { facts.anonymous ? 1 : 0 });
    insert.bind(14, std::int64_t { facts.withAttachments ? 1 : 0 });
    insert.run();
    database.prepare("UPDATE reports SET statistics_id = ? WHERE id = ?")
        .bind(1, std::span<const std::uint8_t>(id))
        .bind(2, reportId)
        .run();
}

void recordAcknowledgement(Database& database, std::int64_t reportId, bool inTime)
{
    database
        .prepare("UPDATE statistics_reports SET acknowledgement = ? WHERE "
                 "acknowledgement = 'pending' "
                 "AND id = (SELECT statistics_id FROM reports WHERE id = ?)")
        .bind(1, std::string(inTime ? "in_time" : "late"))
        .bind(2, reportId)
        .run();
}

void recordClosing(Database& database, std::int64_t reportId, const std::string& outcome)
{
    database
        .prepare("UPDATE statistics_reports SET closed_outcome = ? "
                 "WHERE id = (SELECT statistics_id FROM reports WHERE id = ?)")
        .bind(1, isOneOf(kCaseOutcomes, outcome) ? outcome : std::string())
        .bind(2, reportId)
        .run();
}

void recordReferral(Database& database, std::int64_t reportId, PartnerKind kind)
{
    const char* column = kind == PartnerKind::Police ? "referred_police"
        : kind == PartnerKind::Hotline               ? "referred_hotline"
                                                     : "referred_other";
    database
        .prepare(std::string("UPDATE statistics_reports SET ") + column
            + " = 1 WHERE id = (SELECT statistics_id FROM reports WHERE id = ?)")
        .bind(1, reportId)
        .run();
}

void recordReferralOutcome(Database& database, std::int64_t referralId, const std::string& outcome)
{
    if (!isOneOf(kReferralOutcomes, outcome))
        return;
    database
        .prepare("UPDATE statistics_reports SET referral_outcome = ? WHERE id = "
                 "(SELECT r.statistics_id "
                 "FROM reports r JOIN referrals f ON f.report_id = r.id WHERE "
                 "f.id = ?)")
        .bind(1, outcome)
        .bind(2, referralId)
        .run();
}

} // namespace meldpunt::storage
