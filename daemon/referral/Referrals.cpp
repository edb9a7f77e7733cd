#include "Referrals.h"

#include "Database.h"
#include "PartnerRegistry.h"
#include "Statistics.h"
#include "Uuid.h"

#include <algorithm>
#include <map>

namespace meldpunt::referral {

namespace {

constexpr std::string_view kRedactionMark = "[redacted]";

struct ReportRow {
    std::string reference;
    std::map<std::string, std::string> fields;
};

std::optional<ReportRow> readReport(storage::Database& database, std::int64_t reportId)
{
    auto row
        = database.prepare("SELECT reference, received_at, language, category, country, place, "
                           "occurred, what, anonymous, contact_name, contact_email, contact_phone "
                           "FROM reports WHERE id = ?1");
    row.bind(1, reportId);
    if (!row.step())
        return std::nullopt;
    ReportRow report;
    report.reference = row.columnText(0);
    for (std::size_t index = 0; index < kReferableFields.size(); ++index) {
        const int column = static_cast<int>(index) + 1;
        if (kReferableFields[index] == "anonymous")
            report.fields["anonymous"] = row.columnInt(column) != 0 ? "yes" : "no";
        else if (!row.columnIsNull(column))
            report.fields[kReferableFields[index]] = row.columnText(column);
    }
    return report;
}

void replaceAll(std::string& text, const std::string& passage)
{
    if (passage.empty())
        return;
    for (auto found = text.find(passage); found != std::string::npos;
         found = text.find(passage, found + kRedactionMark.size()))
        text.replace(found, passage.size(), kRedactionMark);
}

void checkRequest(const ReferralRequest& request)
{
    const auto known = [](const std::string& name) {
        return std::find(kReferableFields.begin(), kReferableFields.end(), name)
            != kReferableFields.end();
    };
    for (const auto& name : request.fields)
        if (!known(name))
            throw ReferralRequestError(
                "the field '" + name + "' cannot be referred; choose from the report's fields");
    if (request.scope == ReferralScope::UrlsOnly) {
        if (!request.attachments.empty())
            throw ReferralRequestError(
                "a URL-only referral carries no files; remove the attachments");
        if (request.urls.empty())
            throw ReferralRequestError("a URL-only referral needs at least one URL");
    }
    for (const auto& url : request.urls)
        if (!url.starts_with("http://") && !url.starts_with("https://"))
            throw ReferralRequestError("'" + url + "' is not an http or https URL");
}

Manifest buildManifest(const ReferralRequest& request, const ReportRow& report,
    const Partner& partner, const std::string& uuid, const std::string& now)
{
    Manifest manifest;
    manifest.referral = uuid;
    manifest.createdAt = now;
    manifest.partner = partner.name;
    manifest.reportReference = report.reference;
    manifest.coverNote = request.coverNote;
    manifest.urls = request.urls;
    for (const auto& name : request.fields) {
        if (std::find(request.redactedFields.begin(), request.redactedFields.end(), name)
            != request.redactedFields.end())
            continue;
        const auto value = report.fields.find(name);
        if (value == report.fields.end())
            continue;
        std::string text = value->second;
        for (const auto& passage : request.redactedPassages)
            replaceAll(text, passage);
        manifest.fields[name] = text;
    }
    manifest.redacted = request.redactedFields;
    return manifest;
}

storage::PartnerKind statisticsKind(PartnerKind kind)
{
    switch (kind) {
    case PartnerKind::Police: return storage::PartnerKind::Police;
    case PartnerKind::Hotline: return storage::PartnerKind::Hotline;
    case PartnerKind::Other: return storage::PartnerKind::Other;
    }
    return storage::PartnerKind::Other;
}

// Stores the referral and its sealed files, and marks the report's
// statistics record as referred to a partner of this kind.
void insertReferral(storage::Database& database, const ReferralRequest& request,
    const SealedReferral& sealed, storage::PartnerKind kind, const std::string& now,
    QueuedReferral& queued)
{
    database.transaction([&] {
        database
            .prepare("INSERT INTO referrals (uuid, report_id, partner_id, state, manifest_sha256, "
                     "created_at, next_attempt_at) VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?5)")
            .bind(1, queued.uuid)
            .bind(2, request.reportId)
            .bind(3, request.partnerId)
            .bind(4, sealed.manifestSha256)
            .bind(5, now)
            .run();
        queued.id = database.lastInsertId();
        for (std::size_t index = 0; index < sealed.files.size(); ++index)
            database
                .prepare("INSERT INTO referral_files (referral_id, position, name, content) "
                         "VALUES (?1, ?2, ?3, ?4)")
                .bind(1, queued.id)
                .bind(2, static_cast<std::int64_t>(index))
                .bind(3, sealed.files[index].name)
                .bind(4, std::span<const std::uint8_t>(sealed.files[index].content))
                .run();
        storage::recordReferral(database, request.reportId, kind);
    });
}

ReferralState stateFromText(const std::string& text)
{
    if (text == "delivered")
        return ReferralState::Delivered;
    if (text == "failed")
        return ReferralState::Failed;
    if (text == "retracted")
        return ReferralState::Retracted;
    return ReferralState::Queued;
}

} // namespace

std::string toString(ReferralState state)
{
    switch (state) {
    case ReferralState::Queued: return "queued";
    case ReferralState::Delivered: return "delivered";
    case ReferralState::Failed: return "failed";
    case ReferralState::Retracted: return "retracted";
    }
    return "queued";
}

std::optional<Outcome> outcomeFromString(const std::string& text)
{
    if (text == "received")
        return Outcome::Received;
    if (text == "investigation_opened")
        return Outcome::InvestigationOpened;
    if (text == "no_action")
        return Outcome::NoAction;
    if (text == "closed")
        return Outcome::Closed;
    return std::nullopt;
}

std::string toString(Outcome outcome)
{
    switch (outcome) {
    case Outcome::Received: return "received";
    case Outcome::InvestigationOpened: return "investigation_opened";
    case Outcome::NoAction: return "no_action";
    case Outcome::Closed: return "closed";
    }
    return "received";
}

Referrals::Referrals(storage::Database& database, std::mutex& databaseMutex, HotlineSigner signer)
    : database_(database)
    , databaseMutex_(databaseMutex)
    , signer_(std::move(signer))
{
}

QueuedReferral Referrals::refer(const ReferralRequest& request, const std::string& now)
{
    checkRequest(request);
    std::optional<ReportRow> report;
    std::optional<Partner> partner;
    {
        std::lock_guard lock(databaseMutex_);
        report = readReport(database_, request.reportId);
        partner = findPartner(database_, request.partnerId);
    }
    if (!report)
        throw ReferralRequestError(
            "report " + std::to_string(request.reportId) + " does not exist");
    if (!partner)
        throw ReferralRequestError("partner " + std::to_string(request.partnerId)
            + " does not exist; import it into the partner registry first");
    if (partner->disabled)
        throw ReferralRequestError("partner '" + partner->name
            + "' is disabled; choose another partner or ask a coordinator to enable it");

    QueuedReferral queued;
    queued.uuid = Uuid::generate().toString();
    SealedReferral sealed;
    try {
        const auto recipient
            = Certificate::fromPem(partner->encryptionCertificatePem, "the encryption certificate");
        sealed = sealReferral(buildManifest(request, *report, *partner, queued.uuid, now),
            request.attachments, signer_, recipient);
    } catch (const ReferralError& error) {
        throw ReferralRequestError(std::string("sealing the referral failed: ") + error.what());
    }
    std::lock_guard lock(databaseMutex_);
    insertReferral(database_, request, sealed, statisticsKind(partner->kind), now, queued);
    return queued;
}

RetractResult Referrals::retract(std::int64_t referralId, const std::string& now)
{
    std::lock_guard lock(databaseMutex_);
    return retractReferral(database_, referralId, now);
}

std::vector<ReferralStatus> Referrals::listForReport(std::int64_t reportId)
{
    std::lock_guard lock(databaseMutex_);
    return referralsOfReport(database_, reportId);
}

RetractResult retractReferral(storage::Database& database, std::int64_t referralId, const std::string& now)
{
    auto row = database.prepare("SELECT state, sending FROM referrals WHERE id = ?1");
    row.bind(1, referralId);
    if (!row.step())
        return RetractResult::NotFound;
    if (row.columnText(0) != "queued")
        return RetractResult::NotQueued;
    if (row.columnInt(1) != 0)
        return RetractResult::BeingSent;
    database.transaction([&] {
        database
            .prepare("UPDATE referrals SET state = 'retracted', next_attempt_at = NULL, "
                     "finished_at = ?2 "
                     "WHERE id = ?1 AND state = 'queued' AND sending = 0")
            .bind(1, referralId)
            .bind(2, now)
            .run();
        // The sealed files are of no use once the referral cannot go.
        database.prepare("DELETE FROM referral_files WHERE referral_id = ?1")
            .bind(1, referralId)
            .run();
    });
    return RetractResult::Retracted;
}

std::vector<ReferralStatus> referralsOfReport(storage::Database& database, std::int64_t reportId)
{
    auto rows = database.prepare(
        "SELECT r.id, r.uuid, p.name, r.state, r.created_at, r.attempts, r.next_attempt_at, "
        "r.last_error, "
        "r.delivered_at, EXISTS (SELECT 1 FROM referral_receipts WHERE referral_id = r.id), "
        "EXISTS (SELECT 1 FROM referral_alerts WHERE referral_id = r.id) "
        "FROM referrals r JOIN partners p ON p.id = r.partner_id WHERE r.report_id = ?1 ORDER BY "
        "r.id");
    rows.bind(1, reportId);
    std::vector<ReferralStatus> list;
    while (rows.step()) {
        ReferralStatus status;
        status.id = rows.columnInt(0);
        status.uuid = rows.columnText(1);
        status.partnerName = rows.columnText(2);
        status.state = stateFromText(rows.columnText(3));
        status.createdAt = rows.columnText(4);
        status.attempts = static_cast<int>(rows.columnInt(5));
        status.nextAttemptAt = rows.columnText(6);
        status.lastError = rows.columnText(7);
        status.deliveredAt = rows.columnText(8);
        status.receiptStored = rows.columnInt(9) != 0;
        status.alertRaised = rows.columnInt(10) != 0;
        list.push_back(std::move(status));
    }
    for (auto& status : list) {
        auto outcomes = database.prepare(
            "SELECT outcome FROM referral_outcomes WHERE referral_id = ?1 ORDER BY id");
        outcomes.bind(1, status.id);
        while (outcomes.step())
            status.outcomes.push_back(outcomes.columnText(0));
    }
    return list;
}

std::vector<ReferralAlert> openReferralAlerts(storage::Database& database)
{
    auto rows = database.prepare(
        "SELECT r.id, r.report_id, p.name, r.state, a.queued_at, a.raised_at, r.last_error "
        "FROM referral_alerts a JOIN referrals r ON r.id = a.referral_id "
        "JOIN partners p ON p.id = r.partner_id "
        "WHERE r.state IN ('queued', 'failed') ORDER BY a.raised_at, r.id");
    std::vector<ReferralAlert> alerts;
    while (rows.step()) {
        ReferralAlert alert;
        alert.referralId = rows.columnInt(0);
        alert.reportId = rows.columnInt(1);
        alert.partnerName = rows.columnText(2);
        alert.state = stateFromText(rows.columnText(3));
        alert.queuedAt = rows.columnText(4);
        alert.raisedAt = rows.columnText(5);
        alert.lastError = rows.columnText(6);
        alerts.push_back(std::move(alert));
    }
    return alerts;
}

OutcomeResult Referrals::recordOutcome(const std::string& clientCertificateSha256,
    const std::string& referralUuid, Outcome outcome, const std::string& now)
{
    std::lock_guard lock(databaseMutex_);
    auto row = database_.prepare(
        "SELECT r.id, r.state FROM referrals r JOIN partners p ON p.id = r.partner_id "
        "WHERE r.uuid = ?1 AND p.outcome_certificate_sha256 = ?2");
    row.bind(1, referralUuid).bind(2, clientCertificateSha256);
    if (!row.step())
        return OutcomeResult::NotFound;
    if (row.columnText(1) != "delivered")
        return OutcomeResult::NotDelivered;
    const std::int64_t referralId = row.columnInt(0);
    database_.transaction([&] {
        database_
            .prepare("INSERT INTO referral_outcomes (referral_id, outcome, recorded_at) VALUES (?1, ?2, ?3)")
            .bind(1, referralId)
            .bind(2, toString(outcome))
            .bind(3, now)
            .run();
        storage::recordReferralOutcome(database_, referralId, toString(outcome));
    });
    return OutcomeResult::Recorded;
}

} // namespace meldpunt::referral
