#include "Outbox.h"

#include "Manifest.h"
#include "PartnerClient.h"
#include "ReferralFixture.h"
#include "Referrals.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <fstream>
#include <random>
#include <sstream>

using namespace meldpunt;
using namespace meldpunt::test;
using Catch::Matchers::ContainsSubstring;
namespace fs = std::filesystem;

namespace {

const auto kNow = referral::Clock::time_point(std::chrono::seconds(1'796'000'000));

struct TestAttachment {
    std::string name;
    std::string mediaType;
    std::string content;
};

std::vector<TestAttachment> testAttachments()
{
    std::mt19937 random(7);
    std::string photo(300 * 1024, '\0');
    for (auto& byte : photo)
        byte = static_cast<char>(random() & 0xff);
    return {{"strand.jpg", "image/jpeg", photo},
        {"notities.txt", "text/plain",
            "Kamer 12, tweede verdieping.\r\nNUL volgt: " + std::string(1, '\0') + " einde"}};
}

referral::ReferralRequest testRequest(HotlineDatabase& hotline, std::int64_t partnerId,
    std::vector<std::unique_ptr<std::istringstream>>& streams,
    const std::vector<TestAttachment>& attachments)
{
    referral::ReferralRequest request;
    request.reportId = hotline.reportId();
    request.partnerId = partnerId;
    request.fields
        = {"category", "country", "place", "occurred", "what", "contact_name", "contact_email"};
    request.redactedFields = {"contact_name", "contact_email"};
    request.redactedPassages = {"Jan Jansen"};
    request.coverNote = "Graag met voorrang bekijken.";
    for (const auto& attachment : attachments) {
        streams.push_back(std::make_unique<std::istringstream>(attachment.content));
        request.attachments.push_back({attachment.name, attachment.mediaType,
            referral::sha256Hex(referral::asBytes(attachment.content)), streams.back().get()});
    }
    return request;
}

// Queues one referral with the test attachments and returns it.
referral::QueuedReferral queueReferral(HotlineDatabase& hotline, std::int64_t partnerId)
{
    referral::Referrals referrals(hotline.database(), hotline.mutex(), testSigner());
    std::vector<std::unique_ptr<std::istringstream>> streams;
    return referrals.refer(
        testRequest(hotline, partnerId, streams, testAttachments()), referral::formatUtc(kNow));
}

referral::ReferralStatus statusOf(HotlineDatabase& hotline, std::int64_t referralId)
{
    referral::Referrals referrals(hotline.database(), hotline.mutex(), testSigner());
    for (const auto& status : referrals.listForReport(hotline.reportId()))
        if (status.id == referralId)
            return status;
    throw std::runtime_error("referral not listed");
}

std::string openWithReceiver(const Receiver& receiver, const fs::path& file, const fs::path& output)
{
    const std::string command = std::string("'") + MELDPUNT_BINARY_DIR
        + "/receiver/meldpunt-receive' open '" + receiver.configuration().string() + "' '"
        + file.string() + "' '" + output.string() + "' 2>/dev/null";
    if (std::system(command.c_str()) != 0)
        return {};
    return readFile(output);
}

referral::OutboxSettings fastSettings()
{
    referral::OutboxSettings settings;
    settings.pushTimeout = std::chrono::seconds(10);
    return settings;
}

referral::Outbox::Jitter noJitter()
{
    return [] { return 0.0; };
}

} // namespace

TEST_CASE("Outbox delivers a referral that decrypts byte-identical", "[referral]")
{
    ScratchFolder scratch("referral-delivered");
    Receiver receiver(scratch.path() / "partner", {});
    HotlineDatabase hotline("referral-delivered-db");
    const auto partnerId = hotline.importPartner("Politie Eenheid Test", receiver.port());
    const auto queued = queueReferral(hotline, partnerId);
    referral::Outbox outbox(hotline.database(), hotline.mutex(), fastSettings(), noJitter());

    const auto events = outbox.runOnce(kNow);

    REQUIRE(events.size() == 1);
    INFO(events[0].detail << "\n" << receiver.log());
    REQUIRE(events[0].kind == referral::OutboxEventKind::Delivered);
    const auto status = statusOf(hotline, queued.id);
    CHECK(status.state == referral::ReferralState::Delivered);
    CHECK(status.receiptStored);
    CHECK(status.attempts == 1);
    const auto stored = receiver.storedReferrals();
    REQUIRE(stored.size() == 1);
    CHECK(stored[0].filename() == queued.uuid);

    SECTION("the attachments decrypt byte-identical and match the manifest's hashes")
    {
        const auto manifest = referral::parseManifest(openWithReceiver(
            receiver, stored[0] / "manifest.cms", scratch.path() / "manifest.json"));
        CHECK(manifest.referral == queued.uuid);
        const auto attachments = testAttachments();
        REQUIRE(manifest.attachments.size() == attachments.size());
        for (std::size_t index = 0; index < attachments.size(); ++index) {
            const auto& entry = manifest.attachments[index];
            const std::string content = openWithReceiver(
                receiver, stored[0] / entry.file, scratch.path() / ("out-" + entry.file));
            CHECK(content == attachments[index].content);
            CHECK(entry.name == attachments[index].name);
            CHECK(entry.mediaType == attachments[index].mediaType);
            CHECK(entry.sha256 == referral::sha256Hex(referral::asBytes(content)));
            CHECK(entry.size == content.size());
        }
    }

    SECTION("the fields arrive byte-exact, with the personal details redacted")
    {
        const auto manifest = referral::parseManifest(openWithReceiver(
            receiver, stored[0] / "manifest.cms", scratch.path() / "manifest.json"));
        CHECK(manifest.fields.at("what")
            == "Een man met een kind van ongeveer tien; [redacted] zag het vanaf de bar.\nÉtage 2 "
               "— 😟");
        CHECK(manifest.fields.at("country") == "TH");
        CHECK(manifest.fields.count("contact_name") == 0);
        CHECK(manifest.fields.count("contact_email") == 0);
        CHECK(manifest.redacted == std::vector<std::string>{"contact_name", "contact_email"});
        CHECK(manifest.coverNote == "Graag met voorrang bekijken.");
        CHECK(manifest.hotline == "Meldpunt test hotline");
    }

    SECTION("the report is marked as referred")
    {
        auto row = hotline.database().prepare("SELECT status FROM reports WHERE id = ?1");
        row.bind(1, hotline.reportId());
        REQUIRE(row.step());
        CHECK(row.columnText(0) == "referred");
    }

    SECTION("a delivered referral is not pushed again")
    {
        CHECK(outbox.runOnce(kNow + std::chrono::hours(1)).empty());
        CHECK(receiver.storedReferrals().size() == 1);
    }
}

TEST_CASE("Outbox rejects a wrong server certificate", "[referral]")
{
    ScratchFolder scratch("referral-wrong-server");
    ReceiverOptions options;
    options.serverIdentity = "rogue-server";
    Receiver receiver(scratch.path() / "partner", options);
    HotlineDatabase hotline("referral-wrong-server-db");
    const auto partnerId = hotline.importPartner("Politie Eenheid Test", receiver.port());
    const auto queued = queueReferral(hotline, partnerId);
    referral::Outbox outbox(hotline.database(), hotline.mutex(), fastSettings(), noJitter());

    const auto events = outbox.runOnce(kNow);

    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == referral::OutboxEventKind::Retrying);
    const auto status = statusOf(hotline, queued.id);
    CHECK(status.state == referral::ReferralState::Queued);
    CHECK_THAT(status.lastError, ContainsSubstring("TLS handshake"));
    CHECK(receiver.storedReferrals().empty());
}

TEST_CASE("Receiver rejects a wrong client certificate", "[referral]")
{
    ScratchFolder scratch("referral-wrong-client");
    Receiver receiver(scratch.path() / "partner", {});
    HotlineDatabase hotline("referral-wrong-client-db");
    PartnerOverrides overrides;
    overrides.clientIdentity = "rogue-client";
    const auto partnerId
        = hotline.importPartner("Politie Eenheid Test", receiver.port(), overrides);
    const auto queued = queueReferral(hotline, partnerId);
    referral::Outbox outbox(hotline.database(), hotline.mutex(), fastSettings(), noJitter());

    const auto events = outbox.runOnce(kNow);

    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == referral::OutboxEventKind::Retrying);
    const auto status = statusOf(hotline, queued.id);
    CHECK(status.state == referral::ReferralState::Queued);
    // With TLS 1.3 the client may finish its side of the handshake before
    // the receiver rejects the certificate, so the failure shows either as
    // a handshake error or as a connection closed before any HTTP response.
    CHECK_FALSE(status.lastError.empty());
    CHECK(status.lastError.find("the partner responded") == std::string::npos);
    CHECK(receiver.storedReferrals().empty());
}

