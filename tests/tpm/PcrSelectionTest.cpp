#include "PcrSelection.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <stdexcept>
#include <string>

using Catch::Matchers::ContainsSubstring;
using meldpunt::tpm::PcrSelection;

TEST_CASE("PcrSelection parses valid text", "[tpm][pcr]")
{
    SECTION("a single SHA-256 PCR")
    {
        const auto selection = PcrSelection::parse("sha256:7");
        CHECK(selection.bank == "sha256");
        CHECK(selection.indices == std::vector<unsigned>{ 7 });
        CHECK(selection.toString() == "sha256:7");
    }
    SECTION("several PCRs")
    {
        const auto selection = PcrSelection::parse("sha256:0,2,7");
        CHECK(selection.indices == std::vector<unsigned>{ 0, 2, 7 });
        CHECK(selection.toString() == "sha256:0,2,7");
    }
    SECTION("indices out of order are sorted")
    {
        const auto selection = PcrSelection::parse("sha256:11,0,7");
        CHECK(selection.indices == std::vector<unsigned>{ 0, 7, 11 });
    }
    SECTION("the SHA-1 bank and the highest index")
    {
        const auto selection = PcrSelection::parse("sha1:23");
        CHECK(selection.bank == "sha1");
        CHECK(selection.indices == std::vector<unsigned>{ 23 });
    }
    SECTION("toString output parses back to the same selection")
    {
        const auto selection = PcrSelection::parse("sha256:0,1,2,3,4,5,6,7,8,9,10,11");
        CHECK(PcrSelection::parse(selection.toString()) == selection);
    }
}

TEST_CASE("PcrSelection rejects invalid text", "[tpm][pcr]")
{
    struct Case {
        std::string text;
        std::string problem;
    };
    const Case cases[] = {
        { "", "empty" },
        { "sha256:", "no PCR index" },
        { "sha256:24", "out of range 0..23" },
        { "md5:1", "\"md5\" is not sha256 or sha1" },
        { "sha256:7,7x", "\"7x\" is not a PCR index" },
        { "sha256", "colon" },
        { "sha256:7,7", "listed twice" },
        { "sha256:0,,2", "empty" },
        { "sha256:-1", "\"-1\" is not a PCR index" },
        { "sha256: 7", "\" 7\" is not a PCR index" },
        { "SHA256:7", "is not sha256 or sha1" },
    };
    for (const auto& [text, problem] : cases) {
        SECTION("\"" + text + "\"")
        {
            try {
                PcrSelection::parse(text);
                FAIL("parse accepted \"" << text << "\"");
            } catch (const std::invalid_argument& error) {
                CHECK_THAT(error.what(), ContainsSubstring(problem));
                CHECK_THAT(error.what(), ContainsSubstring("sha256:0,2,7"));
            }
        }
    }
}
