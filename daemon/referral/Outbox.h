#pragma once

#include "PartnerClient.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace meldpunt::storage {
class Database;
}

namespace meldpunt::referral {

using Clock = std::chrono::system_clock;

// Formats a time as the database stores it: UTC, whole seconds, such as
// 2026-12-04T19:08:46Z. Such strings sort in time order.
std::string formatUtc(Clock::time_point time);

struct OutboxSettings {
    std::chrono::seconds firstRetry{30}; // wait after the first failed push
    std::chrono::seconds maxRetry{6 * 3600}; // the wait stops doubling here
    std::chrono::seconds alertAfter{4 * 3600}; // undelivered this long after queueing: alert
    std::chrono::seconds giveUpAfter{14 * 24 * 3600}; // then the referral fails for good
    std::chrono::seconds pushTimeout{60};
};

enum class OutboxEventKind { Delivered, Retrying, Failed, Alert };

// The effect of one pass on one referral, for the service's log. It
// carries ids and reasons only, never report content.
struct OutboxEvent {
    OutboxEventKind kind;
    std::int64_t referralId = 0;
    std::string partnerName;
    std::string detail; // the failure reason, or the next attempt's time
};

// Returns the wait before attempt number `failures + 1`. It is firstRetry
// doubled per failure and capped at maxRetry, then scaled by a factor in
// [0.5, 1) taken from `jitter` (a value in [0, 1)), so that referrals
// queued together do not retry in lock step.
std::chrono::seconds retryDelay(const OutboxSettings& settings, int failures, double jitter);

// The persistent outbox: pushes queued referrals whose next attempt is due,
// stores verified receipts and records each outcome in the database, so
// that the schedule survives restarts. One Outbox per database; runOnce is
// not reentrant. The database mutex is released during each push.
class Outbox {
public:
    using Jitter = std::function<double()>;

    // Clears the sending mark of referrals whose push a stopped process
    // left unfinished. They are pushed again, and the partner's
    // idempotency check keeps it from storing them twice.
    Outbox(storage::Database& database, std::mutex& databaseMutex, OutboxSettings settings,
        Jitter jitter = {});

    std::vector<OutboxEvent> runOnce(Clock::time_point now);

private:
    struct Due;
    std::vector<Due> dueReferrals(const std::string& now);
    OutboxEvent deliver(const Due& due, Clock::time_point now);
    PushResult push(const Due& due, std::string& partnerName);
    void recordDelivered(const Due& due, const Bytes& receipt, const std::string& now);
    OutboxEvent recordFailure(const Due& due, const PushResult& result, Clock::time_point now);
    std::vector<OutboxEvent> raiseAlerts(Clock::time_point now);

    storage::Database& database_;
    std::mutex& databaseMutex_;
    OutboxSettings settings_;
    Jitter jitter_;
};

} // namespace meldpunt::referral
