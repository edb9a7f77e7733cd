#include "ReceiptSecret.h"

#include <catch2/catch_test_macros.hpp>

#include <string>

using meldpunt::ReporterCode;
using meldpunt::ReceiptHashCost;

namespace {

// A cheaper cost keeps the tests quick; the format is the same.
const ReceiptHashCost kTestCost{1, 1024, 1};

std::string replaced(std::string text, std::size_t at, char with)
{
    text[at] = with;
    return text;
}

} // namespace

TEST_CASE("Receipt secret verifier", "[core]")
{
    const auto secret = ReporterCode::generate(ReporterCode::Kind::Receipt);
    const auto keys = meldpunt::deriveReceiptKeys(secret, kTestCost);

    SECTION("the right secret opens the verifier and gives the same key pair")
    {
        REQUIRE(meldpunt::isReceiptHash(keys.verifier.hash));
        const auto opened = meldpunt::openReceipt(secret, keys.verifier.hash);
        REQUIRE(opened);
        CHECK(opened->publicKey == keys.verifier.publicKey);
        const auto typed = ReporterCode::parse(secret.toString(), ReporterCode::Kind::Receipt);
        REQUIRE(typed.code);
        CHECK(meldpunt::openReceipt(*typed.code, keys.verifier.hash));
    }
    SECTION("the hash names its cost and holds neither the secret nor the key")
    {
        CHECK(keys.verifier.hash.starts_with("$meldpunt-receipt$argon2id$v=19$m=1024,t=1,p=1$"));
        CHECK(keys.verifier.hash.find(secret.toString()) == std::string::npos);
        CHECK(keys.verifier.hash.find(meldpunt::crypto::toBase64(keys.keyPair.privateKey.span()))
            == std::string::npos);
    }
    SECTION("a wrong secret is refused")
    {
        const auto other = ReporterCode::generate(ReporterCode::Kind::Receipt);
        CHECK_FALSE(meldpunt::openReceipt(other, keys.verifier.hash));
    }
    SECTION("two derivations of one secret use different salts")
    {
        const auto again = meldpunt::deriveReceiptKeys(secret, kTestCost);
        CHECK(again.verifier.hash != keys.verifier.hash);
        CHECK(again.verifier.publicKey != keys.verifier.publicKey);
    }
    SECTION("a changed character in the hash or the salt is refused")
    {
        const std::string& hash = keys.verifier.hash;
        const auto lastDollar = hash.rfind('$');
        const std::size_t inHash = lastDollar + 3;
        const std::size_t inSalt = lastDollar - 5;
        for (const std::size_t at : {inHash, inSalt}) {
            const std::string changed = replaced(hash, at, hash[at] == 'A' ? 'B' : 'A');
            CAPTURE(changed);
            CHECK_FALSE(meldpunt::openReceipt(secret, changed));
        }
    }
    SECTION("malformed and absurd hashes are not receipt hashes")
    {
        const std::string& hash = keys.verifier.hash;
        CHECK_FALSE(meldpunt::isReceiptHash(""));
        CHECK_FALSE(meldpunt::isReceiptHash(hash.substr(0, hash.size() - 4)));
        CHECK_FALSE(meldpunt::isReceiptHash(hash + "AAAA"));
        std::string costly = hash;
        costly.replace(costly.find("m=1024"), 6, "m=99999999");
        CHECK_FALSE(meldpunt::isReceiptHash(costly));
        std::string noPasses = hash;
        noPasses.replace(noPasses.find("t=1"), 3, "t=0");
        CHECK_FALSE(meldpunt::isReceiptHash(noPasses));
        CHECK_FALSE(meldpunt::openReceipt(secret, costly));
    }
}
