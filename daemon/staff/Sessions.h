#pragma once

#include "Clock.h"
#include "Database.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace meldpunt::staff {

// How far a login has come: the password is checked and a TOTP code (or a
// recovery code) is due, or a second factor is being enrolled, or the
// staff member is fully logged in.
enum class SessionStage { SecondFactor, Enrol, Full };

struct SessionLimits {
    std::chrono::seconds idle{30 * 60};
    std::chrono::seconds absolute{12 * 60 * 60};
    // Between the password and the second factor.
    std::chrono::seconds pending{5 * 60};
};

struct Session {
    std::string cookieValue;
    std::int64_t accountId = 0;
    SessionStage stage = SessionStage::SecondFactor;
    std::string csrfToken;
};

// Staff sessions in the database, found by the SHA-256 of their cookie
// value. Each session has its own CSRF token. A session ends at its idle
// or absolute timeout, at logout, and when its account is disabled. Not
// thread-safe: the caller holds the database's lock.
class Sessions {
public:
    Sessions(storage::Database& database, Clock clock, SessionLimits limits = {});

    // Creates a session with a new random id and CSRF token. Every stage
    // of a login gets a new session, so an id known before the login (a
    // planted cookie) never becomes a logged-in one.
    Session create(std::int64_t accountId, SessionStage stage);

    // Returns the live session and marks it used now; removes an expired
    // one and returns nullopt.
    std::optional<Session> find(const std::string& cookieValue);

    void end(const std::string& cookieValue);
    void endAll(std::int64_t accountId);
    // Removes every expired session; returns how many.
    std::int64_t removeExpired();

private:
    storage::Database& database_;
    Clock clock_;
    SessionLimits limits_;
};

} // namespace meldpunt::staff
