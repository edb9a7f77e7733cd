#include "Pages.h"

#include <catch2/catch_test_macros.hpp>

using meldpunt::headingText;

TEST_CASE("Page titles come from the first heading", "[pages]")
{
    SECTION("The heading's text is taken with its tags removed")
    {
        CHECK(headingText("<p>x</p><h1 class=\"a\">Report <em>a</em> suspicion</h1><h1>second</h1>")
            == "Report a suspicion");
    }

    SECTION("Escaped text stays escaped")
    {
        CHECK(headingText("<h1>Vos &amp; nous &lt;3</h1>") == "Vos &amp; nous &lt;3");
    }

    SECTION("A page without a complete heading has no title")
    {
        CHECK(headingText("<p>no heading</p>").empty());
        CHECK(headingText("<h1>never closed").empty());
        CHECK(headingText("<h1").empty());
    }
}

TEST_CASE("Page descriptions move into the head", "[pages]")
{
    using meldpunt::takeDescription;

    SECTION("the description is taken out of the body with its line")
    {
        std::string html = "<meta name=\"description\" content=\"Vos &amp; nous\">\n<h1>Titre</h1>";
        CHECK(takeDescription(html) == "Vos &amp; nous");
        CHECK(html == "<h1>Titre</h1>");
    }

    SECTION("a body without a description stays as it is")
    {
        std::string html = "<h1>Titre</h1><p>content=\"x\"</p>";
        CHECK(takeDescription(html).empty());
        CHECK(html == "<h1>Titre</h1><p>content=\"x\"</p>");
    }

    SECTION("an unclosed tag is left alone")
    {
        std::string html = "<meta name=\"description\" content=\"never closed";
        CHECK(takeDescription(html).empty());
        CHECK(html == "<meta name=\"description\" content=\"never closed");
    }
}
