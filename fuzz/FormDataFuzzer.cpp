// Fuzzes the parsing of form bodies that strangers send to the public site,
// and the checks and serialisation that follow it.

#include "FuzzSupport.h"

#include "FormData.h"
#include "ReportForm.h"

#include <Poco/Dynamic/Var.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <optional>
#include <set>
#include <vector>

using namespace meldpunt;

namespace {

// Decodes `text` as UTF-8 following the table of well-formed UTF-8 byte
// sequences in chapter 3 of the Unicode standard. It is written
// differently from the product's decoder on purpose, so that the two check
// each other. Returns nullopt for ill-formed text.
std::optional<std::vector<char32_t>> referenceDecode(std::string_view text)
{
    std::vector<char32_t> codePoints;
    std::size_t i = 0;
    auto byteAt = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    auto within = [](unsigned char b, unsigned char low, unsigned char high) { return b >= low && b <= high; };
    while (i < text.size()) {
        const unsigned char b0 = byteAt(i);
        std::size_t length = 0;
        unsigned char low1 = 0x80;
        unsigned char high1 = 0xbf;
        if (b0 <= 0x7f) {
            length = 1;
        } else if (within(b0, 0xc2, 0xdf)) {
            length = 2;
        } else if (b0 == 0xe0) {
            length = 3;
            low1 = 0xa0;
        } else if (within(b0, 0xe1, 0xec) || within(b0, 0xee, 0xef)) {
            length = 3;
        } else if (b0 == 0xed) {
            length = 3;
            high1 = 0x9f;
        } else if (b0 == 0xf0) {
            length = 4;
            low1 = 0x90;
        } else if (within(b0, 0xf1, 0xf3)) {
            length = 4;
        } else if (b0 == 0xf4) {
            length = 4;
            high1 = 0x8f;
        } else {
            return std::nullopt;
        }
        if (text.size() - i < length)
            return std::nullopt;
        char32_t value = length == 1 ? b0 : (b0 & (0xff >> (length + 1)));
        for (std::size_t k = 1; k < length; ++k) {
            const unsigned char b = byteAt(i + k);
            const unsigned char low = k == 1 ? low1 : 0x80;
            const unsigned char high = k == 1 ? high1 : 0xbf;
            if (!within(b, low, high))
                return std::nullopt;
            value = value << 6 | (b & 0x3f);
        }
        codePoints.push_back(value);
        i += length;
    }
    return codePoints;
}

bool isForbiddenCodePoint(char32_t c)
{
    return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || (c >= 0x7f && c <= 0x9f);
}

const std::set<std::string>& countryCodes()
{
    static const std::set<std::string> codes = {"NL", "BE", "DE", "TH", "PH", "unknown"};
    return codes;
}

void checkTextFunctions(std::string_view text)
{
    const auto decoded = referenceDecode(text);
    FUZZ_CHECK(isValidUtf8(text) == decoded.has_value(), "isValidUtf8 disagrees with the Unicode table");
    if (!decoded)
        return;
    bool forbidden = false;
    for (const char32_t c : *decoded)
        forbidden = forbidden || isForbiddenCodePoint(c);
    FUZZ_CHECK(hasForbiddenControl(text) == forbidden, "hasForbiddenControl misses or invents a control");
    FUZZ_CHECK(countCodePoints(text) == decoded->size(), "countCodePoints miscounts valid UTF-8");
}

void checkForm(const FormData& form, const FormLimits& limits)
{
    FUZZ_CHECK(form.fields().size() <= limits.maxFields, "more fields than the limit");
    for (const auto& [name, value] : form.fields()) {
        FUZZ_CHECK(name.size() <= limits.maxNameBytes, "a field name over the limit");
        FUZZ_CHECK(isValidUtf8(name), "a field name that is not UTF-8");
        FUZZ_CHECK(isValidUtf8(value), "a field value that is not UTF-8");
    }

    const auto problems = ReportForm::validate(form, countryCodes());
    for (const auto& [name, problem] : problems) {
        bool known = false;
        for (const auto& spec : ReportForm::fields())
            known = known || spec.name == name;
        FUZZ_CHECK(known, "a problem reported for an unknown field");
    }

    // Every value the checks accept must reach the spool byte for byte.
    const std::string json = ReportForm::toJson(form, "nl", "2024-05-31T12:00:00Z");
    Poco::JSON::Object::Ptr root;
    try {
        Poco::JSON::Parser parser;
        root = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
    } catch (const Poco::Exception& error) {
        fuzz::contractBroken(__FILE__, __LINE__, "toJson wrote JSON that does not parse: " + error.displayText());
    }
    const auto fields = root->getObject("fields");
    FUZZ_CHECK(!fields.isNull(), "toJson wrote no fields object");
    const bool anonymous = form.get("contact") != "contact";
    for (const auto& spec : ReportForm::fields()) {
        const std::string name(spec.name);
        const bool contactDetail = name == "name" || name == "email" || name == "phone";
        if (anonymous && contactDetail) {
            FUZZ_CHECK(!fields->has(name), "toJson kept a contact detail of an anonymous report");
            continue;
        }
        if (problems.contains(name))
            continue;
        FUZZ_CHECK(fields->has(name), "toJson dropped the accepted field " + name);
        FUZZ_CHECK(fields->getValue<std::string>(name) == form.get(spec.name),
            "toJson changed the accepted value of " + name);
    }
}

void parseAndCheck(std::string_view body, const FormLimits& limits)
{
    FormData form;
    try {
        form = parseUrlEncoded(body, limits);
    } catch (const MalformedFormError&) {
        return;
    }
    checkForm(form, limits);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text = fuzz::asText(data, size);
    checkTextFunctions(text);
    parseAndCheck(text, FormLimits{});
    // Small limits reach the limit checks with short inputs.
    parseAndCheck(text, FormLimits{3, 4});
    return 0;
}
