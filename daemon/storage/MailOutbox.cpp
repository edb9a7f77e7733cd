#include "MailOutbox.h"

namespace meldpunt::storage {

void queueAcknowledgement(Database& database, std::int64_t reportId, const std::string& recipient,
    const std::string& language, const std::string& reference, const std::string& nowUtc)
{
    database.prepare("INSERT INTO email_outbox (report_id, recipient, language, reference, next_attempt_at) "
                     "VALUES (?, ?, ?, ?, ?)")
        .bind(1, reportId)
        .bind(2, recipient)
        .bind(3, language)
        .bind(4, reference)
        .bind(5, nowUtc)
        .run();
}

std::vector<PendingMail> dueMails(Database& database, const std::string& nowUtc, int limit)
{
    auto query = database.prepare("SELECT id, recipient, language, reference, attempts FROM email_outbox "
                                  "WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?");
    query.bind(1, nowUtc).bind(2, std::int64_t{limit});
    std::vector<PendingMail> mails;
    while (query.step())
        mails.push_back({query.columnInt(0), query.columnText(1), query.columnText(2), query.columnText(3),
            static_cast<int>(query.columnInt(4))});
    return mails;
}

void markMailSent(Database& database, std::int64_t id, const std::string& nowUtc)
{
    database.prepare("UPDATE email_outbox SET state = 'sent', recipient = '', sent_at = ?, "
                     "attempts = attempts + 1, last_error = NULL WHERE id = ?")
        .bind(1, nowUtc)
        .bind(2, id)
        .run();
}

void markMailFailed(Database& database, std::int64_t id, const std::string& error,
    const std::string& nextAttemptUtc, int maxAttempts)
{
    database.prepare("UPDATE email_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, "
                     "state = CASE WHEN attempts + 1 >= ? THEN 'failed' ELSE 'pending' END WHERE id = ?")
        .bind(1, error)
        .bind(2, nextAttemptUtc)
        .bind(3, std::int64_t{maxAttempts})
        .bind(4, id)
        .run();
}

} // namespace meldpunt::storage
