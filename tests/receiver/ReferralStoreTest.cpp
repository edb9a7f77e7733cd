#include "ReferralStore.h"

#include "ReferralFixture.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

using namespace meldpunt;
using namespace meldpunt::test;
using Catch::Matchers::ContainsSubstring;
namespace fs = std::filesystem;

namespace {

constexpr const char* kUuid = "3f2b7c1e-9a4d-4e6f-8b1a-2c3d4e5f6a7b";

referral::Certificate certificate(const std::string& name)
{
    return referral::Certificate::fromPem(pkiText(name + ".pem"), name);
}

referral::PrivateKey key(const std::string& name)
{
    return referral::PrivateKey::fromPem(pkiText(name + ".key"), name);
}

receiver::ReceiverKeys receiverKeys()
{
    // Both CAs are trusted here, so that a file from a second signer
    // passes the signature check and must be caught by the signer check.
    return {certificate("partner-encrypt"), key("partner-encrypt"),
        {certificate("hotline-ca"), certificate("rogue-ca")}, certificate("partner-receipt"),
        key("partner-receipt")};
}

referral::Bytes seal(std::string_view content, const std::string& signer = "hotline-sign")
{
    return referral::sealReferralFile(referral::asBytes(content), certificate(signer), key(signer),
        certificate("partner-encrypt"));
}

struct Referral {
    referral::Manifest manifest;
    std::map<std::string, referral::Bytes> files;
};

Referral makeReferral(const std::string& attachment = "photo bytes")
{
    Referral made;
    made.manifest.referral = kUuid;
    made.manifest.createdAt = "2026-12-04T19:08:46Z";
    made.manifest.hotline = "Meldpunt";
    made.manifest.reportReference = "7K2QD-M9XH4-R0T5B-AW3NC-E8P10";
    made.manifest.attachments = {{"attachment-1.cms", "photo.jpg", "image/jpeg", attachment.size(),
        referral::sha256Hex(referral::asBytes(attachment))}};
    made.files["attachment-1.cms"] = seal(attachment);
    made.files["manifest.cms"] = seal(referral::toJson(made.manifest));
    return made;
}

} // namespace

TEST_CASE("Referral store verifies and stores once", "[referral]")
{
    ScratchFolder scratch("receiver-store");
    receiver::ReferralStore store(scratch.path() / "store", receiverKeys());
    auto referral = makeReferral();

    SECTION("a valid referral is stored with a receipt over the manifest's hash")
    {
        const auto accepted = store.accept(kUuid, referral.files);
        CHECK_FALSE(accepted.duplicate);
        const fs::path folder = scratch.path() / "store" / kUuid;
        CHECK(fs::exists(folder / "manifest.cms"));
        CHECK(fs::exists(folder / "attachment-1.cms"));
        CHECK(fs::exists(folder / "receipt.cms"));
        const auto verified
            = referral::verifySignedContent(accepted.receipt, {certificate("partner-receipt")});
        const auto receipt = referral::parseReceipt(referral::asText(verified.content));
        CHECK(receipt.referral == kUuid);
        CHECK(receipt.manifestSha256
            == referral::sha256Hex(referral::asBytes(referral::toJson(referral.manifest))));
        for (const auto& item : fs::directory_iterator(scratch.path() / "store"))
            CHECK_FALSE(item.path().filename().string().starts_with(".incoming"));
    }

    SECTION("a repeat returns the first receipt and stores nothing new")
    {
        const auto first = store.accept(kUuid, referral.files);
        const auto second = store.accept(kUuid, referral.files);
        CHECK(second.duplicate);
        CHECK(second.receipt == first.receipt);
        CHECK(std::distance(
                  fs::directory_iterator(scratch.path() / "store"), fs::directory_iterator())
            == 1);
    }

    SECTION("an attachment of another size than the manifest gives is rejected")
    {
        referral.files["attachment-1.cms"] = seal("short");
        CHECK_THROWS_WITH(store.accept(kUuid, referral.files), ContainsSubstring("size"));
        CHECK_FALSE(fs::exists(scratch.path() / "store" / kUuid));
    }

    SECTION("an attachment of the same size but other bytes is rejected")
    {
        referral.files["attachment-1.cms"] = seal("photo bytez");
        CHECK_THROWS_WITH(store.accept(kUuid, referral.files), ContainsSubstring("SHA-256"));
    }

    SECTION("an attachment from a second signer is rejected")
    {
        referral.files["attachment-1.cms"] = seal("photo bytes", "rogue-sign");
        CHECK_THROWS_WITH(store.accept(kUuid, referral.files), ContainsSubstring("another signer"));
    }

    SECTION("a missing attachment is rejected")
    {
        referral.files.erase("attachment-1.cms");
        CHECK_THROWS_WITH(
            store.accept(kUuid, referral.files), ContainsSubstring("no attachment-1.cms"));
    }

    SECTION("a file the manifest does not name is rejected")
    {
        referral.files["attachment-2.cms"] = seal("extra");
        CHECK_THROWS_WITH(store.accept(kUuid, referral.files), ContainsSubstring("does not name"));
    }

    SECTION("a referral without a manifest is rejected")
    {
        referral.files.erase("manifest.cms");
        CHECK_THROWS_AS(store.accept(kUuid, referral.files), receiver::InvalidReferral);
    }

    SECTION("an idempotency key other than the manifest's UUID is rejected")
    {
        CHECK_THROWS_WITH(store.accept("00000000-0000-4000-8000-000000000000", referral.files),
            ContainsSubstring("Idempotency-Key"));
    }
}
