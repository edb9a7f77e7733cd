#include "Cms.h"

#include "ReferralFixture.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <fstream>

using namespace meldpunt;
using namespace meldpunt::test;
using namespace std::string_literals;
using Catch::Matchers::ContainsSubstring;

namespace {

referral::Certificate certificate(const std::string& name)
{
    return referral::Certificate::fromPem(pkiText(name + ".pem"), name);
}

referral::PrivateKey key(const std::string& name)
{
    return referral::PrivateKey::fromPem(pkiText(name + ".key"), name);
}

void writeBytes(const std::filesystem::path& path, const referral::Bytes& bytes)
{
    std::ofstream out(path, std::ios::binary);
    out.write(
        reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

int run(const std::string& command)
{
    return std::system((command + " >/dev/null 2>&1").c_str());
}

} // namespace

TEST_CASE("Referral file seals and opens", "[referral]")
{
    const std::string text = "Melding\r\nmet \0 NUL en é"s;
    const referral::Bytes content(text.begin(), text.end());
    const auto signer = certificate("hotline-sign");
    const auto recipient = certificate("partner-encrypt");
    const auto sealed = referral::sealReferralFile(content, signer, key("hotline-sign"), recipient);
    const std::vector<referral::Certificate> trusted = {certificate("hotline-ca")};

    SECTION("it opens byte-identical and names its signer")
    {
        const auto opened
            = referral::openReferralFile(sealed, recipient, key("partner-encrypt"), trusted);
        CHECK(opened.content == content);
        CHECK(opened.signerFingerprint == signer.sha256Fingerprint());
        CHECK_THAT(opened.signerSubject, ContainsSubstring("Meldpunt test hotline referrals"));
    }

    SECTION("the plaintext does not appear in the file")
    {
        const std::string file(sealed.begin(), sealed.end());
        CHECK(file.find("Melding") == std::string::npos);
    }

    SECTION("a flipped ciphertext byte is rejected")
    {
        // Every position in the second half lies in the encrypted content or its tag.
        for (const std::size_t position :
            {sealed.size() / 2, sealed.size() * 3 / 4, sealed.size() - 1}) {
            auto tampered = sealed;
            tampered[position] ^= 0x01;
            CHECK_THROWS_AS(
                referral::openReferralFile(tampered, recipient, key("partner-encrypt"), trusted),
                referral::ReferralError);
        }
    }

    SECTION("a flipped byte of the signed content is rejected")
    {
        auto signedContent = referral::signContent(content, signer, key("hotline-sign"));
        const std::string asText(signedContent.begin(), signedContent.end());
        const auto position = asText.find("Melding");
        REQUIRE(position != std::string::npos);
        signedContent[position] ^= 0x01;
        CHECK_THROWS_WITH(referral::verifySignedContent(signedContent, trusted),
            ContainsSubstring("verifying the signature"));
    }

    SECTION("a signer outside the trusted CA is rejected")
    {
        const auto rogue = referral::sealReferralFile(
            content, certificate("rogue-sign"), key("rogue-sign"), recipient);
        CHECK_THROWS_WITH(
            referral::openReferralFile(rogue, recipient, key("partner-encrypt"), trusted),
            ContainsSubstring("verifying the signature"));
    }

    SECTION("another partner's key cannot open it")
    {
        CHECK_THROWS_AS(referral::decryptContent(
                            sealed, certificate("partner-receipt"), key("partner-receipt")),
            referral::ReferralError);
    }

    SECTION("plain SignedData is not taken as encrypted")
    {
        const auto signedOnly = referral::signContent(content, signer, key("hotline-sign"));
        CHECK_THROWS_WITH(referral::decryptContent(signedOnly, recipient, key("partner-encrypt")),
            ContainsSubstring("not CMS AuthEnvelopedData"));
    }
}

TEST_CASE("Referral file opens with the stock openssl cms command", "[referral]")
{
    ScratchFolder scratch("referral-openssl");
    std::string text(100 * 1024, '\0');
    for (std::size_t index = 0; index < text.size(); ++index)
        text[index] = static_cast<char>((index * 131) & 0xff);
    const referral::Bytes content(text.begin(), text.end());
    const auto sealed = referral::sealReferralFile(
        content, certificate("hotline-sign"), key("hotline-sign"), certificate("partner-encrypt"));
    const auto folder = scratch.path();
    writeBytes(folder / "attachment-1.cms", sealed);
    const std::string quoted = "'" + folder.string() + "/";

    // Only the partner's key and certificate, and the hotline's CA.
    const int decrypted = run("openssl cms -decrypt -binary -inform DER -in " + quoted
        + "attachment-1.cms' -recip '" + pkiFile("partner-encrypt.pem").string() + "' -inkey '"
        + pkiFile("partner-encrypt.key").string() + "' -out " + quoted + "signed.der'");
    REQUIRE(decrypted == 0);

    SECTION("the signature verifies against the hotline's CA and the content is byte-identical")
    {
        REQUIRE(
            run("openssl cms -verify -binary -inform DER -in " + quoted + "signed.der' -CAfile '"
                + pkiFile("hotline-ca.pem").string() + "' -out " + quoted + "content'")
            == 0);
        CHECK(readFile(folder / "content") == text);
    }

    SECTION("openssl rejects the signature against another CA")
    {
        CHECK(run("openssl cms -verify -binary -inform DER -in " + quoted + "signed.der' -CAfile '"
                  + pkiFile("rogue-ca.pem").string() + "' -out " + quoted + "content'")
            != 0);
    }

    SECTION("openssl rejects a flipped ciphertext byte")
    {
        auto tampered = sealed;
        tampered[tampered.size() / 2] ^= 0x01;
        writeBytes(folder / "tampered.cms", tampered);
        CHECK(
            run("openssl cms -decrypt -binary -inform DER -in " + quoted + "tampered.cms' -recip '"
                + pkiFile("partner-encrypt.pem").string() + "' -inkey '"
                + pkiFile("partner-encrypt.key").string() + "' -out " + quoted + "tampered.der'")
            != 0);
    }
}

TEST_CASE("Certificate list reads PEM bundles", "[referral]")
{
    SECTION("a bundle of two certificates gives two")
    {
        CHECK(referral::certificatesFromPem(
                  pkiText("hotline-ca.pem") + pkiText("partner-ca.pem"), "bundle")
                  .size()
            == 2);
    }

    SECTION("text without a certificate is rejected")
    {
        CHECK_THROWS_WITH(referral::certificatesFromPem("not a certificate", "the bundle"),
            ContainsSubstring("the bundle contains no PEM certificate"));
    }

    SECTION("a key matches only its own certificate")
    {
        CHECK(key("hotline-client").matches(certificate("hotline-client")));
        CHECK_FALSE(key("hotline-client").matches(certificate("rogue-client")));
    }
}
