#include "Accounts.h"
#include "LoginLimiter.h"
#include "PasswordHash.h"
#include "StaffDatabase.h"
#include "Totp.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

using namespace meldpunt::staff;
using Catch::Matchers::ContainsSubstring;
using meldpunt::test::StaffDatabase;

TEST_CASE("Staff accounts", "[accounts]")
{
    StaffDatabase fixture("accounts");
    Accounts accounts(*fixture.database, fixture.clock());

    SECTION("a new account has an Argon2id password hash and no second factor")
    {
        const auto id = accounts.create("anna", Role::Coordinator, "a long enough password");
        const auto account = accounts.find(id);
        REQUIRE(account.has_value());
        CHECK(account->role == Role::Coordinator);
        CHECK(account->passwordHash.starts_with("$argon2id$"));
        CHECK(verifyPassword("a long enough password", account->passwordHash));
        CHECK(account->totpSecret.empty());
        CHECK_FALSE(account->totpConfirmed);
    }

    SECTION("invalid user names and short passwords are rejected with the rule")
    {
        CHECK_THROWS_WITH(accounts.create("Anna Smith", Role::Caseworker, "a long enough password"),
            ContainsSubstring("lower-case letters"));
        CHECK_THROWS_WITH(accounts.create("anna", Role::Caseworker, "short"), ContainsSubstring("at least 12"));
        CHECK_THROWS_AS(accounts.create("", Role::Caseworker, "a long enough password"), AccountError);
    }

    SECTION("a taken user name is rejected, whatever its case")
    {
        accounts.create("anna", Role::Caseworker, "a long enough password");
        CHECK_THROWS_WITH(accounts.create("anna", Role::Auditor, "a long enough password"), ContainsSubstring("taken"));
    }

    SECTION("a TOTP code confirms the enrolment and works only once")
    {
        const auto id = accounts.create("anna", Role::Caseworker, "a long enough password");
        const auto secret = totp::newSecret();
        accounts.startEnrolment(id, secret);
        const std::string code = totp::generate(secret, fixture.now);
        CHECK_FALSE(accounts.checkTotp(id, "000000" == code ? "111111" : "000000", fixture.now));
        CHECK(accounts.checkTotp(id, code, fixture.now));
        CHECK(accounts.find(id)->totpConfirmed);
        CHECK_FALSE(accounts.checkTotp(id, code, fixture.now));
        fixture.advance(std::chrono::seconds(30));
        CHECK(accounts.checkTotp(id, totp::generate(secret, fixture.now), fixture.now));
    }

    SECTION("recovery codes work once each")
    {
        const auto id = accounts.create("anna", Role::Caseworker, "a long enough password");
        const auto codes = accounts.newRecoveryCodes(id);
        REQUIRE(codes.size() == 10);
        CHECK(accounts.recoveryCodesLeft(id) == 10);
        CHECK(accounts.useRecoveryCode(id, codes[3]));
        CHECK_FALSE(accounts.useRecoveryCode(id, codes[3]));
        CHECK(accounts.recoveryCodesLeft(id) == 9);
        std::string lower = codes[4];
        for (char& c : lower)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        CHECK(accounts.useRecoveryCode(id, lower));
    }

    SECTION("another account's recovery code is rejected")
    {
        const auto anna = accounts.create("anna", Role::Caseworker, "a long enough password");
        const auto bob = accounts.create("bob", Role::Caseworker, "a long enough password");
        const auto codes = accounts.newRecoveryCodes(anna);
        CHECK_FALSE(accounts.useRecoveryCode(bob, codes[0]));
    }

    SECTION("resetting the second factor clears the secret and the recovery codes")
    {
        const auto id = accounts.create("anna", Role::Caseworker, "a long enough password");
        accounts.startEnrolment(id, totp::newSecret());
        accounts.newRecoveryCodes(id);
        accounts.resetSecondFactor(id);
        CHECK(accounts.find(id)->totpSecret.empty());
        CHECK(accounts.recoveryCodesLeft(id) == 0);
    }

    SECTION("a setup code works once")
    {
        const std::string code = accounts.newSetupCode();
        CHECK(accounts.hasSetupCode());
        CHECK_FALSE(accounts.useSetupCode("AAAA-AAAA-AAAA-AAAA-AAAA"));
        CHECK(accounts.useSetupCode(code));
        CHECK_FALSE(accounts.useSetupCode(code));
        CHECK_FALSE(accounts.hasSetupCode());
    }

    SECTION("only an enrolled, enabled admin counts as one who can log in")
    {
        const auto id = accounts.create("root", Role::Admin, "a long enough password");
        CHECK_FALSE(accounts.hasEnabledAdmin());
        const auto secret = totp::newSecret();
        accounts.startEnrolment(id, secret);
        accounts.checkTotp(id, totp::generate(secret, fixture.now), fixture.now);
        CHECK(accounts.hasEnabledAdmin());
        accounts.setDisabled(id, true);
        CHECK_FALSE(accounts.hasEnabledAdmin());
    }
}

TEST_CASE("Login rate limits", "[accounts]")
{
    StaffDatabase fixture("login-limits");
    LoginLimits limits;
    limits.freeAccountFailures = 3;
    limits.freeAddressFailures = 5;
    limits.firstWait = std::chrono::seconds(30);
    limits.maxWait = std::chrono::seconds(120);
    LoginLimiter limiter(fixture.clock(), limits);

    SECTION("an account waits after its free failures, longer each time")
    {
        for (int failure = 0; failure < 3; ++failure)
            limiter.recordFailure("anna", "192.0.2.1");
        CHECK_FALSE(limiter.waitFor("anna", "192.0.2.2").has_value());
        limiter.recordFailure("anna", "192.0.2.1");
        CHECK(limiter.waitFor("anna", "192.0.2.2") == std::chrono::seconds(30));
        fixture.advance(std::chrono::seconds(30));
        limiter.recordFailure("anna", "192.0.2.1");
        CHECK(limiter.waitFor("anna", "192.0.2.2") == std::chrono::seconds(60));
    }

    SECTION("the wait is capped")
    {
        for (int failure = 0; failure < 12; ++failure)
            limiter.recordFailure("anna", "192.0.2.1");
        CHECK(limiter.waitFor("anna", "192.0.2.3") == std::chrono::seconds(120));
    }

    SECTION("one address trying many accounts waits too")
    {
        for (int failure = 0; failure < 6; ++failure)
            limiter.recordFailure("name" + std::to_string(failure), "192.0.2.9");
        CHECK(limiter.waitFor("someone-else", "192.0.2.9").has_value());
        CHECK_FALSE(limiter.waitFor("someone-else", "192.0.2.10").has_value());
    }

    SECTION("a success clears the account's failures")
    {
        for (int failure = 0; failure < 3; ++failure)
            limiter.recordFailure("anna", "192.0.2.1");
        limiter.recordSuccess("anna");
        limiter.recordFailure("anna", "192.0.2.1");
        CHECK_FALSE(limiter.waitFor("anna", "192.0.2.2").has_value());
    }
}
