#pragma once

// Report forms for integration tests, built from the fictional reports in
// tests/data.

#include "HttpsClient.h"

#include <regex>
#include <string>
#include <utility>
#include <vector>

namespace meldpunt::test {

using Fields = std::vector<std::pair<std::string, std::string>>;

// The form's fields in document order. form_end comes last, so the site
// can check that the body arrived whole.
inline Fields validReport(const std::string& what)
{
    return {{"what", what}, {"country", "TH"}, {"place", "Pattaya, hotel by the beach"},
        {"when", "last Saturday around 21:00"}, {"category", "travel_tourism"}, {"contact", "anonymous"},
        {"consent", "yes"}, {"form_end", "1"}};
}

inline Fields withField(Fields fields, const std::string& name, const std::string& value)
{
    for (auto& [key, current] : fields) {
        if (key == name) {
            current = value;
            return fields;
        }
    }
    fields.insert(fields.end() - (fields.empty() || fields.back().first != "form_end" ? 0 : 1), {name, value});
    return fields;
}

inline Fields withoutField(Fields fields, const std::string& name)
{
    std::erase_if(fields, [&](const auto& field) { return field.first == name; });
    return fields;
}

// Returns the reference shown on a receipt page, or an empty string.
inline std::string referenceOnReceipt(const std::string& html)
{
    const std::string marker = "class=\"reference\"><strong>";
    const auto start = html.find(marker);
    if (start == std::string::npos)
        return {};
    const auto begin = start + marker.size();
    return html.substr(begin, html.find('<', begin) - begin);
}

// One field of a page that a person types into or picks from: an input
// other than hidden, radio, checkbox, file and submit, a textarea or a
// select. `tag` is the whole opening tag. `value` is the text between the
// tags of a textarea or the value attribute of an input, escaped as it is
// in the HTML.
struct PageField {
    std::string element;
    std::string name;
    std::string tag;
    std::string value;
};

inline std::vector<PageField> typedFieldsOnPage(const std::string& html)
{
    static const std::regex tagPattern("<(input|textarea|select)\\b[^>]*>");
    static const std::regex namePattern(" name=\"([^\"]*)\"");
    static const std::regex valuePattern(" value=\"([^\"]*)\"");
    static const std::regex skippedType(" type=\"(hidden|radio|checkbox|file|submit)\"");
    std::vector<PageField> fields;
    for (auto it = std::sregex_iterator(html.begin(), html.end(), tagPattern); it != std::sregex_iterator(); ++it) {
        PageField field;
        field.element = (*it)[1].str();
        field.tag = it->str();
        if (std::regex_search(field.tag, skippedType))
            continue;
        std::smatch match;
        if (std::regex_search(field.tag, match, namePattern))
            field.name = match[1].str();
        if (field.element == "textarea") {
            const auto start = static_cast<std::size_t>(it->position() + it->length());
            field.value = html.substr(start, html.find("</textarea>", start) - start);
        } else if (field.element == "input" && std::regex_search(field.tag, match, valuePattern)) {
            field.value = match[1].str();
        }
        fields.push_back(std::move(field));
    }
    return fields;
}

// The field named `name` on a page; a field that is missing has an empty
// element.
inline PageField fieldOnPage(const std::string& html, const std::string& name)
{
    for (auto& field : typedFieldsOnPage(html)) {
        if (field.name == name)
            return field;
    }
    return {};
}

// Text escaped the way the templates (kainjow mustache) escape what they show.
inline std::string escapedForPage(const std::string& text)
{
    std::string out;
    for (char c : text) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default: out.push_back(c);
        }
    }
    return out;
}

} // namespace meldpunt::test
