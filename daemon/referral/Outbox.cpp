#include "Outbox.h"

#include "Database.h"
#include "Manifest.h"
#include "PartnerClient.h"
#include "PartnerRegistry.h"

#include <openssl/rand.h>

#include <algorithm>
#include <ctime>

namespace meldpunt::referral {

namespace {

constexpr int kReferralsPerPass = 16;

double randomUnit()
{
    std::uint32_t value = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&value), sizeof value) != 1)
        return 0.5;
    return static_cast<double>(value) / 4294967296.0;
}

// Returns an empty string when the receipt is valid, else the reason.
std::string checkReceipt(const Bytes& receipt, const Partner& partner, const std::string& uuid,
    const std::string& manifestSha256)
{
    try {
        const auto pinned
            = Certificate::fromPem(partner.receiptCertificatePem, "the receipt certificate");
        const auto verified = verifySignedContent(receipt, {pinned});
        const auto parsed = parseReceipt(asText(verified.content));
        if (parsed.referral != uuid)
            return "the receipt names another referral";
        if (parsed.manifestSha256 != manifestSha256)
            return "the receipt's manifest hash differs from the manifest sent";
        return {};
    } catch (const ReferralError& error) {
        return std::string("the receipt did not verify: ") + error.what();
    }
}

} // namespace

