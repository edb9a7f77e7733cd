#include "UpdaterFixture.h"

#include "Signature.h"
#include "UpdateError.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <sys/wait.h>

#include <fstream>

namespace fs = std::filesystem;
using namespace meldpunt::test;
using namespace meldpunt::updater;
using Catch::Matchers::ContainsSubstring;

namespace {

std::span<const std::uint8_t> bytesOf(const std::string& text)
{
    return { reinterpret_cast<const std::uint8_t*>(text.data()), text.size() };
}

std::time_t utc(const std::string& text)
{
    std::time_t time = 0;
    REQUIRE(parseUtcTimestamp(text, time));
    return time;
}

} // namespace

TEST_CASE("signature verification accepts only a trusted code signer", "[updater]")
{
    UpdaterBox box("signature");
    const TrustAnchors anchors(box.pki("vendor-ca.pem"), box.pki("vendor.crl"));
    const std::string manifest = "{\"example\":\"manifest\"}";
    const std::time_t floor = utc("2026-01-01T00:00:00Z");
    const std::time_t now = std::time(nullptr);
    const auto sign = [&](const std::string& who) {
        return signDetached(bytesOf(manifest), box.pki(who + ".pem"), box.pki(who + ".key"), {});
    };

    SECTION("the release signer is accepted")
    {
        const SignerIdentity signer =
            verifyDetachedSignature(bytesOf(manifest), sign("signer"), anchors, floor, now);
        CHECK_THAT(signer.subject, ContainsSubstring("Meldpunt test release signing"));
        CHECK(signer.sha256Fingerprint.size() == 64);
    }
    SECTION("one flipped content byte is rejected")
    {
        std::string changed = manifest;
        changed[3] ^= 0x01;
        CHECK_THROWS_WITH(
            verifyDetachedSignature(bytesOf(changed), sign("signer"), anchors, floor, now),
            ContainsSubstring("does not match the manifest"));
    }
    SECTION("each flipped signature byte is rejected")
    {
        const std::vector<std::uint8_t> good = sign("signer");
        for (std::size_t i = 0; i < good.size(); ++i) {
            std::vector<std::uint8_t> changed = good;
            changed[i] ^= 0x01;
            INFO("byte " << i);
            CHECK_THROWS_AS(
                verifyDetachedSignature(bytesOf(manifest), changed, anchors, floor, now),
                UpdateError);
        }
    }
    SECTION("an empty signature is rejected")
    {
        CHECK_THROWS_WITH(verifyDetachedSignature(bytesOf(manifest), {}, anchors, floor, now),
            ContainsSubstring("it is empty"));
    }
    SECTION("a signer from another CA is rejected")
    {
        CHECK_THROWS_WITH(
            verifyDetachedSignature(bytesOf(manifest), sign("other"), anchors, floor, now),
            ContainsSubstring("is not trusted"));
    }
    SECTION("a downgrade signer is not a release signer")
    {
        CHECK_THROWS_WITH(
            verifyDetachedSignature(bytesOf(manifest), sign("downgrade"), anchors, floor, now),
            ContainsSubstring("is not trusted"));
    }
    SECTION("a revoked signer is rejected")
    {
        CHECK_THROWS_WITH(
            verifyDetachedSignature(bytesOf(manifest), sign("revoked"), anchors, floor, now),
            ContainsSubstring("certificate revoked"));
    }
    SECTION("certificate dates are judged by the build time, not the clock")
    {
        // The expired certificate was valid only in 2020. The clock reads a
        // later date, but with a build time inside 2020 it is accepted.
        const std::time_t created = utc("2020-06-01T00:00:00Z");
        CHECK_NOTHROW(verifyDetachedSignature(
            bytesOf(manifest), sign("expired"), anchors, utc("2020-03-01T00:00:00Z"), created));
        CHECK_THROWS_WITH(
            verifyDetachedSignature(bytesOf(manifest), sign("expired"), anchors, floor, created),
            ContainsSubstring("expired before 2026-01-01T00:00:00Z"));
        CHECK_THROWS_WITH(verifyDetachedSignature(bytesOf(manifest), sign("signer"), anchors, floor,
                              utc("2001-01-01T00:00:00Z")),
            ContainsSubstring("was not valid at 2001-01-01T00:00:00Z"));
    }
    SECTION("a trust store without a CRL cannot be loaded")
    {
        std::ofstream(box.root() / "empty.crl") << "";
        CHECK_THROWS_WITH(TrustAnchors(box.pki("vendor-ca.pem"), box.root() / "empty.crl"),
            ContainsSubstring("contains no PEM CRL"));
    }
}

TEST_CASE("technician commands verify a bundle with stock openssl", "[updater]")
{
    UpdaterBox box("technician-openssl");
    const fs::path folder = box.root() / "technician";
    fs::create_directories(folder);
    fs::copy_file(box.makeBundle("release"), folder / "meldpunt-1.2.0.mpb");
    fs::copy_file(box.pki("vendor-ca.pem"), folder / "vendor-ca.pem");
    fs::copy_file(box.pki("vendor.crl"), folder / "vendor.crl");
    const auto run = [&] {
        Process shell({ "sh", "-e", "-c", technicianCommands() },
            Process::Options({}, box.root() / "technician.log", folder));
        const auto status = shell.wait(std::chrono::seconds(60));
        return std::make_pair(
            status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1, shell.log());
    };

    SECTION("an intact bundle passes")
    {
        const auto [status, log] = run();
        INFO(log);
        CHECK(status == 0);
        CHECK_THAT(log, ContainsSubstring("CMS Verification successful"));
        CHECK_THAT(log, ContainsSubstring("rootfs image matches the manifest"));
    }
    SECTION("a flipped manifest byte fails")
    {
        flipByte(folder / "meldpunt-1.2.0.mpb", kBundleHeaderSize + 40);
        const auto [status, log] = run();
        INFO(log);
        CHECK(status != 0);
        CHECK_THAT(log, ContainsSubstring("Verification failure"));
    }
    SECTION("a flipped image byte fails")
    {
        flipByte(folder / "meldpunt-1.2.0.mpb", fs::file_size(folder / "meldpunt-1.2.0.mpb") - 1);
        const auto [status, log] = run();
        INFO(log);
        CHECK(status != 0);
        CHECK_THAT(log, !ContainsSubstring("rootfs image matches the manifest"));
    }
}
