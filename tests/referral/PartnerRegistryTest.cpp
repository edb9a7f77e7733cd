#include "PartnerRegistry.h"

#include "ReferralFixture.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <fstream>

using namespace meldpunt;
using namespace meldpunt::test;
using Catch::Matchers::ContainsSubstring;
namespace fs = std::filesystem;

namespace {

// Writes the fixture's partner file with one text replaced.
fs::path editedPartnerFile(const fs::path& folder, const std::string& from, const std::string& to)
{
    const auto file = writePartnerFile(folder, "Politie", 8445, {});
    std::string json = readFile(file);
    const auto position = json.find(from);
    REQUIRE(position != std::string::npos);
    json.replace(position, from.size(), to);
    std::ofstream(file, std::ios::trunc) << json;
    return file;
}

} // namespace

TEST_CASE("Partner file import", "[referral]")
{
    ScratchFolder scratch("referral-partners");

    SECTION("a valid file imports, and a second import updates in place")
    {
        HotlineDatabase hotline("referral-partners-db");
        const auto first = hotline.importPartner("Politie", 8445);
        const auto second = hotline.importPartner("Politie", 9445);
        CHECK(first == second);
        const auto partners = referral::listPartners(hotline.database());
        REQUIRE(partners.size() == 1);
        CHECK(partners[0].name == "Politie");
        CHECK(partners[0].kind == referral::PartnerKind::Police);
        CHECK(partners[0].countries == std::vector<std::string>{"NL", "BE"});
        CHECK(partners[0].endpoint == "https://localhost:9445/v1/referrals");
        CHECK(partners[0].outcomeCertificateSha256
            == referral::Certificate::fromPem(pkiText("partner-client.pem"), "")
                   .sha256Fingerprint());
    }

    SECTION("an unknown kind is rejected with the allowed values")
    {
        const auto file = editedPartnerFile(scratch.path(), "\"police\"", "\"politie\"");
        CHECK_THROWS_WITH(referral::readPartnerFile(file),
            ContainsSubstring("partner 'Politie': 'kind' must be police, hotline or other"));
    }

    SECTION("a plain http endpoint is rejected")
    {
        const auto file = editedPartnerFile(scratch.path(), "https://", "http://");
        CHECK_THROWS_WITH(
            referral::readPartnerFile(file), ContainsSubstring("must be an https:// URL"));
    }

    SECTION("an endpoint with a user name is rejected")
    {
        const auto file = editedPartnerFile(scratch.path(), "https://", "https://user:secret@");
        CHECK_THROWS_WITH(
            referral::readPartnerFile(file), ContainsSubstring("must not contain a user name"));
    }

    SECTION("a lower-case country code is rejected")
    {
        const auto file = editedPartnerFile(scratch.path(), "\"NL\"", "\"nl\"");
        CHECK_THROWS_WITH(
            referral::readPartnerFile(file), ContainsSubstring("two upper-case letters"));
    }

    SECTION("a client key of another certificate is rejected")
    {
        const auto file
            = editedPartnerFile(scratch.path(), "hotline-client.key", "rogue-client.key");
        CHECK_THROWS_WITH(referral::readPartnerFile(file),
            ContainsSubstring("'client_key' does not belong to the client certificate"));
    }

    SECTION("a key in place of a certificate is rejected")
    {
        const auto file
            = editedPartnerFile(scratch.path(), "partner-encrypt.pem", "partner-encrypt.key");
        CHECK_THROWS_WITH(referral::readPartnerFile(file),
            ContainsSubstring("'encryption_certificate' does not contain a certificate"));
    }

    SECTION("a missing file is named")
    {
        const auto file = editedPartnerFile(scratch.path(), "partner-receipt.pem", "no-such.pem");
        CHECK_THROWS_WITH(referral::readPartnerFile(file), ContainsSubstring("no-such.pem"));
    }

    SECTION("a partner listed twice is rejected")
    {
        const auto file = writePartnerFile(scratch.path(), "Politie", 8445, {});
        std::string json = readFile(file);
        const auto begin = json.find('{', 1);
        const auto end = json.rfind(']');
        const std::string partner = json.substr(begin, end - begin);
        json.insert(end, ", " + partner);
        std::ofstream(file, std::ios::trunc) << json;
        CHECK_THROWS_WITH(referral::readPartnerFile(file), ContainsSubstring("listed twice"));
    }
}
