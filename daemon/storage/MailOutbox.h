#pragma once

#include "Database.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace meldpunt::storage {

// An acknowledgement e-mail due for sending.
struct PendingMail {
    std::int64_t id = 0;
    std::string recipient;
    std::string language;
    std::string reference;
    int attempts = 0;
};

// Queues the acknowledgement of report `reportId` to `recipient`. Called
// inside the transaction that stores the report.
void queueAcknowledgement(Database& database, std::int64_t reportId, const std::string& recipient,
    const std::string& language, const std::string& reference, const std::string& nowUtc);

// Returns up to `limit` pending mails whose next attempt is due at `nowUtc`.
std::vector<PendingMail> dueMails(Database& database, const std::string& nowUtc, int limit);

// Records a delivery and clears the stored address, which is no longer
// needed in the outbox.
void markMailSent(Database& database, std::int64_t id, const std::string& nowUtc);

// Records a failed attempt with its cause (never the address). The mail is
// tried again at `nextAttemptUtc`, or given up on (state "failed") when it
// had `maxAttempts` attempts.
void markMailFailed(Database& database, std::int64_t id, const std::string& error,
    const std::string& nextAttemptUtc, int maxAttempts);

} // namespace meldpunt::storage
