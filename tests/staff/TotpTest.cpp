#include "Totp.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <string>
#include <vector>

using namespace meldpunt::staff;
using Catch::Matchers::ContainsSubstring;

namespace {

// The SHA-1 seed of the RFC 6238 test vectors (appendix B).
std::vector<std::uint8_t> rfcSecret()
{
    const std::string seed = "12345678901234567890";
    return {seed.begin(), seed.end()};
}

TimePoint at(std::int64_t seconds)
{
    return std::chrono::system_clock::from_time_t(static_cast<std::time_t>(seconds));
}

} // namespace

TEST_CASE("TOTP codes follow RFC 6238", "[totp]")
{
    const auto secret = rfcSecret();

    SECTION("the SHA-1 test vectors give their last six digits")
    {
        CHECK(totp::generate(secret, at(59)) == "287082");
        CHECK(totp::generate(secret, at(1111111109)) == "081804");
        CHECK(totp::generate(secret, at(1234567890)) == "005924");
        CHECK(totp::generate(secret, at(2000000000)) == "279037");
    }

    SECTION("a code is accepted in its own step and one step either side")
    {
        const std::string code = totp::generate(secret, at(1111111109));
        CHECK(totp::verify(secret, at(1111111109), code).has_value());
        CHECK(totp::verify(secret, at(1111111109 + 30), code).has_value());
        CHECK(totp::verify(secret, at(1111111109 - 30), code).has_value());
        CHECK_FALSE(totp::verify(secret, at(1111111109 + 90), code).has_value());
    }

    SECTION("the matching step is returned, so a code can be used once")
    {
        const auto step = totp::verify(secret, at(1111111109), "081804");
        REQUIRE(step.has_value());
        CHECK(*step == 1111111109 / 30);
    }

    SECTION("a code for another secret is rejected")
    {
        auto other = secret;
        other[0] ^= 0x01;
        CHECK_FALSE(totp::verify(other, at(1111111109), "081804").has_value());
    }

    SECTION("malformed codes are rejected")
    {
        CHECK_FALSE(totp::verify(secret, at(59), "").has_value());
        CHECK_FALSE(totp::verify(secret, at(59), "28708").has_value());
        CHECK_FALSE(totp::verify(secret, at(59), "28708x").has_value());
        CHECK_FALSE(totp::verify(secret, at(59), "2870822").has_value());
    }
}

TEST_CASE("TOTP provisioning URI", "[totp]")
{
    SECTION("it carries the unpadded Base32 secret, issuer and parameters")
    {
        const std::string uri = totp::provisioningUri(rfcSecret(), "Meldpunt", "anna");
        CHECK(uri == "otpauth://totp/Meldpunt%3Aanna?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Meldpunt"
                     "&algorithm=SHA1&digits=6&period=30");
    }

    SECTION("new secrets are 160 random bits")
    {
        const auto first = totp::newSecret();
        CHECK(first.size() == 20);
        CHECK(first != totp::newSecret());
    }
}
