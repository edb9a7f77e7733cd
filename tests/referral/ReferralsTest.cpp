#include "Referrals.h"

#include "Manifest.h"
#include "ReferralFixture.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <sstream>

using namespace meldpunt;
using namespace meldpunt::test;
using Catch::Matchers::ContainsSubstring;

namespace {

std::int64_t storedFileCount(HotlineDatabase& hotline, std::int64_t referralId)
{
    auto row = hotline.database().prepare("SELECT count(*) FROM referral_files WHERE referral_id = ?1");
    row.bind(1, referralId);
    REQUIRE(row.step());
    return row.columnInt(0);
}

} // namespace

TEST_CASE("Referrals check the caseworker's request", "[referral]")
{
    HotlineDatabase hotline("referral-requests-db");
    const auto partnerId = hotline.importPartner("INHOPE partner", 8445);
    referral::Referrals referrals(hotline.database(), hotline.mutex(), testSigner());
    referral::ReferralRequest request;
    request.reportId = hotline.reportId();
    request.partnerId = partnerId;
    request.fields = {"country", "what"};
    const std::string now = "2026-12-04T10:00:00Z";
    std::istringstream photo("photo bytes");
    const referral::AttachmentInput attachment{
        "photo.jpg", "image/jpeg", referral::sha256Hex(referral::asBytes("photo bytes")), &photo};

    SECTION("a URL-only referral carries the URLs and no file")
    {
        request.scope = referral::ReferralScope::UrlsOnly;
        request.urls = {"https://example.org/page"};
        const auto queued = referrals.refer(request, now);
        CHECK(storedFileCount(hotline, queued.id) == 1); // the manifest alone
    }

    SECTION("a URL-only referral with a file is rejected")
    {
        request.scope = referral::ReferralScope::UrlsOnly;
        request.urls = {"https://example.org/page"};
        request.attachments = {attachment};
        CHECK_THROWS_WITH(referrals.refer(request, now), ContainsSubstring("carries no files"));
    }

    SECTION("a URL-only referral without a URL is rejected")
    {
        request.scope = referral::ReferralScope::UrlsOnly;
        CHECK_THROWS_WITH(referrals.refer(request, now), ContainsSubstring("at least one URL"));
    }

    SECTION("a URL that is not http or https is rejected")
    {
        request.urls = {"ftp://example.org/file"};
        CHECK_THROWS_WITH(referrals.refer(request, now), ContainsSubstring("'ftp://example.org/file'"));
    }

    SECTION("an attachment that changed since intake is not sent")
    {
        std::istringstream changed("photo bytez");
        auto input = attachment;
        input.plaintext = &changed;
        request.attachments = {input};
        CHECK_THROWS_WITH(referrals.refer(request, now), ContainsSubstring("does not match its SHA-256"));
        CHECK(referrals.listForReport(hotline.reportId()).empty());
    }

    SECTION("an unknown field is rejected")
    {
        request.fields = {"password"};
        CHECK_THROWS_WITH(referrals.refer(request, now), ContainsSubstring("'password' cannot be referred"));
    }

    SECTION("an unknown partner is rejected")
    {
        request.partnerId = partnerId + 100;
        CHECK_THROWS_WITH(referrals.refer(request, now), ContainsSubstring("partner registry"));
    }

    SECTION("an unknown report is rejected")
    {
        request.reportId = hotline.reportId() + 100;
        CHECK_THROWS_WITH(referrals.refer(request, now), ContainsSubstring("does not exist"));
    }

    SECTION("a queued referral is listed with its state")
    {
        request.attachments = {attachment};
        const auto queued = referrals.refer(request, now);
        CHECK(storedFileCount(hotline, queued.id) == 2);
        const auto list = referrals.listForReport(hotline.reportId());
        REQUIRE(list.size() == 1);
        CHECK(list[0].uuid == queued.uuid);
        CHECK(list[0].state == referral::ReferralState::Queued);
        CHECK(list[0].partnerName == "INHOPE partner");
        CHECK(list[0].nextAttemptAt == now);
        CHECK(list[0].attempts == 0);
    }
}
