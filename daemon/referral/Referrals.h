#pragma once

#include "ReferralBuilder.h"

#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace meldpunt::storage {
class Database;
}

namespace meldpunt::referral {

// Raised when a caseworker's referral request cannot be carried out. The
// message states what is wrong and what to do.
class ReferralRequestError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class ReferralScope {
    Full, // the chosen fields and attachments
    UrlsOnly, // online abuse material: URLs and the chosen fields, never a file
};

// The report fields a referral can carry. The contact_* fields are the
// reporter's personal details.
inline const std::vector<std::string> kReferableFields
    = {"received_at", "language", "category", "country", "place", "occurred", "what", "anonymous",
        "contact_name", "contact_email", "contact_phone"};

struct ReferralRequest {
    std::int64_t reportId = 0;
    std::int64_t partnerId = 0;
    ReferralScope scope = ReferralScope::Full;
    std::vector<std::string> fields; // names from kReferableFields
    std::vector<std::string> redactedFields; // left out and named as redacted in the manifest
    std::vector<std::string>
        redactedPassages; // exact passages replaced by "[redacted]" in the fields sent
    std::vector<AttachmentInput> attachments;
    std::vector<std::string> urls;
    std::string coverNote;
};

struct QueuedReferral {
    std::int64_t id = 0;
    std::string uuid;
};

enum class ReferralState { Queued, Delivered, Failed, Retracted };
std::string toString(ReferralState state);

// A referral as staff see it on the case: no content, only its course.
struct ReferralStatus {
    std::int64_t id = 0;
    std::string uuid;
    std::string partnerName;
    ReferralState state = ReferralState::Queued;
    std::string createdAt;
    int attempts = 0;
    std::string nextAttemptAt; // empty unless queued
    std::string lastError; // why the last push failed; for failed, why it stopped
    std::string deliveredAt;
    bool receiptStored = false;
    bool alertRaised = false;
    std::vector<std::string> outcomes; // oldest first: "received", "investigation_opened", ...
};

enum class RetractResult { Retracted, NotQueued, BeingSent, NotFound };

// A referral that is still not delivered long after it was queued, as
// the coordinator's notice shows it: ids, the partner and times only.
struct ReferralAlert {
    std::int64_t referralId = 0;
    std::int64_t reportId = 0;
    std::string partnerName;
    ReferralState state = ReferralState::Queued;
    std::string queuedAt;
    std::string raisedAt;
    std::string lastError;
};

// The same as Referrals' methods, for callers that hold the database
// mutex already (the staff interface's handlers).
std::vector<ReferralStatus> referralsOfReport(storage::Database& database, std::int64_t reportId);
RetractResult retractReferral(storage::Database& database, std::int64_t referralId, const std::string& now);
// The alerts of referrals that are still queued or failed, oldest first.
std::vector<ReferralAlert> openReferralAlerts(storage::Database& database);

enum class Outcome { Received, InvestigationOpened, NoAction, Closed };
std::optional<Outcome> outcomeFromString(const std::string& text);
std::string toString(Outcome outcome);

enum class OutcomeResult { Recorded, NotFound, NotDelivered };

// The case page's calls for referrals. Every method takes the database
// mutex itself, so it is safe beside the ingester and the outbox; sealing
// the files happens outside the lock.
class Referrals {
public:
    Referrals(storage::Database& database, std::mutex& databaseMutex, HotlineSigner signer);

    // Seals the referral and queues it for the outbox. Throws
    // ReferralRequestError for an unknown report or partner, an unknown
    // field, files in a URL-only referral, or an attachment whose hash no
    // longer matches.
    QueuedReferral refer(const ReferralRequest& request, const std::string& now);

    // Retracts a referral that is still queued, so it is never sent.
    RetractResult retract(std::int64_t referralId, const std::string& now);

    std::vector<ReferralStatus> listForReport(std::int64_t reportId);

    // Stores an outcome that a partner posted back, authenticated by the
    // SHA-256 of its TLS client certificate. A referral of another partner
    // is NotFound, exactly like an unknown UUID.
    OutcomeResult recordOutcome(const std::string& clientCertificateSha256,
        const std::string& referralUuid, Outcome outcome, const std::string& now);

private:
    storage::Database& database_;
    std::mutex& databaseMutex_;
    HotlineSigner signer_;
};

} // namespace meldpunt::referral
