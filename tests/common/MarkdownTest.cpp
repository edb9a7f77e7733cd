#include "Markdown.h"

#include "TestData.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <string>

using Catch::Matchers::ContainsSubstring;
using meldpunt::markdown::isAllowedLink;
using meldpunt::markdown::refusedLinks;
using meldpunt::markdown::toHtml;

namespace {

// True when `html` has a tag other than the ones the renderer makes.
bool hasForeignTag(const std::string& html)
{
    static const char* allowed[] = {"p>", "/p>", "h1>", "/h1>", "h2>", "/h2>", "h3>", "/h3>", "h4>", "/h4>",
        "h5>", "/h5>", "h6>", "/h6>", "ul>", "/ul>", "ol>", "/ol>", "li>", "/li>", "em>", "/em>", "strong>",
        "/strong>", "a href=\"", "/a>"};
    for (std::size_t at = html.find('<'); at != std::string::npos; at = html.find('<', at + 1)) {
        bool known = false;
        for (const char* tag : allowed)
            known = known || html.compare(at + 1, std::string(tag).size(), tag) == 0;
        if (!known)
            return true;
    }
    return false;
}

} // namespace

TEST_CASE("Markdown renders the allowed subset", "[markdown]")
{
    SECTION("headings, paragraphs and line breaks")
    {
        CHECK(toHtml("# Title\n\nFirst line\nsecond line\n\n## Part ##") ==
            "<h1>Title</h1>\n<p>First line\nsecond line</p>\n<h2>Part</h2>\n");
        CHECK(toHtml("#no space is text") == "<p>#no space is text</p>\n");
        CHECK(toHtml("####### seven is text") == "<p>####### seven is text</p>\n");
    }

    SECTION("Windows and old Mac line breaks count as line breaks")
    {
        CHECK(toHtml("one\r\n\r\ntwo\rthree") == "<p>one</p>\n<p>two\nthree</p>\n");
    }

    SECTION("bulleted and numbered lists")
    {
        CHECK(toHtml("- one\n- two\n  more\n\n- three") == "<ul>\n<li>one</li>\n<li>two\nmore</li>\n<li>three</li>\n</ul>\n");
        CHECK(toHtml("1. first\n2) second\n\nafter") == "<ol>\n<li>first</li>\n<li>second</li>\n</ol>\n<p>after</p>\n");
        CHECK(toHtml("* a\n1. b") == "<ul>\n<li>a</li>\n</ul>\n<ol>\n<li>b</li>\n</ol>\n");
    }

    SECTION("emphasis and strong text, nested")
    {
        CHECK(toHtml("*a* _b_ **c** __d__") == "<p><em>a</em> <em>b</em> <strong>c</strong> <strong>d</strong></p>\n");
        CHECK(toHtml("**bold *and em* text**") == "<p><strong>bold <em>and em</em> text</strong></p>\n");
        CHECK(toHtml("snake_case_name and 2 * 3 * 4") == "<p>snake_case_name and 2 * 3 * 4</p>\n");
        CHECK(toHtml("\\*not em\\*") == "<p>*not em*</p>\n");
        CHECK(toHtml("*never closed") == "<p>*never closed</p>\n");
    }

    SECTION("links to https:, mailto: and pages of the site")
    {
        CHECK(toHtml("[Report](/nl/report)") == "<p><a href=\"/nl/report\">Report</a></p>\n");
        CHECK(toHtml("[Site](https://example.org/a?b=1&c=2)")
            == "<p><a href=\"https://example.org/a?b=1&amp;c=2\">Site</a></p>\n");
        CHECK(toHtml("[Mail us](mailto:info@example.org)") == "<p><a href=\"mailto:info@example.org\">Mail us</a></p>\n");
        CHECK(toHtml("[*FAQ*](info/faq)") == "<p><a href=\"info/faq\"><em>FAQ</em></a></p>\n");
    }
}

TEST_CASE("Markdown rejects unsafe link targets", "[markdown]")
{
    for (const char* target : {"https://example.org/", "HTTPS://example.org/", "mailto:a@example.org", "/nl/report",
             "info/faq", "#contact", "?page=2", "faq/2:x"}) {
        INFO(target);
        CHECK(isAllowedLink(target));
    }
    for (const char* target : {"javascript:alert(1)", "JavaScript:alert(1)", "java\tscript:alert(1)",
             "data:text/html,<script>", "http://example.org/", "//evil.example/", "/\\evil.example/",
             "vbscript:x", "https://", "mailto:", "", "a b", "/x\"onmouseover=\"y", "file:///etc/passwd"}) {
        INFO(target);
        CHECK_FALSE(isAllowedLink(target));
    }

    SECTION("a refused link shows its text without a link")
    {
        const std::string html = toHtml("[click](javascript:alert(1)) and [x](//evil.example)");
        CHECK(html.find("<a") == std::string::npos);
        CHECK_THAT(html, ContainsSubstring("click"));
        CHECK(refusedLinks("[a](/ok) [b](javascript:alert(1)) [c](data:x)")
            == std::vector<std::string>{"javascript:alert(1", "data:x"});
    }
}

TEST_CASE("Markdown escapes hostile input", "[markdown]")
{
    SECTION("HTML written by hand is shown as text")
    {
        CHECK(toHtml("<script>alert(1)</script>") == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n");
        CHECK(toHtml("\"><img src=x onerror=alert(1)>") == "<p>&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</p>\n");
        CHECK(toHtml("&lt;b&gt; &#60;") == "<p>&amp;lt;b&amp;gt; &amp;#60;</p>\n");
        CHECK(toHtml("[x](/a\"onclick=\"b)") == "<p>x</p>\n");
        CHECK(toHtml("[<img src=x onerror=alert(1)>](/ok)")
            == "<p><a href=\"/ok\">&lt;img src=x onerror=alert(1)&gt;</a></p>\n");
    }

    SECTION("every hostile value, alone and in each construct, makes only the renderer's own tags")
    {
        for (const auto& value : meldpunt::test::hostileInputs()) {
            for (const std::string& text : {value, "# " + value, "- " + value, "*" + value + "*",
                     "[" + value + "](/ok)", "[ok](" + value + ")", "**" + value + "**"}) {
                const std::string html = toHtml(text);
                INFO(text);
                CHECK_FALSE(hasForeignTag(html));
                CHECK(html.find("<script") == std::string::npos);
                CHECK(html.find("href=\"javascript:") == std::string::npos);
                CHECK(html.find("<img") == std::string::npos);
            }
        }
    }

    SECTION("deep nesting and long runs of markers finish")
    {
        CHECK_FALSE(hasForeignTag(toHtml(std::string(20000, '*'))));
        CHECK_FALSE(hasForeignTag(toHtml(std::string(10000, '[') + std::string(10000, ']'))));
        std::string nested;
        for (int depth = 0; depth < 200; ++depth)
            nested += depth % 2 == 0 ? "*a " : "_b ";
        CHECK_FALSE(hasForeignTag(toHtml(nested + nested)));
    }
}
