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
