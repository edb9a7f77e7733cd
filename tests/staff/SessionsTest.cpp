#include "Accounts.h"
#include "Sessions.h"
#include "StaffDatabase.h"

#include <catch2/catch_test_macros.hpp>

using namespace meldpunt::staff;
using meldpunt::test::StaffDatabase;

TEST_CASE("Staff sessions", "[sessions]")
{
    StaffDatabase fixture("sessions");
    Accounts accounts(*fixture.database, fixture.clock());
    const auto anna = accounts.create("anna", Role::Caseworker, "a long enough password");
    SessionLimits limits;
    limits.idle = std::chrono::minutes(30);
    limits.absolute = std::chrono::hours(12);
    limits.pending = std::chrono::minutes(5);
    Sessions sessions(*fixture.database, fixture.clock(), limits);

    SECTION("a new session is found by its cookie value")
    {
        const Session session = sessions.create(anna, SessionStage::Full);
        const auto found = sessions.find(session.cookieValue);
        REQUIRE(found.has_value());
        CHECK(found->accountId == anna);
        CHECK(found->stage == SessionStage::Full);
        CHECK(found->csrfToken == session.csrfToken);
    }

    SECTION("each session gets its own id and CSRF token")
    {
        const Session first = sessions.create(anna, SessionStage::Full);
        const Session second = sessions.create(anna, SessionStage::Full);
        CHECK(first.cookieValue != second.cookieValue);
        CHECK(first.csrfToken != second.csrfToken);
        CHECK(first.cookieValue.size() >= 43);
    }

    SECTION("the database stores only a hash of the cookie value")
    {
        const Session session = sessions.create(anna, SessionStage::Full);
        auto query = fixture.database->prepare("SELECT count(*) FROM staff_sessions WHERE id_hash = ?");
        query.bind(1, session.cookieValue);
        REQUIRE(query.step());
        CHECK(query.columnInt(0) == 0);
    }

    SECTION("an unknown cookie value finds nothing")
    {
        sessions.create(anna, SessionStage::Full);
        CHECK_FALSE(sessions.find("made-up-value").has_value());
        CHECK_FALSE(sessions.find("").has_value());
    }

    SECTION("a session ends after the idle timeout")
    {
        const Session session = sessions.create(anna, SessionStage::Full);
        fixture.advance(std::chrono::minutes(29));
        CHECK(sessions.find(session.cookieValue).has_value());
        fixture.advance(std::chrono::minutes(30));
        CHECK_FALSE(sessions.find(session.cookieValue).has_value());
    }

    SECTION("use keeps a session alive until the absolute timeout")
    {
        const Session session = sessions.create(anna, SessionStage::Full);
        for (int step = 0; step < 24; ++step) {
            fixture.advance(std::chrono::minutes(29));
            REQUIRE(sessions.find(session.cookieValue).has_value());
        }
        fixture.advance(std::chrono::minutes(29));
        CHECK_FALSE(sessions.find(session.cookieValue).has_value());
    }

    SECTION("a login waiting for its second factor expires sooner")
    {
        const Session pending = sessions.create(anna, SessionStage::SecondFactor);
        fixture.advance(std::chrono::minutes(4));
        CHECK(sessions.find(pending.cookieValue).has_value());
        fixture.advance(std::chrono::minutes(2));
        CHECK_FALSE(sessions.find(pending.cookieValue).has_value());
    }

    SECTION("disabling the account ends its sessions at once")
    {
        const Session session = sessions.create(anna, SessionStage::Full);
        accounts.setDisabled(anna, true);
        CHECK_FALSE(sessions.find(session.cookieValue).has_value());
    }

    SECTION("logging out everywhere ends every session of the account only")
    {
        const auto bob = accounts.create("bob", Role::Caseworker, "another long password");
        const Session first = sessions.create(anna, SessionStage::Full);
        const Session second = sessions.create(anna, SessionStage::Full);
        const Session other = sessions.create(bob, SessionStage::Full);
        sessions.endAll(anna);
        CHECK_FALSE(sessions.find(first.cookieValue).has_value());
        CHECK_FALSE(sessions.find(second.cookieValue).has_value());
        CHECK(sessions.find(other.cookieValue).has_value());
    }

    SECTION("expired sessions are removed in bulk")
    {
        sessions.create(anna, SessionStage::Full);
        sessions.create(anna, SessionStage::SecondFactor);
        fixture.advance(std::chrono::hours(1));
        CHECK(sessions.removeExpired() == 2);
    }
}
