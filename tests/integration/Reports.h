#pragma once

// Report forms for integration tests, built from the fictional reports in
// tests/data.

#include "HttpsClient.h"

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

} // namespace meldpunt::test