TEST_CASE("Outbox delivers once after the receiver comes back", "[referral]")
{
    ScratchFolder scratch("referral-down");
    Receiver receiver(scratch.path() / "partner", {});
    HotlineDatabase hotline("referral-down-db");
    const auto partnerId = hotline.importPartner("Politie Eenheid Test", receiver.port());
    const auto queued = queueReferral(hotline, partnerId);
    receiver.stop();
    auto outbox = std::make_unique<referral::Outbox>(
        hotline.database(), hotline.mutex(), fastSettings(), noJitter());

    const auto failed = outbox->runOnce(kNow);
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].kind == referral::OutboxEventKind::Retrying);
    const auto waiting = statusOf(hotline, queued.id);
    CHECK(waiting.state == referral::ReferralState::Queued);
    CHECK(waiting.attempts == 1);
    // The first retry waits firstRetry (30 s) scaled by the jitter factor 0.5.
    CHECK(waiting.nextAttemptAt == referral::formatUtc(kNow + std::chrono::seconds(15)));
    CHECK_FALSE(waiting.lastError.empty());

    SECTION("nothing is pushed before the next attempt is due")
    {
        CHECK(outbox->runOnce(kNow + std::chrono::seconds(14)).empty());
    }

    SECTION("the receiver back: delivered exactly once")
    {
        receiver.start();
        const auto delivered = outbox->runOnce(kNow + std::chrono::minutes(1));
        REQUIRE(delivered.size() == 1);
        CHECK(delivered[0].kind == referral::OutboxEventKind::Delivered);
        CHECK(outbox->runOnce(kNow + std::chrono::hours(1)).empty());
        CHECK(receiver.storedReferrals().size() == 1);
        CHECK(statusOf(hotline, queued.id).attempts == 2);
    }

    SECTION("the sender restarted mid-retry: the schedule survives and it is delivered once")
    {
        outbox.reset();
        hotline.reopen();
        outbox = std::make_unique<referral::Outbox>(
            hotline.database(), hotline.mutex(), fastSettings(), noJitter());
        CHECK(statusOf(hotline, queued.id).nextAttemptAt == waiting.nextAttemptAt);
        receiver.start();
        CHECK(outbox->runOnce(kNow + std::chrono::seconds(14)).empty());
        const auto delivered = outbox->runOnce(kNow + std::chrono::seconds(15));
        REQUIRE(delivered.size() == 1);
        CHECK(delivered[0].kind == referral::OutboxEventKind::Delivered);
        CHECK(receiver.storedReferrals().size() == 1);
    }
}

