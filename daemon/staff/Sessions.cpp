#include "Sessions.h"

#include "Crypto.h"

#include <openssl/sha.h>

#include <algorithm>

namespace meldpunt::staff {

namespace {

constexpr std::size_t kSessionIdBytes = 32;
constexpr std::size_t kCsrfTokenBytes = 32;

std::vector<std::uint8_t> idHash(const std::string& cookieValue)
{
    std::vector<std::uint8_t> hash(SHA256_DIGEST_LENGTH);
    SHA256(reinterpret_cast<const unsigned char*>(cookieValue.data()), cookieValue.size(), hash.data());
    return hash;
}

// Base64url without padding, so the value needs no quoting in a cookie.
std::string randomToken(std::size_t bytes)
{
    std::string text = crypto::toBase64(crypto::randomBytes(bytes));
    std::replace(text.begin(), text.end(), '+', '-');
    std::replace(text.begin(), text.end(), '/', '_');
    text.erase(std::remove(text.begin(), text.end(), '='), text.end());
    return text;
}

const char* stageName(SessionStage stage)
{
    switch (stage) {
    case SessionStage::SecondFactor:
        return "second_factor";
    case SessionStage::Enrol:
        return "enrol";
    case SessionStage::Full:
        return "full";
    }
    return "second_factor";
}

SessionStage parseStage(const std::string& name)
{
    if (name == "full")
        return SessionStage::Full;
    if (name == "enrol")
        return SessionStage::Enrol;
    return SessionStage::SecondFactor;
}

} // namespace

Sessions::Sessions(storage::Database& database, Clock clock, SessionLimits limits)
    : database_(database)
    , clock_(std::move(clock))
    , limits_(limits)
{
}

Session Sessions::create(std::int64_t accountId, SessionStage stage)
{
    Session session{randomToken(kSessionIdBytes), accountId, stage, randomToken(kCsrfTokenBytes)};
    const std::int64_t now = unixSeconds(clock_());
    database_.prepare("INSERT INTO staff_sessions (id_hash, account_id, stage, csrf_token, created_at, last_seen) "
                      "VALUES (?, ?, ?, ?, ?, ?)")
        .bind(1, std::span<const std::uint8_t>(idHash(session.cookieValue)))
        .bind(2, accountId)
        .bind(3, std::string(stageName(stage)))
        .bind(4, session.csrfToken)
        .bind(5, now)
        .bind(6, now)
        .run();
    return session;
}

std::optional<Session> Sessions::find(const std::string& cookieValue)
{
    if (cookieValue.empty())
        return std::nullopt;
    const auto hash = idHash(cookieValue);
    auto query = database_.prepare(
        "SELECT s.account_id, s.stage, s.csrf_token, s.created_at, s.last_seen, a.disabled_at IS NOT NULL "
        "FROM staff_sessions s JOIN staff_accounts a ON a.id = s.account_id WHERE s.id_hash = ?");
    query.bind(1, std::span<const std::uint8_t>(hash));
    if (!query.step())
        return std::nullopt;
    Session session{cookieValue, query.columnInt(0), parseStage(query.columnText(1)), query.columnText(2)};
    const std::int64_t created = query.columnInt(3);
    const std::int64_t lastSeen = query.columnInt(4);
    const bool disabled = query.columnInt(5) == 1;
    const std::int64_t now = unixSeconds(clock_());
    const std::int64_t absolute = session.stage == SessionStage::Full ? limits_.absolute.count() : limits_.pending.count();
    if (disabled || now - lastSeen >= limits_.idle.count() || now - created >= absolute) {
        end(cookieValue);
        return std::nullopt;
    }
    database_.prepare("UPDATE staff_sessions SET last_seen = ? WHERE id_hash = ?")
        .bind(1, now)
        .bind(2, std::span<const std::uint8_t>(hash))
        .run();
    return session;
}

void Sessions::end(const std::string& cookieValue)
{
    database_.prepare("DELETE FROM staff_sessions WHERE id_hash = ?")
        .bind(1, std::span<const std::uint8_t>(idHash(cookieValue)))
        .run();
}

void Sessions::endAll(std::int64_t accountId)
{
    database_.prepare("DELETE FROM staff_sessions WHERE account_id = ?").bind(1, accountId).run();
}

std::int64_t Sessions::removeExpired()
{
    const std::int64_t now = unixSeconds(clock_());
    database_.prepare("DELETE FROM staff_sessions WHERE last_seen <= ? OR (stage = 'full' AND created_at <= ?) "
                      "OR (stage <> 'full' AND created_at <= ?)")
        .bind(1, now - limits_.idle.count())
        .bind(2, now - limits_.absolute.count())
        .bind(3, now - limits_.pending.count())
        .run();
    auto changes = database_.prepare("SELECT changes()");
    return changes.step() ? changes.columnInt(0) : 0;
}

} // namespace meldpunt::staff
