#include "Uuid.h"

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>

using meldpunt::referenceFromUuid;
using meldpunt::Uuid;
using meldpunt::uuidFromReference;

namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

std::string withoutHyphens(std::string text)
{
    text.erase(std::remove(text.begin(), text.end(), '-'), text.end());
    return text;
}

std::string lowercase(std::string text)
{
    for (char& c : text)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

// A UUID whose random bits are all set or all clear, with the version 4
// and variant bits in place.
Uuid uniformUuid(std::uint8_t fill)
{
    Uuid uuid;
    uuid.bytes.fill(fill);
    uuid.bytes[6] = static_cast<std::uint8_t>((uuid.bytes[6] & 0x0f) | 0x40);
    uuid.bytes[8] = static_cast<std::uint8_t>((uuid.bytes[8] & 0x3f) | 0x80);
    return uuid;
}

} // namespace

TEST_CASE("References encode UUIDs losslessly", "[uuid]")
{
    SECTION("Many random UUIDs survive the round trip")
    {
        std::set<std::string> seen;
        for (int i = 0; i < 2000; ++i) {
            const Uuid uuid = Uuid::generate();
            const std::string reference = referenceFromUuid(uuid);
            const auto decoded = uuidFromReference(reference);
            INFO(uuid.toString() << " as " << reference);
            REQUIRE(decoded.has_value());
            CHECK(*decoded == uuid);
            seen.insert(reference);
        }
        CHECK(seen.size() == 2000);
    }

    SECTION("UUIDs with all random bits clear or set survive the round trip")
    {
        for (std::uint8_t fill : {std::uint8_t{0x00}, std::uint8_t{0xff}}) {
            const Uuid uuid = uniformUuid(fill);
            const auto decoded = uuidFromReference(referenceFromUuid(uuid));
            REQUIRE(decoded.has_value());
            CHECK(*decoded == uuid);
        }
        CHECK(referenceFromUuid(uniformUuid(0x00)) == "00000-00000-00000-00000-00000");
    }

    SECTION("Each random bit changes the reference")
    {
        const Uuid base = uniformUuid(0x00);
        const std::string baseReference = referenceFromUuid(base);
        std::set<std::string> references;
        for (std::size_t bit = 0; bit < 128; ++bit) {
            const bool fixed = (bit >= 48 && bit < 52) || bit == 64 || bit == 65;
            if (fixed)
                continue;
            Uuid changed = base;
            changed.bytes[bit / 8] ^= static_cast<std::uint8_t>(0x80u >> (bit % 8));
            references.insert(referenceFromUuid(changed));
        }
        CHECK(references.size() == 122);
        CHECK_FALSE(references.contains(baseReference));
    }
}

TEST_CASE("References have five groups", "[uuid]")
{
    SECTION("A reference is five groups of five alphabet characters")
    {
        for (int i = 0; i < 200; ++i) {
            const std::string reference = referenceFromUuid(Uuid::generate());
            INFO(reference);
            REQUIRE(reference.size() == 29);
            for (std::size_t position = 0; position < reference.size(); ++position) {
                if (position % 6 == 5)
                    CHECK(reference[position] == '-');
                else
                    CHECK(kAlphabet.find(reference[position]) != std::string_view::npos);
            }
        }
    }

    SECTION("The last character carries two bits and zero padding")
    {
        for (int i = 0; i < 200; ++i) {
            const std::string reference = referenceFromUuid(Uuid::generate());
            const auto value = kAlphabet.find(reference.back());
            INFO(reference);
            CHECK((value & 0x07) == 0);
        }
    }
}

TEST_CASE("Typed references decode leniently", "[uuid]")
{
    const Uuid uuid = Uuid::generate();
    const std::string reference = referenceFromUuid(uuid);

    SECTION("Lowercase text decodes")
    {
        CHECK(uuidFromReference(lowercase(reference)) == uuid);
    }

    SECTION("Text without hyphens decodes")
    {
        CHECK(uuidFromReference(withoutHyphens(reference)) == uuid);
    }

    SECTION("Spaces instead of hyphens decode")
    {
        std::string spaced = reference;
        std::replace(spaced.begin(), spaced.end(), '-', ' ');
        CHECK(uuidFromReference(spaced) == uuid);
        CHECK(uuidFromReference(" " + withoutHyphens(reference) + " ") == uuid);
    }

    SECTION("O is read as zero")
    {
        const Uuid zeros = uniformUuid(0x00);
        CHECK(uuidFromReference("OOOOO-OOOOO-ooooo-00000-0O0o0") == zeros);
    }

    SECTION("I and L are read as one")
    {
        const std::string canonical = "11111-11111-11111-11111-11110";
        const auto expected = uuidFromReference(canonical);
        REQUIRE(expected.has_value());
        CHECK(uuidFromReference("IIIII-LLLLL-iiiii-lllll-1IiL0") == expected);
        CHECK(referenceFromUuid(*expected) == canonical);
    }
}

