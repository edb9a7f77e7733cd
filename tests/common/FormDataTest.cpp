#include "FormData.h"
#include "TestData.h"

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using meldpunt::countCodePoints;
using meldpunt::FormData;
using meldpunt::FormLimits;
using meldpunt::hasForbiddenControl;
using meldpunt::hasVisibleText;
using meldpunt::isValidUtf8;
using meldpunt::MalformedFormError;
using meldpunt::parseUrlEncoded;

using namespace std::string_literals;

using meldpunt::test::hostileInputs;

namespace {

// Percent-encodes every byte except unreserved ASCII. With `spaceAsPlus`,
// a space becomes '+' as browsers send it.
std::string percentEncode(const std::string& text, bool spaceAsPlus)
{
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else if (c == ' ' && spaceAsPlus) {
            out.push_back('+');
        } else {
            char escape[4];
            std::snprintf(escape, sizeof escape, "%%%02X", c);
            out += escape;
        }
    }
    return out;
}

} // namespace

TEST_CASE("Hostile inputs survive form parsing", "[formdata]")
{
    const auto inputs = hostileInputs();
    REQUIRE(inputs.size() >= 20);

    SECTION("The hostile input list decodes its escapes")
    {
        CHECK(std::find(inputs.begin(), inputs.end(), "line one\r\nSet-Cookie: injected=1") != inputs.end());
        CHECK(std::find(inputs.begin(), inputs.end(), "\0null\0byte"s) != inputs.end());
        CHECK(std::find(inputs.begin(), inputs.end(), "e\xcc\x81 versus \xc3\xa9 (NFD versus NFC)") != inputs.end());
        CHECK(std::find(inputs.begin(), inputs.end(), " leading and trailing spaces ") != inputs.end());
        CHECK(std::find(inputs.begin(), inputs.end(), "{{7*7}} ${7*7} <%= 7*7 %>") != inputs.end());
    }

    SECTION("Every percent-encoded hostile input comes back byte-exact")
    {
        for (const auto& input : inputs) {
            const std::string body = "before=1&what=" + percentEncode(input, false) + "&after=2";
            INFO("input: " << input);
            const FormData form = parseUrlEncoded(body);
            CHECK(form.get("what") == input);
            CHECK(form.get("before") == "1");
            CHECK(form.get("after") == "2");
        }
    }

    SECTION("Every hostile input with spaces sent as plus comes back byte-exact")
    {
        for (const auto& input : inputs) {
            INFO("input: " << input);
            CHECK(parseUrlEncoded("what=" + percentEncode(input, true)).get("what") == input);
        }
    }
}

TEST_CASE("Form parsing follows URL encoding", "[formdata]")
{
    SECTION("Plus is a space and %2B is a plus")
    {
        const FormData form = parseUrlEncoded("a=one+two%2Bthree++&b=+");
        CHECK(form.get("a") == "one two+three  ");
        CHECK(form.get("b") == " ");
    }

    SECTION("Names are decoded too")
    {
        const FormData form = parseUrlEncoded("na%6De+x=v");
        CHECK(form.get("name x") == "v");
    }

    SECTION("Fields keep their order and repeated names")
    {
        const FormData form = parseUrlEncoded("c=1&a=2&c=3");
        REQUIRE(form.fields().size() == 3);
        CHECK(form.fields()[0].first == "c");
        CHECK(form.fields()[1].first == "a");
        CHECK(form.get("c") == "1");
        CHECK(form.all("c") == std::vector<std::string>{"1", "3"});
        CHECK(form.has("a"));
        CHECK_FALSE(form.has("b"));
        CHECK(form.get("b").empty());
    }

    SECTION("A pair without an equals sign has an empty value")
    {
        const FormData form = parseUrlEncoded("flag&x=");
        CHECK(form.has("flag"));
        CHECK(form.get("flag").empty());
        CHECK(form.has("x"));
    }

    SECTION("Empty pairs are skipped")
    {
        const FormData form = parseUrlEncoded("&&a=1&&");
        CHECK(form.fields().size() == 1);
        CHECK(parseUrlEncoded("").fields().empty());
    }

    SECTION("Mixed-case hex digits decode")
    {
        CHECK(parseUrlEncoded("a=%c3%A9").get("a") == "\xc3\xa9");
    }
}