TEST_CASE("Receiver stores a repeated referral once", "[referral]")
{
    ScratchFolder scratch("referral-repeat");
    Receiver receiver(scratch.path() / "partner", {});
    HotlineDatabase hotline("referral-repeat-db");
    const auto partnerId = hotline.importPartner("Politie Eenheid Test", receiver.port());
    const auto queued = queueReferral(hotline, partnerId);
    const auto partner = referral::findPartner(hotline.database(), partnerId);
    REQUIRE(partner);
    std::vector<referral::SealedFile> files;
    auto rows = hotline.database().prepare(
        "SELECT name, content FROM referral_files WHERE referral_id = ?1 ORDER BY position");
    rows.bind(1, queued.id);
    while (rows.step())
        files.push_back({rows.columnText(0), rows.columnBlob(1)});

    const auto first
        = referral::pushReferral(*partner, queued.uuid, files, std::chrono::seconds(10));
    const auto second
        = referral::pushReferral(*partner, queued.uuid, files, std::chrono::seconds(10));

    INFO(first.reason << second.reason);
    CHECK(first.status == 201);
    CHECK(second.status == 200);
    CHECK(first.receipt == second.receipt);
    CHECK(receiver.storedReferrals().size() == 1);

    SECTION("a flipped ciphertext byte is rejected and nothing is stored")
    {
        ScratchFolder otherScratch("referral-flipped");
        Receiver other(otherScratch.path() / "partner", {});
        auto flipped = files;
        flipped[1].content[flipped[1].content.size() / 2] ^= 0x01;
        auto otherPartner = *partner;
        otherPartner.endpoint
            = "https://localhost:" + std::to_string(other.port()) + "/v1/referrals";
        const auto result
            = referral::pushReferral(otherPartner, queued.uuid, flipped, std::chrono::seconds(10));
        CHECK(result.status == 400);
        CHECK(result.outcome == referral::PushOutcome::Rejected);
        CHECK_THAT(result.reason, ContainsSubstring("attachment-1.cms"));
        CHECK(other.storedReferrals().empty());
    }

    SECTION("an Idempotency-Key that differs from the manifest is rejected")
    {
        const auto result = referral::pushReferral(
            *partner, "00000000-0000-4000-8000-000000000000", files, std::chrono::seconds(10));
        CHECK(result.status == 400);
        CHECK(receiver.storedReferrals().size() == 1);
    }
}

