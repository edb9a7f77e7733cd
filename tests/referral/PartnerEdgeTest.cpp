// The partners' outcome listener in the staff nginx instance, rendered from
// rootfs/etc/meldpunt/nginx-partner.conf.in beside nginx-edge.conf.in,
// in front of the outcome endpoint on a Unix socket.

#include "Edge.h"
#include "OutcomeEndpoint.h"
#include "Outbox.h"
#include "ReferralFixture.h"
#include "UnixHttpServer.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/StreamCopier.h>

#include <catch2/catch_test_macros.hpp>

#include <csignal>
#include <cstdio>

using namespace meldpunt;
using namespace meldpunt::test;
namespace fs = std::filesystem;

namespace {

// The route meldpuntd's staff listener serves, and an echo of the
// certificate header on every other path.
class OutcomeHandler : public Poco::Net::HTTPRequestHandler {
public:
    explicit OutcomeHandler(referral::Referrals& referrals)
        : referrals_(referrals)
    {
    }

    void handleRequest(
        Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override
    {
        const std::string certificate = request.get(referral::kPartnerCertificateHeader, "");
        if (request.getURI() != referral::kOutcomePath) {
            response.send() << "certificate header: [" << certificate << "]";
            return;
        }
        std::string body;
        Poco::StreamCopier::copyToString(request.stream(), body);
        const auto result
            = referral::handleOutcomePost(&referrals_, certificate, body, "2026-12-05T10:00:00Z");
        response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(result.status));
        if (result.status == 204) {
            response.setContentLength(0);
            response.send();
        } else {
            response.send() << result.message;
        }
    }

private:
    referral::Referrals& referrals_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit Factory(referral::Referrals& referrals)
        : referrals_(referrals)
    {
    }
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override
    {
        return new OutcomeHandler(referrals_);
    }

private:
    referral::Referrals& referrals_;
};

struct CurlResult {
    int exitStatus = -1;
    std::string output; // the body, then the HTTP status on the last line
};

CurlResult curl(const std::string& arguments)
{
    const std::string command = "curl --silent --show-error --noproxy '*' --max-time 10 --cacert '"
        + pkiFile("hotline-ca.pem").string() + "' --write-out '\\n%{http_code}' " + arguments
        + " 2>&1";
    CurlResult result;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    while (const std::size_t count = std::fread(buffer, 1, sizeof buffer, pipe))
        result.output.append(buffer, count);
    result.exitStatus = ::pclose(pipe);
    return result;
}

std::string lastLine(const std::string& text)
{
    return text.substr(text.rfind('\n') + 1);
}

void renderPartnerBlock(const Edge& edge, unsigned short port, const fs::path& socket)
{
    const std::string command = std::string("'") + MELDPUNT_SOURCE_DIR
        + "/tools/render-edge-conf' '" + MELDPUNT_SOURCE_DIR
        + "/rootfs/etc/meldpunt/nginx-partner.conf.in' '"
        + (edge.prefix() / "partner-outcomes.conf").string() + "' PARTNER_LISTEN=127.0.0.1:"
        + std::to_string(port) + " CERTIFICATE=" + pkiFile("hotline-edge.pem").string()
        + " CERTIFICATE_KEY=" + pkiFile("hotline-edge.key").string() + " PARTNER_CLIENT_CAS="
        + pkiFile("partner-ca.pem").string() + " UPSTREAM_SOCKET=" + socket.string();
    REQUIRE(std::system(command.c_str()) == 0);
}

} // namespace

TEST_CASE("Partner edge passes only verified outcome posts", "[referral]")
{
    ScratchFolder scratch("referral-partner-edge");
    Receiver receiver(scratch.path() / "partner", {});
    HotlineDatabase hotline("referral-partner-edge-db");
    const auto partnerId = hotline.importPartner("Politie", receiver.port());
    referral::Referrals referrals(hotline.database(), hotline.mutex(), testSigner());
    referral::ReferralRequest request;
    request.reportId = hotline.reportId();
    request.partnerId = partnerId;
    request.fields = {"country"};
    const auto queued = referrals.refer(request, "2026-12-04T10:00:00Z");
    referral::Outbox outbox(hotline.database(), hotline.mutex(), {});
    REQUIRE(
        outbox.runOnce(referral::Clock::now()).at(0).kind == referral::OutboxEventKind::Delivered);

    UnixHttpServerOptions serverOptions;
    serverOptions.socketPath = scratch.path() / "upstream.sock";
    UnixHttpServer upstream(serverOptions, new Factory(referrals));
    upstream.start();
    // nginx's workers run as nobody when the tests run as root.
    fs::permissions(serverOptions.socketPath, fs::perms(0666));
    Edge::Options edgeOptions;
    edgeOptions.sourceDir = MELDPUNT_SOURCE_DIR;
    edgeOptions.upstreamSocket = serverOptions.socketPath;
    edgeOptions.certificate = pkiFile("hotline-edge.pem");
    edgeOptions.certificateKey = pkiFile("hotline-edge.key");
    edgeOptions.webui = scratch.path() / "webui";
    Edge edge(edgeOptions);
    // The staff instance's service renders the block before nginx starts;
    // here nginx reads it on a reload.
    const unsigned short partnerPort = freeLoopbackPort();
    renderPartnerBlock(edge, partnerPort, serverOptions.socketPath);
    REQUIRE(::kill(edge.pid(), SIGHUP) == 0);
    REQUIRE(waitFor(
        [&] {
            return curl("https://localhost:" + std::to_string(partnerPort) + "/").exitStatus == 0;
        },
        std::chrono::seconds(10)));
    const std::string url
        = "'https://localhost:" + std::to_string(partnerPort) + "/partner/v1/outcomes'";
    const std::string body
        = "--data '{\"referral\": \"" + queued.uuid + "\", \"outcome\": \"closed\"}' ";
    const auto outcomes
        = [&] { return referrals.listForReport(hotline.reportId()).at(0).outcomes; };

    SECTION("the partner's client certificate posts an outcome that shows on the case")
    {
        const auto result = curl("--cert '" + pkiFile("partner-client.pem").string() + "' --key '"
            + pkiFile("partner-client.key").string() + "' " + body + url);
        INFO(result.output);
        CHECK(lastLine(result.output) == "204");
        CHECK(outcomes() == std::vector<std::string>{"closed"});
    }

    SECTION("a post without a client certificate is refused by nginx")
    {
        const auto result = curl(body + url);
        INFO(result.output);
        CHECK(lastLine(result.output) == "400");
        CHECK(outcomes().empty());
    }

    SECTION("a client certificate from another CA is refused by nginx")
    {
        const auto result = curl("--cert '" + pkiFile("rogue-client.pem").string() + "' --key '"
            + pkiFile("rogue-client.key").string() + "' " + body + url);
        INFO(result.output);
        CHECK(lastLine(result.output) == "400");
        CHECK(outcomes().empty());
    }

    SECTION("the staff listener drops a forged certificate header")
    {
        const auto result = curl("-H 'X-Partner-Certificate: forged' 'https://localhost:"
            + std::to_string(edge.port()) + "/anything'");
        INFO(result.output);
        CHECK(result.output.find("certificate header: []") != std::string::npos);
    }
}