TEST_CASE("Invalid references are rejected", "[uuid]")
{
    const std::string reference = referenceFromUuid(Uuid::generate());
    const std::string compact = withoutHyphens(reference);

    SECTION("A reference one character short is rejected")
    {
        CHECK_FALSE(uuidFromReference(compact.substr(0, 24)).has_value());
    }

    SECTION("A reference one character long is rejected")
    {
        CHECK_FALSE(uuidFromReference(compact + "0").has_value());
    }

    SECTION("An empty reference is rejected")
    {
        CHECK_FALSE(uuidFromReference("").has_value());
        CHECK_FALSE(uuidFromReference("-----").has_value());
    }

    SECTION("A character outside the alphabet is rejected")
    {
        for (char bad : {'U', 'u', '*', '_', '.', '\t'}) {
            std::string changed = compact;
            changed[3] = bad;
            INFO("character " << int(bad));
            CHECK_FALSE(uuidFromReference(changed).has_value());
        }
        std::string nonAscii = compact.substr(0, 24) + "\xc3\x89";
        CHECK_FALSE(uuidFromReference(nonAscii).has_value());
    }

    SECTION("Nonzero padding bits are rejected")
    {
        const auto value = kAlphabet.find(compact.back());
        REQUIRE((value & 0x07) == 0);
        for (std::size_t padding = 1; padding < 8; ++padding) {
            std::string changed = compact;
            changed.back() = kAlphabet[value | padding];
            INFO(changed);
            CHECK_FALSE(uuidFromReference(changed).has_value());
        }
    }
}

TEST_CASE("UUIDs parse and print canonically", "[uuid]")
{
    SECTION("parse and toString round trip")
    {
        for (int i = 0; i < 200; ++i) {
            const Uuid uuid = Uuid::generate();
            const std::string text = uuid.toString();
            CHECK(Uuid::parse(text) == uuid);
        }
    }

    SECTION("A known UUID prints as expected")
    {
        const auto uuid = Uuid::parse("6F1C2A4E-8D3B-4F5A-9C7E-1B2D3E4F5A6B");
        REQUIRE(uuid.has_value());
        CHECK(uuid->toString() == "6f1c2a4e-8d3b-4f5a-9c7e-1b2d3e4f5a6b");
        CHECK(uuid->bytes[0] == 0x6f);
        CHECK(uuid->bytes[15] == 0x6b);
    }

    SECTION("Malformed text is rejected")
    {
        for (const char* text : {"", "6f1c2a4e8d3b4f5a9c7e1b2d3e4f5a6b", "6f1c2a4e-8d3b-4f5a-9c7e-1b2d3e4f5a6",
                 "6f1c2a4e-8d3b-4f5a-9c7e-1b2d3e4f5a6bb", "6f1c2a4e-8d3b-4f5a-9c7e-1b2d3e4f5a6g",
                 "6f1c2a4e8-d3b-4f5a-9c7e-1b2d3e4f5a6b", "{6f1c2a4e-8d3b-4f5a-9c7e-1b2d3e4f5a}"}) {
            INFO(text);
            CHECK_FALSE(Uuid::parse(text).has_value());
        }
    }
}

TEST_CASE("Generated UUIDs are version 4", "[uuid]")
{
    SECTION("The version and variant bits are set")
    {
        for (int i = 0; i < 500; ++i) {
            const Uuid uuid = Uuid::generate();
            CHECK((uuid.bytes[6] & 0xf0) == 0x40);
            CHECK((uuid.bytes[8] & 0xc0) == 0x80);
            CHECK(uuid.toString()[14] == '4');
        }
    }

    SECTION("Generated UUIDs differ")
    {
        std::set<std::string> seen;
        for (int i = 0; i < 1000; ++i)
            seen.insert(Uuid::generate().toString());
        CHECK(seen.size() == 1000);
    }
}