TEST_CASE("Broken percent encoding is malformed", "[formdata]")
{
    for (const char* body : {"a=%ZZ", "a=%", "a=%4", "a=x%4", "a=%G0", "a=%0G", "%=1", "a%2=1", "a=%%41"}) {
        DYNAMIC_SECTION("The body '" << body << "' is rejected")
        {
            CHECK_THROWS_AS(parseUrlEncoded(body), MalformedFormError);
        }
    }
}

TEST_CASE("Invalid UTF-8 is malformed", "[formdata]")
{
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"a lone continuation byte", "%80"},
        {"a continuation byte after ASCII", "ab%BF"},
        {"an overlong two-byte NUL", "%C0%80"},
        {"an overlong two-byte slash", "%C1%AF"},
        {"an overlong three-byte form", "%E0%80%80"},
        {"an overlong four-byte form", "%F0%80%80%80"},
        {"a UTF-16 high surrogate", "%ED%A0%80"},
        {"a UTF-16 low surrogate", "%ED%BF%BF"},
        {"a code point above U+10FFFF", "%F4%90%80%80"},
        {"the byte F5", "%F5%80%80%80"},
        {"the byte F8", "%F8%88%80%80%80"},
        {"the byte FE", "%FE"},
        {"the byte FF", "%FF"},
        {"a truncated two-byte sequence", "%C3"},
        {"a truncated three-byte sequence", "%E2%82"},
        {"a truncated four-byte sequence", "%F0%9F%98"},
        {"a truncated sequence before ASCII", "%E2%82x"},
    };
    for (const auto& [name, encoded] : cases) {
        DYNAMIC_SECTION("A value with " << name << " is rejected")
        {
            CHECK_THROWS_AS(parseUrlEncoded("a=" + encoded), MalformedFormError);
        }
        DYNAMIC_SECTION("A name with " << name << " is rejected")
        {
            CHECK_THROWS_AS(parseUrlEncoded(encoded + "=1"), MalformedFormError);
        }
    }

    SECTION("Boundary code points are valid")
    {
        for (const char* text : {"\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80",
                 "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"}) {
            INFO(text);
            CHECK(isValidUtf8(text));
        }
        CHECK(isValidUtf8(""));
        CHECK(isValidUtf8("\0"s));
    }
}

TEST_CASE("Form limits are enforced", "[formdata]")
{
    auto fields = [](std::size_t count) {
        std::string body;
        for (std::size_t i = 0; i < count; ++i)
            body += "f" + std::to_string(i) + "=x&";
        return body;
    };

    SECTION("The default number of fields is accepted")
    {
        CHECK(parseUrlEncoded(fields(200)).fields().size() == 200);
    }

    SECTION("One field too many is malformed")
    {
        CHECK_THROWS_AS(parseUrlEncoded(fields(201)), MalformedFormError);
    }

    SECTION("A name at the byte limit is accepted")
    {
        CHECK(parseUrlEncoded(std::string(64, 'n') + "=1").has(std::string(64, 'n')));
    }

    SECTION("A name over the byte limit is malformed")
    {
        CHECK_THROWS_AS(parseUrlEncoded(std::string(65, 'n') + "=1"), MalformedFormError);
    }

    SECTION("The name limit counts decoded bytes")
    {
        // Thirty-three two-byte characters are 66 bytes.
        std::string name;
        for (int i = 0; i < 33; ++i)
            name += "%C3%A9";
        CHECK_THROWS_AS(parseUrlEncoded(name + "=1"), MalformedFormError);
    }

    SECTION("Custom limits are used")
    {
        FormLimits limits;
        limits.maxFields = 2;
        limits.maxNameBytes = 3;
        CHECK(parseUrlEncoded("abc=1&d=2", limits).fields().size() == 2);
        CHECK_THROWS_AS(parseUrlEncoded("a=1&b=2&c=3", limits), MalformedFormError);
        CHECK_THROWS_AS(parseUrlEncoded("abcd=1", limits), MalformedFormError);
    }
}

