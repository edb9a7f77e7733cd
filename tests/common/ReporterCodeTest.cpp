#include "ReporterCode.h"

#include <catch2/catch_test_macros.hpp>

#include <set>
#include <string>

using meldpunt::CodeProblem;
using meldpunt::ReporterCode;

namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr auto kResume = ReporterCode::Kind::Resume;
constexpr auto kReceipt = ReporterCode::Kind::Receipt;

std::string lowercase(std::string text)
{
    for (char& c : text)
        c = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    return text;
}

} // namespace

TEST_CASE("Reporter code round trip", "[core]")
{
    SECTION("a generated code prints as four groups of five")
    {
        const auto code = ReporterCode::generate(kResume);
        const std::string text = code.toString();
        REQUIRE(text.size() == 23);
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (i % 6 == 5)
                CHECK(text[i] == '-');
            else
                CHECK(kAlphabet.find(text[i]) != std::string_view::npos);
        }
        CHECK(code.bytes().size() == 10);
    }
    SECTION("a printed code parses back to the same bytes")
    {
        for (int i = 0; i < 50; ++i) {
            const auto code = ReporterCode::generate(i % 2 ? kReceipt : kResume);
            const auto parsed = ReporterCode::parse(code.toString(), code.kind());
            REQUIRE(parsed.code);
            CHECK(std::equal(code.bytes().begin(), code.bytes().end(), parsed.code->bytes().begin()));
            CHECK(parsed.code->toString() == code.toString());
        }
    }
    SECTION("case, spaces, hyphens and look-alike letters do not matter")
    {
        const auto code = ReporterCode::generate(kResume);
        std::string typed = lowercase(code.toString());
        for (char& c : typed) {
            if (c == '-')
                c = ' ';
            else if (c == '1')
                c = 'l';
            else if (c == '0')
                c = 'o';
        }
        const auto parsed = ReporterCode::parse("  " + typed + "\n", kResume);
        REQUIRE(parsed.code);
        CHECK(parsed.code->toString() == code.toString());
    }
    SECTION("generated codes differ")
    {
        std::set<std::string> seen;
        for (int i = 0; i < 200; ++i)
            seen.insert(ReporterCode::generate(kResume).toString());
        CHECK(seen.size() == 200);
    }
}

TEST_CASE("Reporter code typing errors", "[core]")
{
    const auto code = ReporterCode::generate(kResume);
    const std::string text = code.toString();

    SECTION("every single changed character is a typo in its group")
    {
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (text[i] == '-')
                continue;
            for (const char replacement : kAlphabet) {
                if (replacement == text[i])
                    continue;
                std::string changed = text;
                changed[i] = replacement;
                const auto parsed = ReporterCode::parse(changed, kResume);
                CAPTURE(changed);
                REQUIRE_FALSE(parsed.code);
                CHECK((parsed.problem == CodeProblem::CheckMismatch || parsed.problem == CodeProblem::OtherKind));
                if (parsed.problem == CodeProblem::CheckMismatch)
                    CHECK(parsed.group == i / 6 + 1);
            }
        }
    }
    SECTION("two swapped groups are caught")
    {
        const std::string swapped = text.substr(6, 5) + "-" + text.substr(0, 5) + text.substr(11);
        if (swapped != text)
            CHECK_FALSE(ReporterCode::parse(swapped, kResume).code);
    }
    SECTION("an empty code, a wrong length and a foreign character are told apart")
    {
        CHECK(ReporterCode::parse(" - ", kResume).problem == CodeProblem::Empty);
        CHECK(ReporterCode::parse(text.substr(0, 22), kResume).problem == CodeProblem::WrongLength);
        CHECK(ReporterCode::parse(text + "7", kResume).problem == CodeProblem::WrongLength);
        const auto foreign = ReporterCode::parse(text.substr(0, 7) + "U" + text.substr(8), kResume);
        CHECK(foreign.problem == CodeProblem::InvalidCharacter);
        CHECK(foreign.group == 2);
        CHECK(ReporterCode::parse("7K2QD-M9XH4-R0T5B-AW3N\xc3\xa9", kResume).problem
            == CodeProblem::InvalidCharacter);
    }
    SECTION("a receipt secret is not taken for a resume code")
    {
        const auto receipt = ReporterCode::generate(kReceipt);
        const auto parsed = ReporterCode::parse(receipt.toString(), kResume);
        CHECK_FALSE(parsed.code);
        CHECK(parsed.problem == CodeProblem::OtherKind);
        CHECK(ReporterCode::parse(text, kReceipt).problem == CodeProblem::OtherKind);
    }
}
