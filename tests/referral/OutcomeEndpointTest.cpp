#include "OutcomeEndpoint.h"

#include "Outbox.h"
#include "ReferralFixture.h"

#include <Poco/URI.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <sstream>

using namespace meldpunt;
using namespace meldpunt::test;
using Catch::Matchers::ContainsSubstring;

namespace {

// As nginx's $ssl_client_escaped_cert writes it.
std::string escapedCertificate(const std::string& name)
{
    std::string escaped;
    Poco::URI::encode(pkiText(name), "", escaped);
    return escaped;
}

} // namespace

TEST_CASE("Outcome endpoint stores outcomes of delivered referrals", "[referral]")
{
    ScratchFolder scratch("referral-outcome-endpoint");
    Receiver receiver(scratch.path() / "partner", {});
    HotlineDatabase hotline("referral-outcome-endpoint-db");
    const auto partnerId = hotline.importPartner("Politie", receiver.port());
    referral::Referrals referrals(hotline.database(), hotline.mutex(), testSigner());
    referral::ReferralRequest request;
    request.reportId = hotline.reportId();
    request.partnerId = partnerId;
    request.fields = {"category", "country"};
    const auto queued = referrals.refer(request, "2026-12-04T10:00:00Z");
    referral::Outbox outbox(hotline.database(), hotline.mutex(), {});
    REQUIRE(
        outbox.runOnce(referral::Clock::now()).at(0).kind == referral::OutboxEventKind::Delivered);
    const std::string body
        = "{\"referral\": \"" + queued.uuid + "\", \"outcome\": \"investigation_opened\"}";
    const std::string now = "2026-12-05T10:00:00Z";

    SECTION("an outcome from the partner's certificate is stored on the referral")
    {
        const auto result = referral::handleOutcomePost(
            &referrals, escapedCertificate("partner-client.pem"), body, now);
        CHECK(result.status == 204);
        const auto list = referrals.listForReport(hotline.reportId());
        REQUIRE(list.size() == 1);
        CHECK(list[0].outcomes == std::vector<std::string>{"investigation_opened"});
    }

    SECTION("another certificate finds no referral")
    {
        CHECK(referral::handleOutcomePost(
                  &referrals, escapedCertificate("rogue-client.pem"), body, now)
                  .status
            == 404);
        CHECK(referrals.listForReport(hotline.reportId()).at(0).outcomes.empty());
    }

    SECTION("no certificate is forbidden")
    {
        CHECK(referral::handleOutcomePost(&referrals, "", body, now).status == 403);
    }

    SECTION("an unknown outcome names the allowed ones")
    {
        const auto result
            = referral::handleOutcomePost(&referrals, escapedCertificate("partner-client.pem"),
                "{\"referral\": \"" + queued.uuid + "\", \"outcome\": \"solved\"}", now);
        CHECK(result.status == 400);
        CHECK_THAT(result.message, ContainsSubstring("investigation_opened"));
    }

    SECTION("a body that is not JSON is rejected")
    {
        CHECK(referral::handleOutcomePost(
                  &referrals, escapedCertificate("partner-client.pem"), "outcome=closed", now)
                  .status
            == 400);
    }

    SECTION("a locked database asks to post again later")
    {
        CHECK(referral::handleOutcomePost(
                  nullptr, escapedCertificate("partner-client.pem"), body, now)
                  .status
            == 503);
    }
}
