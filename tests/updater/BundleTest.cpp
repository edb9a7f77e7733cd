#include "Bundle.h"

#include "UpdateError.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

using namespace meldpunt::updater;
using Catch::Matchers::ContainsSubstring;

namespace {

BundleHeader validHeader(std::uint64_t imageLength)
{
    BundleHeader header;
    header.manifestOffset = 64;
    header.manifestLength = 300;
    header.signatureOffset = 364;
    header.signatureLength = 800;
    header.imagesOffset = 4096;
    header.imagesLength = imageLength;
    return header;
}

} // namespace

TEST_CASE("bundle header parses only the fixed layout", "[updater]")
{
    SECTION("a valid header round-trips, also beyond 4 GiB")
    {
        const std::uint64_t large = (std::uint64_t{ 5 } << 30) + 17;
        const auto bytes = encodeBundleHeader(validHeader(large));
        const BundleHeader parsed = parseBundleHeader(bytes, 4096 + large);
        CHECK(parsed.imagesLength == large);
        CHECK(parsed.signatureLength == 800);
    }
    SECTION("a flipped magic byte is rejected")
    {
        auto bytes = encodeBundleHeader(validHeader(10));
        bytes[0] ^= 0x01;
        CHECK_THROWS_WITH(parseBundleHeader(bytes, 4106), ContainsSubstring("magic"));
    }
    SECTION("another format version is rejected")
    {
        auto bytes = encodeBundleHeader(validHeader(10));
        bytes[11] = 2;
        CHECK_THROWS_WITH(parseBundleHeader(bytes, 4106), ContainsSubstring("format version 2"));
    }
    SECTION("a truncated or padded file is rejected")
    {
        const auto bytes = encodeBundleHeader(validHeader(10));
        CHECK_THROWS_WITH(parseBundleHeader(bytes, 4105), ContainsSubstring("truncated"));
        CHECK_THROWS_WITH(parseBundleHeader(bytes, 4107), ContainsSubstring("appended"));
        CHECK_THROWS_WITH(
            parseBundleHeader(std::span(bytes).first(63), 63), ContainsSubstring("shorter"));
    }
    SECTION("an empty signature is rejected by name")
    {
        BundleHeader header = validHeader(10);
        header.signatureLength = 0;
        header.imagesOffset = 4096;
        CHECK_THROWS_WITH(parseBundleHeader(encodeBundleHeader(header), 4106),
            ContainsSubstring("empty signature"));
    }
    SECTION("overlapping or oversized sections are rejected")
    {
        BundleHeader header = validHeader(10);
        header.signatureOffset = 100;
        CHECK_THROWS_WITH(parseBundleHeader(encodeBundleHeader(header), 4106),
            ContainsSubstring("does not follow"));
        header = validHeader(10);
        header.manifestLength = std::uint64_t{ 1 } << 63;
        CHECK_THROWS_WITH(parseBundleHeader(encodeBundleHeader(header), 4106),
            ContainsSubstring("manifest length"));
        header = validHeader(10);
        header.imagesOffset = 8192;
        CHECK_THROWS_WITH(parseBundleHeader(encodeBundleHeader(header), 8202),
            ContainsSubstring("4096-byte boundary"));
    }
}
