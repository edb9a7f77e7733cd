#include "Manifest.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

using namespace meldpunt::referral;
using Catch::Matchers::ContainsSubstring;

namespace {

Manifest sampleManifest()
{
    Manifest manifest;
    manifest.referral = "3f2b7c1e-9a4d-4e6f-8b1a-2c3d4e5f6a7b";
    manifest.createdAt = "2026-12-04T19:08:46Z";
    manifest.hotline = "Meldpunt";
    manifest.partner = "Politie";
    manifest.reportReference = "7K2QD-M9XH4-R0T5B-AW3NC-E8P10";
    manifest.coverNote = "Zie bijlage.\n\"Dringend\"";
    manifest.fields = {{"what", "tekst met \t tab en ünïcode"}, {"country", "TH"}};
    manifest.redacted = {"contact_name"};
    manifest.urls = {"https://example.org/a?b=c"};
    manifest.attachments
        = {{"attachment-1.cms", "foto.jpg", "image/jpeg", 1234, std::string(64, 'a')}};
    return manifest;
}

std::string replaced(std::string json, const std::string& from, const std::string& to)
{
    const auto position = json.find(from);
    REQUIRE(position != std::string::npos);
    return json.replace(position, from.size(), to);
}

} // namespace

TEST_CASE("Manifest round trip and validation", "[referral]")
{
    const std::string json = toJson(sampleManifest());

    SECTION("a written manifest reads back equal")
    {
        CHECK(parseManifest(json) == sampleManifest());
    }

    SECTION("another schema is rejected")
    {
        CHECK_THROWS_WITH(
            parseManifest(replaced(json, "meldpunt-referral/1", "meldpunt-referral/2")),
            ContainsSubstring("schema"));
    }

    SECTION("a referral that is no UUID is rejected")
    {
        CHECK_THROWS_WITH(parseManifest(replaced(json, "3f2b7c1e-9a4d", "3f2b7c1e/9a4d")),
            ContainsSubstring("'referral' must be a UUID"));
    }

    SECTION("a short hash is rejected")
    {
        CHECK_THROWS_WITH(parseManifest(replaced(json, std::string(64, 'a'), std::string(63, 'a'))),
            ContainsSubstring("64 lower-case hex digits"));
    }

    SECTION("a file name with a path is rejected")
    {
        CHECK_THROWS_WITH(
            parseManifest(replaced(json, "\"attachment-1.cms\"", "\"../attachment-1.cms\"")),
            ContainsSubstring("attachment-N.cms"));
    }

    SECTION("a negative size is rejected")
    {
        CHECK_THROWS_WITH(
            parseManifest(replaced(json, "1234", "-5")), ContainsSubstring("negative"));
    }

    SECTION("a missing member is named")
    {
        CHECK_THROWS_WITH(parseManifest(replaced(json, "\"report_reference\"", "\"reference\"")),
            ContainsSubstring("'report_reference' is missing"));
    }

    SECTION("a field that is not a string is rejected")
    {
        CHECK_THROWS_WITH(parseManifest(replaced(json, "\"TH\"", "42")),
            ContainsSubstring("'country' must be a string"));
    }

    SECTION("text that is not JSON is rejected")
    {
        CHECK_THROWS_AS(parseManifest("{\"schema\": "), ReferralError);
        CHECK_THROWS_AS(parseManifest("[]"), ReferralError);
    }

    SECTION("the same file named twice is rejected")
    {
        auto manifest = sampleManifest();
        manifest.attachments.push_back(manifest.attachments[0]);
        CHECK_THROWS_WITH(parseManifest(toJson(manifest)), ContainsSubstring("named twice"));
    }
}

TEST_CASE("Attachment file names", "[referral]")
{
    CHECK(isAttachmentFileName("attachment-1.cms"));
    CHECK(isAttachmentFileName("attachment-100.cms"));
    CHECK_FALSE(isAttachmentFileName("attachment-0.cms"));
    CHECK_FALSE(isAttachmentFileName("attachment-01.cms"));
    CHECK_FALSE(isAttachmentFileName("attachment-101.cms"));
    CHECK_FALSE(isAttachmentFileName("attachment-.cms"));
    CHECK_FALSE(isAttachmentFileName("manifest.cms"));
}

TEST_CASE("Receipt round trip", "[referral]")
{
    Receipt receipt{"3f2b7c1e-9a4d-4e6f-8b1a-2c3d4e5f6a7b", std::string(64, 'b'),
        "2026-12-04T19:08:46Z", {"attachment-1.cms", "manifest.cms"}};
    CHECK(parseReceipt(toJson(receipt)) == receipt);
    CHECK_THROWS_AS(
        parseReceipt(replaced(toJson(receipt), "meldpunt-receipt/1", "x")), ReferralError);
}
