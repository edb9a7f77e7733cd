#include "Manifest.h"

#include "UpdateError.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

using namespace meldpunt::updater;
using Catch::Matchers::ContainsSubstring;

namespace {

Manifest example()
{
    Manifest manifest;
    manifest.product = "meldpunt";
    manifest.hardwareIds = { "box-1", "box-2" };
    manifest.version = "1.2.0";
    manifest.securityEpoch = 3;
    manifest.created = "2026-12-04T19:00:00Z";
    ManifestImage image;
    image.slotType = "rootfs";
    image.offset = 4096;
    image.size = (std::uint64_t{ 4 } << 30) + 1;
    image.sha256.fill(0xab);
    manifest.images = { image };
    return manifest;
}

std::string replaced(std::string text, const std::string& from, const std::string& to)
{
    const std::size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

} // namespace

TEST_CASE("manifest parses strictly and round-trips", "[updater]")
{
    const std::string json = serializeManifest(example());

    SECTION("a serialised manifest parses to the same values")
    {
        const Manifest parsed = parseManifest(json);
        CHECK(parsed.product == "meldpunt");
        CHECK(parsed.hardwareIds.size() == 2);
        CHECK(parsed.securityEpoch == 3);
        CHECK(parsed.images.at(0).size == (std::uint64_t{ 4 } << 30) + 1);
        CHECK(serializeManifest(parsed) == json);
    }
    SECTION("unknown, missing and mistyped fields are rejected")
    {
        CHECK_THROWS_WITH(parseManifest(replaced(json, "\"version\"", "\"versio\"")),
            ContainsSubstring("unknown field"));
        CHECK_THROWS_WITH(
            parseManifest(replaced(json, "\"securityEpoch\":3", "\"securityEpoch\":\"3\"")),
            ContainsSubstring("not an integer"));
        CHECK_THROWS_WITH(
            parseManifest(replaced(json, "\"securityEpoch\":3", "\"securityEpoch\":65")),
            ContainsSubstring("exceeds 64"));
        CHECK_THROWS_WITH(
            parseManifest(replaced(json, "\"slotType\":\"rootfs\"", "\"slotType\":\"esp\"")),
            ContainsSubstring("not supported"));
        CHECK_THROWS_WITH(parseManifest("[]"), ContainsSubstring("not a JSON object"));
        CHECK_THROWS_WITH(parseManifest("{"), ContainsSubstring("not valid JSON"));
    }
    SECTION("images must tile the image area")
    {
        const Manifest manifest = example();
        BundleHeader header;
        header.imagesOffset = 4096;
        header.imagesLength = manifest.images[0].size;
        CHECK_NOTHROW(checkImageLayout(manifest, header));
        header.imagesLength += 1;
        CHECK_THROWS_WITH(
            checkImageLayout(manifest, header), ContainsSubstring("the file ends at byte"));
        header.imagesLength -= 2;
        CHECK_THROWS_WITH(
            checkImageLayout(manifest, header), ContainsSubstring("runs past the end"));
    }
}
