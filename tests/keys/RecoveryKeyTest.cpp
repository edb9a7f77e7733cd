#include "RecoveryKey.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

using Catch::Matchers::ContainsSubstring;
using meldpunt::keys::InvalidRecoveryKey;
using meldpunt::keys::RecoveryKey;

namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// Recovery keys whose text was computed by hand from the format: all bits
// zero, all bits one, and only the first bit set. The check character of
// group g is (1*v0 + 3*v1 + 5*v2 + 7*v3 + 7*g) mod 32.
constexpr std::string_view kAllZeroText = "00000-00007-0000E-0000N-0000W-00003-0000A-0000H";
constexpr std::string_view kAllOnesText = "ZZZZG-ZZZZQ-ZZZZY-ZZZZ5-ZZZZC-ZZZZK-ZZZZT-ZZZZ1";
constexpr std::string_view kFirstBitText = "G000G-00007-0000E-0000N-0000W-00003-0000A-0000H";

std::vector<std::uint8_t> bytesOf(const RecoveryKey& key)
{
    return {key.bytes().begin(), key.bytes().end()};
}

// Returns the message of the InvalidRecoveryKey that parse throws, or an
// empty string when parse accepts the text.
std::string parseError(std::string_view text)
{
    try {
        RecoveryKey::parse(text);
    } catch (const InvalidRecoveryKey& error) {
        return error.what();
    }
    return {};
}

std::string groupName(std::size_t zeroBasedGroup)
{
    return "group " + std::to_string(zeroBasedGroup + 1);
}

} // namespace

TEST_CASE("Recovery key text round trips", "[recovery]")
{
    SECTION("Generated keys parse back to the same bytes")
    {
        for (int i = 0; i < 200; ++i) {
            const RecoveryKey key = RecoveryKey::generate();
            const std::string text = key.toString();
            INFO(text);
            CHECK(bytesOf(RecoveryKey::parse(text)) == bytesOf(key));
        }
    }

    SECTION("Text has 8 groups of 5 characters")
    {
        const std::string text = RecoveryKey::generate().toString();
        INFO(text);
        CHECK(text.size() == 47);
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (i % 6 == 5)
                CHECK(text[i] == '-');
            else
                CHECK(kAlphabet.find(text[i]) != std::string_view::npos);
        }
    }

    SECTION("Keys hold 20 bytes")
    {
        CHECK(RecoveryKey::generate().bytes().size() == 20);
    }
}

TEST_CASE("Recovery key format is pinned", "[recovery]")
{
    SECTION("All-zero key")
    {
        const RecoveryKey key = RecoveryKey::parse(kAllZeroText);
        CHECK(bytesOf(key) == std::vector<std::uint8_t>(20, 0x00));
        CHECK(key.toString() == kAllZeroText);
    }

    SECTION("All-ones key")
    {
        const RecoveryKey key = RecoveryKey::parse(kAllOnesText);
        CHECK(bytesOf(key) == std::vector<std::uint8_t>(20, 0xff));
        CHECK(key.toString() == kAllOnesText);
    }

    SECTION("First character holds the most significant bits")
    {
        std::vector<std::uint8_t> expected(20, 0x00);
        expected[0] = 0x80;
        const RecoveryKey key = RecoveryKey::parse(kFirstBitText);
        CHECK(bytesOf(key) == expected);
        CHECK(key.toString() == kFirstBitText);
    }
}

TEST_CASE("Recovery key catches single typos", "[recovery]")
{
    const std::string generated = RecoveryKey::generate().toString();
    for (const std::string& original : {generated, std::string(kAllZeroText)}) {
        for (std::size_t position = 0; position < original.size(); ++position) {
            if (original[position] == '-')
                continue;
            for (const char replacement : kAlphabet) {
                if (replacement == original[position])
                    continue;
                std::string typed = original;
                typed[position] = replacement;
                INFO(original << " typed as " << typed);
                const std::string message = parseError(typed);
                CHECK_FALSE(message.empty());
                CHECK_THAT(message, ContainsSubstring(groupName(position / 6)));
            }
        }
    }
}

TEST_CASE("Recovery key catches swapped groups", "[recovery]")
{
    const std::string original = RecoveryKey::generate().toString();
    for (std::size_t first = 0; first < 8; ++first) {
        for (std::size_t second = first + 1; second < 8; ++second) {
            std::string typed = original;
            const std::string firstGroup = original.substr(first * 6, 5);
            const std::string secondGroup = original.substr(second * 6, 5);
            // Two equal groups (a chance of 2^-20) swap into the same text.
            if (firstGroup == secondGroup)
                continue;
            typed.replace(first * 6, 5, secondGroup);
            typed.replace(second * 6, 5, firstGroup);
            INFO(original << " typed as " << typed);
            const std::string message = parseError(typed);
            CHECK_FALSE(message.empty());
            CHECK_THAT(message, ContainsSubstring(groupName(first)));
        }
    }
}

