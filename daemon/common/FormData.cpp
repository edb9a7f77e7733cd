#include "FormData.h"

namespace meldpunt {

namespace {

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

std::string percentDecode(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '+') {
            out.push_back(' ');
        } else if (c == '%') {
            const int high = i + 1 < text.size() ? hexValue(text[i + 1]) : -1;
            const int low = i + 2 < text.size() ? hexValue(text[i + 2]) : -1;
            if (high < 0 || low < 0)
                throw MalformedFormError("invalid percent-encoding");
            out.push_back(static_cast<char>(high << 4 | low));
            i += 2;
        } else {
            out.push_back(c);
        }
    }
    return out;
}

} // namespace

void FormData::add(std::string name, std::string value)
{
    fields_.emplace_back(std::move(name), std::move(value));
}

const std::string& FormData::get(std::string_view name) const
{
    static const std::string empty;
    for (const auto& [key, value] : fields_) {
        if (key == name)
            return value;
    }
    return empty;
}

bool FormData::has(std::string_view name) const
{
    for (const auto& field : fields_) {
        if (field.first == name)
            return true;
    }
    return false;
}

std::vector<std::string> FormData::all(std::string_view name) const
{
    std::vector<std::string> values;
    for (const auto& [key, value] : fields_) {
        if (key == name)
            values.push_back(value);
    }
    return values;
}

FormData parseUrlEncoded(std::string_view body, const FormLimits& limits)
{
    FormData form;
    std::size_t count = 0;
    while (!body.empty()) {
        const auto end = body.find('&');
        const std::string_view pair = body.substr(0, end);
        body = end == std::string_view::npos ? std::string_view{} : body.substr(end + 1);
        if (pair.empty())
            continue;
        if (++count > limits.maxFields)
            throw MalformedFormError("too many form fields");
        const auto equals = pair.find('=');
        std::string name = percentDecode(pair.substr(0, equals));
        std::string value = equals == std::string_view::npos ? std::string() : percentDecode(pair.substr(equals + 1));
        if (name.size() > limits.maxNameBytes)
            throw MalformedFormError("form field name too long");
        if (!isValidUtf8(name) || !isValidUtf8(value))
            throw MalformedFormError("form field is not valid UTF-8");
        form.add(std::move(name), std::move(value));
    }
    return form;
}

bool isValidUtf8(std::string_view text)
{
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t size = text.size();
    std::size_t i = 0;
    while (i < size) {
        const unsigned char lead = bytes[i];
        if (lead < 0x80) {
            ++i;
            continue;
        }
        std::size_t length = 0;
        char32_t codePoint = 0;
        char32_t minimum = 0;
        if ((lead & 0xe0) == 0xc0) {
            length = 2;
            codePoint = lead & 0x1f;
            minimum = 0x80;
        } else if ((lead & 0xf0) == 0xe0) {
            length = 3;
            codePoint = lead & 0x0f;
            minimum = 0x800;
        } else if ((lead & 0xf8) == 0xf0) {
            length = 4;
            codePoint = lead & 0x07;
            minimum = 0x10000;
        } else {
            return false;
        }
        if (i + length > size)
            return false;
        for (std::size_t k = 1; k < length; ++k) {
            if ((bytes[i + k] & 0xc0) != 0x80)
                return false;
            codePoint = codePoint << 6 | (bytes[i + k] & 0x3f);
        }
        if (codePoint < minimum || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff))
            return false;
        i += length;
    }
    return true;
}

bool hasForbiddenControl(std::string_view text)
{
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const unsigned char c = bytes[i];
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
            return true;
        // C1 controls U+0080 to U+009F are encoded as C2 80 to C2 9F.
        if (c == 0xc2 && i + 1 < text.size() && bytes[i + 1] >= 0x80 && bytes[i + 1] <= 0x9f)
            return true;
    }
    return false;
}

namespace {

// White space of any script, zero-width characters, direction marks and
// other format characters, and the fillers that draw nothing.
bool drawsNothing(char32_t c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0xa0 || c == 0xad || c == 0x034f || c == 0x061c
        || c == 0x115f || c == 0x1160 || c == 0x1680 || c == 0x180e || (c >= 0x2000 && c <= 0x200f)
        || (c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x206f) || c == 0x3000 || c == 0x3164
        || c == 0xfeff || c == 0xffa0;
}

} // namespace

bool hasVisibleText(std::string_view text)
{
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
    std::size_t i = 0;
    while (i < text.size()) {
        const unsigned char lead = bytes[i];
        const std::size_t length = lead < 0x80 ? 1 : (lead & 0xe0) == 0xc0 ? 2 : (lead & 0xf0) == 0xe0 ? 3 : 4;
        if (i + length > text.size())
            return true;
        char32_t codePoint = length == 1 ? lead : lead & (0x7f >> length);
        for (std::size_t k = 1; k < length; ++k)
            codePoint = codePoint << 6 | (bytes[i + k] & 0x3f);
        if (!drawsNothing(codePoint))
            return true;
        i += length;
    }
    return false;
}

bool looksLikeEmail(std::string_view text)
{
    const auto at = text.find('@');
    if (at == std::string_view::npos || at == 0 || at != text.rfind('@'))
        return false;
    const auto domain = text.substr(at + 1);
    const auto dot = domain.find('.');
    return dot != std::string_view::npos && dot != 0 && dot + 1 < domain.size()
        && text.find_first_of(" \t\r\n<>\"") == std::string_view::npos;
}

std::size_t countCodePoints(std::string_view text)
{
    std::size_t count = 0;
    for (char c : text) {
        if ((static_cast<unsigned char>(c) & 0xc0) != 0x80)
            ++count;
    }
    return count;
}

} // namespace meldpunt