TEST_CASE("Outbox rejects a receipt from another signer", "[referral]")
{
    ScratchFolder scratch("referral-receipt");
    Receiver receiver(scratch.path() / "partner", {});
    HotlineDatabase hotline("referral-receipt-db");
    PartnerOverrides overrides;
    overrides.receiptCertificate = "rogue-sign.pem";
    const auto partnerId
        = hotline.importPartner("Politie Eenheid Test", receiver.port(), overrides);
    const auto queued = queueReferral(hotline, partnerId);
    referral::Outbox outbox(hotline.database(), hotline.mutex(), fastSettings(), noJitter());

    const auto events = outbox.runOnce(kNow);

    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == referral::OutboxEventKind::Retrying);
    const auto status = statusOf(hotline, queued.id);
    CHECK(status.state == referral::ReferralState::Queued);
    CHECK_FALSE(status.receiptStored);
    CHECK_THAT(status.lastError, ContainsSubstring("receipt did not verify"));
}

TEST_CASE("Referrals record outcomes and retractions", "[referral]")
{
    ScratchFolder scratch("referral-outcome");
    Receiver receiver(scratch.path() / "partner", {});
    HotlineDatabase hotline("referral-outcome-db");
    const auto partnerId = hotline.importPartner("Politie Eenheid Test", receiver.port());
    const auto queued = queueReferral(hotline, partnerId);
    referral::Referrals referrals(hotline.database(), hotline.mutex(), testSigner());
    const auto partnerClient
        = referral::Certificate::fromPem(pkiText("partner-client.pem"), "partner-client")
              .sha256Fingerprint();
    const auto rogueClient
        = referral::Certificate::fromPem(pkiText("rogue-client.pem"), "rogue-client")
              .sha256Fingerprint();
    const std::string now = referral::formatUtc(kNow);

    SECTION("an outcome before delivery is refused")
    {
        CHECK(referrals.recordOutcome(partnerClient, queued.uuid, referral::Outcome::Received, now)
            == referral::OutcomeResult::NotDelivered);
    }

    SECTION("an outcome posted back shows on the case")
    {
        referral::Outbox outbox(hotline.database(), hotline.mutex(), fastSettings(), noJitter());
        REQUIRE(outbox.runOnce(kNow).at(0).kind == referral::OutboxEventKind::Delivered);
        CHECK(referrals.recordOutcome(partnerClient, queued.uuid, referral::Outcome::Received, now)
            == referral::OutcomeResult::Recorded);
        CHECK(referrals.recordOutcome(
                  partnerClient, queued.uuid, referral::Outcome::InvestigationOpened, now)
            == referral::OutcomeResult::Recorded);
        const auto status = statusOf(hotline, queued.id);
        CHECK(status.outcomes == std::vector<std::string>{"received", "investigation_opened"});
        CHECK(status.partnerName == "Politie Eenheid Test");
        // The report's anonymised statistics record keeps the partner's
        // kind and the newest outcome.
        std::lock_guard lock(hotline.mutex());
        auto record = hotline.database().prepare(
            "SELECT s.referred_police, s.referral_outcome FROM statistics_reports s "
            "JOIN reports r ON r.statistics_id = s.id WHERE r.id = ?1");
        record.bind(1, hotline.reportId());
        REQUIRE(record.step());
        CHECK(record.columnInt(0) == 1);
        CHECK(record.columnText(1) == "investigation_opened");
    }

    SECTION("an outcome from another certificate is not found")
    {
        CHECK(referrals.recordOutcome(rogueClient, queued.uuid, referral::Outcome::Closed, now)
            == referral::OutcomeResult::NotFound);
    }

    SECTION("a queued referral is retracted and never sent")
    {
        CHECK(referrals.retract(queued.id, now) == referral::RetractResult::Retracted);
        referral::Outbox outbox(hotline.database(), hotline.mutex(), fastSettings(), noJitter());
        CHECK(outbox.runOnce(kNow + std::chrono::hours(1)).empty());
        CHECK(statusOf(hotline, queued.id).state == referral::ReferralState::Retracted);
        CHECK(receiver.storedReferrals().empty());
        CHECK(referrals.retract(queued.id, now) == referral::RetractResult::NotQueued);
    }

    SECTION("a delivered referral cannot be retracted")
    {
        referral::Outbox outbox(hotline.database(), hotline.mutex(), fastSettings(), noJitter());
        REQUIRE(outbox.runOnce(kNow).at(0).kind == referral::OutboxEventKind::Delivered);
        CHECK(referrals.retract(queued.id, now) == referral::RetractResult::NotQueued);
    }
}