TEST_CASE("Recovery key input is forgiving", "[recovery]")
{
    const RecoveryKey key = RecoveryKey::generate();
    const std::string text = key.toString();

    SECTION("Lower case")
    {
        std::string lower = text;
        std::transform(lower.begin(), lower.end(), lower.begin(),
            [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        CHECK(bytesOf(RecoveryKey::parse(lower)) == bytesOf(key));
    }

    SECTION("Missing hyphens")
    {
        std::string bare = text;
        std::erase(bare, '-');
        CHECK(bytesOf(RecoveryKey::parse(bare)) == bytesOf(key));
    }

    SECTION("Spaces, tabs and line breaks anywhere")
    {
        std::string spaced = " " + text.substr(0, 3) + " " + text.substr(3, 20) + "\t\n"
            + text.substr(23) + " \r\n";
        std::replace(spaced.begin(), spaced.end(), '-', ' ');
        CHECK(bytesOf(RecoveryKey::parse(spaced)) == bytesOf(key));
    }

    SECTION("Doubled hyphens")
    {
        std::string doubled = text;
        doubled.insert(5, "-");
        CHECK(bytesOf(RecoveryKey::parse(doubled)) == bytesOf(key));
    }

    SECTION("O and o for zero")
    {
        std::string typed(kAllZeroText);
        std::replace(typed.begin(), typed.begin() + 10, '0', 'O');
        std::replace(typed.begin() + 10, typed.end(), '0', 'o');
        INFO(typed);
        CHECK(bytesOf(RecoveryKey::parse(typed)) == std::vector<std::uint8_t>(20, 0x00));
    }

    SECTION("I, i, L and l for one")
    {
        const std::string base(kAllOnesText);
        for (const char alias : {'I', 'i', 'L', 'l'}) {
            std::string typed = base;
            typed.back() = alias;
            INFO(typed);
            CHECK(bytesOf(RecoveryKey::parse(typed)) == std::vector<std::uint8_t>(20, 0xff));
        }
    }
}

TEST_CASE("Recovery key rejects malformed text", "[recovery]")
{
    const std::string text = RecoveryKey::generate().toString();

    SECTION("Missing character")
    {
        const std::string message = parseError(text.substr(0, text.size() - 1));
        CHECK_THAT(message, ContainsSubstring("has 39 characters"));
        CHECK_THAT(message, ContainsSubstring("8 groups of 5"));
    }

    SECTION("Extra character")
    {
        CHECK_THAT(parseError(text + "0"), ContainsSubstring("has 41 characters"));
    }

    SECTION("Missing group")
    {
        CHECK_THAT(parseError(text.substr(0, 41)), ContainsSubstring("has 35 characters"));
    }

    SECTION("Empty text")
    {
        CHECK_THAT(parseError(""), ContainsSubstring("is empty"));
    }

    SECTION("Only separators")
    {
        CHECK_THAT(parseError(" - - "), ContainsSubstring("is empty"));
    }

    SECTION("Letter U")
    {
        std::string typed = text;
        typed[14] = 'U';
        const std::string message = parseError(typed);
        CHECK_THAT(message, ContainsSubstring("'U' in group 3"));
        CHECK_THAT(message, ContainsSubstring("except I, L, O and U"));
    }

    SECTION("Punctuation")
    {
        std::string typed = text;
        typed[0] = '*';
        CHECK_THAT(parseError(typed), ContainsSubstring("'*' in group 1"));
    }

    SECTION("Non-ASCII character")
    {
        std::string typed = text;
        typed.replace(44, 1, "\xc3\xa9");
        CHECK_THAT(parseError(typed), ContainsSubstring("byte 0xC3) in group 8"));
    }

    SECTION("Invalid character after the last group")
    {
        CHECK_THAT(parseError(text + "!"), ContainsSubstring("contains '!', which"));
    }
}

TEST_CASE("Recovery keys differ each time", "[recovery]")
{
    const RecoveryKey first = RecoveryKey::generate();
    const RecoveryKey second = RecoveryKey::generate();
    CHECK(bytesOf(first) != bytesOf(second));
    CHECK(first.toString() != second.toString());
}
