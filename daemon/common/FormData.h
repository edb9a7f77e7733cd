#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace meldpunt {

// Form fields in the order they arrived. Names may repeat (checkbox
// groups), so this is a list, not a map.
class FormData {
public:
    void add(std::string name, std::string value);
    // The first value of `name`, or an empty string.
    const std::string& get(std::string_view name) const;
    bool has(std::string_view name) const;
    std::vector<std::string> all(std::string_view name) const;
    const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

private:
    std::vector<std::pair<std::string, std::string>> fields_;
};

// The body cannot be read as a form: broken percent-encoding, invalid
// UTF-8, or more fields or longer names than any page of ours sends.
class MalformedFormError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct FormLimits {
    std::size_t maxFields = 200;
    std::size_t maxNameBytes = 64;
};

// Parses application/x-www-form-urlencoded text as browsers send it
// (WHATWG URL standard): '&' separates pairs, '+' is a space, and %XX is a
// byte. Every name and value must be valid UTF-8 after decoding. Throws
// MalformedFormError.
FormData parseUrlEncoded(std::string_view body, const FormLimits& limits = {});

// Returns true when `text` is well-formed UTF-8 (no overlong forms, no
// surrogates, nothing above U+10FFFF).
bool isValidUtf8(std::string_view text);

// Returns true when `text` contains NUL or a control character other than
// tab, line feed and carriage return (C0, DEL and C1 controls).
bool hasForbiddenControl(std::string_view text);

// Returns true when `text` has something other than white space,
// zero-width or direction marks and other characters that draw nothing.
bool hasVisibleText(std::string_view text);

// Returns true when `text` is shaped like an e-mail address: one '@' with
// something before it, a domain with a dot inside, and no white space,
// angle brackets or quotes. It cannot tell whether the address exists.
bool looksLikeEmail(std::string_view text);

// Counts Unicode code points of valid UTF-8.
std::size_t countCodePoints(std::string_view text);

} // namespace meldpunt