TEST_CASE("Forbidden control characters are flagged", "[formdata]")
{
    SECTION("NUL is flagged")
    {
        CHECK(hasForbiddenControl("a\0b"s));
    }

    SECTION("Every other C0 control is flagged")
    {
        for (int c = 1; c < 0x20; ++c) {
            if (c == '\t' || c == '\n' || c == '\r')
                continue;
            INFO("control " << c);
            CHECK(hasForbiddenControl("text" + std::string(1, static_cast<char>(c)) + "text"));
        }
    }

    SECTION("DEL is flagged")
    {
        CHECK(hasForbiddenControl("a\x7f"));
    }

    SECTION("Every C1 control is flagged")
    {
        for (int c = 0x80; c <= 0x9f; ++c) {
            const std::string text = "x\xc2" + std::string(1, static_cast<char>(c)) + "y";
            INFO("U+00" << std::hex << c);
            CHECK(hasForbiddenControl(text));
        }
    }

    SECTION("Tab, carriage return and line feed are allowed")
    {
        CHECK_FALSE(hasForbiddenControl("one\ttwo\r\nthree\n"));
    }

    SECTION("Ordinary and multibyte text is allowed")
    {
        CHECK_FALSE(hasForbiddenControl(""));
        CHECK_FALSE(hasForbiddenControl("Hello, world ~"));
        CHECK_FALSE(hasForbiddenControl("\xc2\xa0 no-break space, \xc2\xbf inverted question"));
        CHECK_FALSE(hasForbiddenControl("\xc4\x80 \xe2\x80\xa6 \xf0\x9f\xa7\x92"));
    }
}

TEST_CASE("Code points and visible text count", "[formdata]")
{
    SECTION("ASCII counts one per byte")
    {
        CHECK(countCodePoints("") == 0);
        CHECK(countCodePoints("hello") == 5);
    }

    SECTION("Multibyte text counts code points")
    {
        CHECK(countCodePoints("\xc3\xa9") == 1);
        CHECK(countCodePoints("\xe2\x80\xa6") == 1);
        CHECK(countCodePoints("\xf0\x9f\xa7\x92\xf0\x9f\x8f\xbd") == 2);
        CHECK(countCodePoints("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d") == 4);
        CHECK(countCodePoints("e\xcc\x81") == 2);
    }

    SECTION("White space alone is not visible text")
    {
        CHECK_FALSE(hasVisibleText(""));
        CHECK_FALSE(hasVisibleText(" \t\r\n "));
        CHECK(hasVisibleText("  x  "));
        CHECK(hasVisibleText("\xc3\xa9"));
    }

    SECTION("Characters that draw nothing are not visible text")
    {
        CHECK_FALSE(hasVisibleText("\xe2\x80\x8b"));             // zero-width space
        CHECK_FALSE(hasVisibleText("\xc2\xa0\xe3\x80\x80"));     // no-break and ideographic space
        CHECK_FALSE(hasVisibleText("\xe2\x80\x8f\xe2\x80\xae")); // right-to-left mark and override
        CHECK_FALSE(hasVisibleText("\xef\xbb\xbf\xe2\x81\xa0")); // byte order mark and word joiner
        CHECK(hasVisibleText("\xe2\x80\x8bx"));
        CHECK(hasVisibleText("\xd7\xa9"));
        CHECK(hasVisibleText("\xf0\x9f\xa7\x92"));
    }
}