std::string formatUtc(Clock::time_point time)
{
    const std::time_t seconds = Clock::to_time_t(time);
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

std::chrono::seconds retryDelay(const OutboxSettings& settings, int failures, double jitter)
{
    auto delay = settings.firstRetry;
    for (int doubling = 1; doubling < failures && delay < settings.maxRetry; ++doubling)
        delay *= 2;
    delay = std::min(delay, settings.maxRetry);
    const double factor = 0.5 + 0.5 * std::clamp(jitter, 0.0, 1.0);
    return std::max(std::chrono::seconds(1),
        std::chrono::seconds(
            static_cast<std::int64_t>(static_cast<double>(delay.count()) * factor)));
}

struct Outbox::Due {
    std::int64_t id = 0;
    std::string uuid;
    std::int64_t partnerId = 0;
    std::string manifestSha256;
    std::string createdAt;
    int attempts = 0;
};

Outbox::Outbox(
    storage::Database& database, std::mutex& databaseMutex, OutboxSettings settings, Jitter jitter)
    : database_(database)
    , databaseMutex_(databaseMutex)
    , settings_(settings)
    , jitter_(jitter ? std::move(jitter) : Jitter(randomUnit))
{
    std::lock_guard lock(databaseMutex_);
    database_.exec("UPDATE referrals SET sending = 0 WHERE sending = 1");
}

std::vector<Outbox::Due> Outbox::dueReferrals(const std::string& now)
{
    std::lock_guard lock(databaseMutex_);
    auto rows
        = database_.prepare("SELECT id, uuid, partner_id, manifest_sha256, created_at, attempts "
                            "FROM referrals WHERE state = 'queued' AND sending = 0 "
                            "AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2");
    rows.bind(1, now).bind(2, static_cast<std::int64_t>(kReferralsPerPass));
    std::vector<Due> due;
    while (rows.step())
        due.push_back({rows.columnInt(0), rows.columnText(1), rows.columnInt(2), rows.columnText(3),
            rows.columnText(4), static_cast<int>(rows.columnInt(5))});
    return due;
}

std::vector<OutboxEvent> Outbox::runOnce(Clock::time_point now)
{
    std::vector<OutboxEvent> events;
    for (const auto& due : dueReferrals(formatUtc(now)))
        events.push_back(deliver(due, now));
    auto alerts = raiseAlerts(now);
    events.insert(events.end(), alerts.begin(), alerts.end());
    return events;
}

PushResult Outbox::push(const Due& due, std::string& partnerName)
{
    std::optional<Partner> partner;
    std::vector<SealedFile> files;
    {
        std::lock_guard lock(databaseMutex_);
        partner = findPartner(database_, due.partnerId);
        auto rows = database_.prepare(
            "SELECT name, content FROM referral_files WHERE referral_id = ?1 ORDER BY position");
        rows.bind(1, due.id);
        while (rows.step())
            files.push_back({rows.columnText(0), rows.columnBlob(1)});
        // Marked under the same lock that retract() takes, so a referral
        // is never retracted while it is on its way.
        database_.prepare("UPDATE referrals SET sending = 1 WHERE id = ?1 AND state = 'queued'")
            .bind(1, due.id)
            .run();
    }
    if (!partner || files.empty())
        return {PushOutcome::Rejected, 0, {}, "the referral's partner or files are missing"};
    partnerName = partner->name;
    PushResult result = pushReferral(*partner, due.uuid, files, settings_.pushTimeout);
    if (result.outcome == PushOutcome::Accepted) {
        const std::string problem
            = checkReceipt(result.receipt, *partner, due.uuid, due.manifestSha256);
        if (!problem.empty())
            return {PushOutcome::Failed, result.status, {}, problem};
    }
    return result;
}

// Called inside a transaction.
void Outbox::recordDelivered(const Due& due, const Bytes& receipt, const std::string& now)
{
    database_
        .prepare("INSERT OR REPLACE INTO referral_receipts (referral_id, receipt, received_at, "
                 "stored_at) VALUES (?1, ?2, ?3, ?3)")
        .bind(1, due.id)
        .bind(2, std::span<const std::uint8_t>(receipt))
        .bind(3, now)
        .run();
    database_
        .prepare("UPDATE referrals SET state = 'delivered', sending = 0, attempts = ?2, "
                 "next_attempt_at = NULL, last_error = '', delivered_at = ?3, finished_at = ?3 "
                 "WHERE id = ?1")
        .bind(1, due.id)
        .bind(2, static_cast<std::int64_t>(due.attempts + 1))
        .bind(3, now)
        .run();
    // The sealed files are no longer needed, and the box keeps as little as it can.
    database_.prepare("DELETE FROM referral_files WHERE referral_id = ?1").bind(1, due.id).run();
    database_
        .prepare("UPDATE reports SET status = 'referred' WHERE id = "
                 "(SELECT report_id FROM referrals WHERE id = ?1) AND status <> 'closed'")
        .bind(1, due.id)
        .run();
}

// Called inside a transaction. Returns the event with its kind and detail.
OutboxEvent Outbox::recordFailure(const Due& due, const PushResult& result, Clock::time_point now)
{
    const int attempts = due.attempts + 1;
    OutboxEvent event{OutboxEventKind::Failed, due.id, {}, result.reason};
    const bool givingUp = result.outcome == PushOutcome::Rejected
        || formatUtc(now - settings_.giveUpAfter) >= due.createdAt;
    if (givingUp) {
        database_
            .prepare("UPDATE referrals SET state = 'failed', sending = 0, attempts = ?2, "
                     "next_attempt_at = NULL, last_error = ?3, finished_at = ?4 WHERE id = ?1")
            .bind(1, due.id)
            .bind(2, static_cast<std::int64_t>(attempts))
            .bind(3, result.reason)
            .bind(4, formatUtc(now))
            .run();
        return event;
    }
    const auto next = formatUtc(now + retryDelay(settings_, attempts, jitter_()));
    event.kind = OutboxEventKind::Retrying;
    event.detail = result.reason + "; next attempt at " + next;
    database_
        .prepare("UPDATE referrals SET sending = 0, attempts = ?2, next_attempt_at = ?3, "
                 "last_error = ?4 WHERE id = ?1")
        .bind(1, due.id)
        .bind(2, static_cast<std::int64_t>(attempts))
        .bind(3, next)
        .bind(4, result.reason)
        .run();
    return event;
}

OutboxEvent Outbox::deliver(const Due& due, Clock::time_point now)
{
    std::string partnerName;
    const PushResult result = push(due, partnerName);
    OutboxEvent event{OutboxEventKind::Delivered, due.id, {}, {}};
    std::lock_guard lock(databaseMutex_);
    database_.transaction([&] {
        if (result.outcome == PushOutcome::Accepted)
            recordDelivered(due, result.receipt, formatUtc(now));
        else
            event = recordFailure(due, result, now);
    });
    event.partnerName = partnerName;
    return event;
}

std::vector<OutboxEvent> Outbox::raiseAlerts(Clock::time_point now)
{
    std::lock_guard lock(databaseMutex_);
    auto rows = database_.prepare(
        "SELECT r.id, p.name, r.created_at FROM referrals r JOIN partners p ON p.id = r.partner_id "
        "WHERE r.state IN ('queued', 'failed') AND r.created_at <= ?1 "
        "AND NOT EXISTS (SELECT 1 FROM referral_alerts a WHERE a.referral_id = r.id)");
    rows.bind(1, formatUtc(now - settings_.alertAfter));
    std::vector<OutboxEvent> alerts;
    while (rows.step())
        alerts.push_back({OutboxEventKind::Alert, rows.columnInt(0), rows.columnText(1),
            "queued at " + rows.columnText(2) + " and still not delivered"});
    for (const auto& alert : alerts)
        database_
            .prepare("INSERT INTO referral_alerts (referral_id, raised_at, queued_at) "
                     "SELECT id, ?2, created_at FROM referrals WHERE id = ?1")
            .bind(1, alert.referralId)
            .bind(2, formatUtc(now))
            .run();
    return alerts;
}

} // namespace meldpunt::referral