TEST_CASE("Outbox alerts on and gives up a failing referral", "[referral]")
{
    HotlineDatabase hotline("referral-alert-db");
    // Nothing listens on this port, so every push fails.
    const auto partnerId = hotline.importPartner("Politie Eenheid Test", freeLoopbackPort());
    const auto queued = queueReferral(hotline, partnerId);
    auto settings = fastSettings();
    settings.alertAfter = std::chrono::hours(4);
    settings.giveUpAfter = std::chrono::hours(48);
    referral::Outbox outbox(hotline.database(), hotline.mutex(), settings, noJitter());

    SECTION("no alert before the configured time")
    {
        for (const auto& event : outbox.runOnce(kNow + std::chrono::hours(3)))
            CHECK(event.kind != referral::OutboxEventKind::Alert);
        CHECK_FALSE(statusOf(hotline, queued.id).alertRaised);
    }

    SECTION("one content-free alert after the configured time")
    {
        const auto events = outbox.runOnce(kNow + std::chrono::hours(4));
        REQUIRE(events.size() == 2);
        CHECK(events[1].kind == referral::OutboxEventKind::Alert);
        CHECK(events[1].referralId == queued.id);
        CHECK(statusOf(hotline, queued.id).alertRaised);
        for (const auto& event : outbox.runOnce(kNow + std::chrono::hours(5)))
            CHECK(event.kind != referral::OutboxEventKind::Alert);
    }

    SECTION("failed for good after the give-up time, with the reason")
    {
        const auto events = outbox.runOnce(kNow + std::chrono::hours(48));
        REQUIRE_FALSE(events.empty());
        CHECK(events[0].kind == referral::OutboxEventKind::Failed);
        const auto status = statusOf(hotline, queued.id);
        CHECK(status.state == referral::ReferralState::Failed);
        CHECK_THAT(status.lastError, ContainsSubstring("connecting to the partner failed"));
    }
}

TEST_CASE("Outbox retry delay doubles with jitter", "[referral]")
{
    referral::OutboxSettings settings;
    settings.firstRetry = std::chrono::seconds(30);
    settings.maxRetry = std::chrono::seconds(600);

    SECTION("the delay doubles per failure up to the maximum")
    {
        CHECK(referral::retryDelay(settings, 1, 0.999999) == std::chrono::seconds(29));
        CHECK(referral::retryDelay(settings, 2, 0.999999) == std::chrono::seconds(59));
        CHECK(referral::retryDelay(settings, 3, 0.999999) == std::chrono::seconds(119));
        CHECK(referral::retryDelay(settings, 20, 0.999999) == std::chrono::seconds(599));
    }

    SECTION("jitter scales the delay between half and all of it")
    {
        CHECK(referral::retryDelay(settings, 2, 0.0) == std::chrono::seconds(30));
        CHECK(referral::retryDelay(settings, 2, 0.5) == std::chrono::seconds(45));
    }
}
