#include "Multipart.h"

#include "FormData.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace meldpunt {

namespace {

constexpr std::size_t kMaxBoundaryLength = 70;
// Input is taken in slices of this size, so the pending buffer never holds
// more than a slice and a delimiter, whatever the caller hands to feed().
constexpr std::size_t kSliceBytes = 64 * 1024;
// Part data passed on straight from the caller's bytes comes in pieces of
// at most this size.
constexpr std::size_t kDirectBytes = 256 * 1024;
// Transport padding (white space after a delimiter) longer than this is
// not something any browser sends.
constexpr std::size_t kMaxPaddingBytes = 64;
constexpr std::string_view kCrlf = "\r\n";

char lowerAscii(char c)
{
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowerCase(std::string_view text)
{
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), lowerAscii);
    return out;
}

std::string_view trim(std::string_view text)
{
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
        text.remove_suffix(1);
    return text;
}

bool isBoundaryCharacter(char c)
{
    static constexpr std::string_view allowed = "'()+_,-./:=? ";
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || allowed.find(c) != std::string_view::npos;
}

// Browsers (WHATWG HTML, multipart/form-data encoding) escape only these
// three characters in names and file names, and send the rest as UTF-8.
std::string decodeBrowserEscapes(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const std::string_view rest = text.substr(i, 3);
        if (rest == "%22") {
            out.push_back('"');
        } else if (rest == "%0D" || rest == "%0d") {
            out.push_back('\r');
        } else if (rest == "%0A" || rest == "%0a") {
            out.push_back('\n');
        } else {
            out.push_back(text[i]);
            continue;
        }
        i += 2;
    }
    return out;
}

// Splits the parameters of a Content-Disposition value. Quoted values end
// at the next quote, as browsers write them; they use no backslash escapes.
std::vector<std::pair<std::string, std::string>> dispositionParameters(std::string_view value)
{
    std::vector<std::pair<std::string, std::string>> parameters;
    while (!value.empty()) {
        const auto semicolon = value.find(';');
        if (semicolon == std::string_view::npos)
            break;
        value.remove_prefix(semicolon + 1);
        value = trim(value);
        const auto equals = value.find('=');
        if (equals == std::string_view::npos)
            throw MalformedMultipartError("a Content-Disposition parameter has no value");
        const std::string key = lowerCase(trim(value.substr(0, equals)));
        value = trim(value.substr(equals + 1));
        std::string parameter;
        if (!value.empty() && value.front() == '"') {
            const auto close = value.find('"', 1);
            if (close == std::string_view::npos)
                throw MalformedMultipartError("a Content-Disposition parameter has no closing quote");
            parameter = std::string(value.substr(1, close - 1));
            value.remove_prefix(close + 1);
        } else {
            const auto end = value.find(';');
            parameter = std::string(trim(value.substr(0, end)));
            value.remove_prefix(end == std::string_view::npos ? value.size() : end);
        }
        parameters.emplace_back(key, std::move(parameter));
    }
    return parameters;
}

// Returns the position of the first `needle` in `haystack`, or npos.
// memmem searched random binary data about a quarter faster than
// std::string::find on a 2-core test machine.
std::size_t findIn(std::string_view haystack, std::string_view needle)
{
    const void* found = ::memmem(haystack.data(), haystack.size(), needle.data(), needle.size());
    return found == nullptr ? std::string_view::npos
                            : static_cast<std::size_t>(static_cast<const char*>(found) - haystack.data());
}

} // namespace

std::optional<std::string> multipartBoundary(std::string_view contentType)
{
    const auto semicolon = contentType.find(';');
    if (lowerCase(trim(contentType.substr(0, semicolon))) != "multipart/form-data"
        || semicolon == std::string_view::npos)
        return std::nullopt;
    std::string_view rest = contentType.substr(semicolon);
    for (const auto& [key, value] : dispositionParameters(rest)) {
        if (key != "boundary")
            continue;
        const bool valid = !value.empty() && value.size() <= kMaxBoundaryLength && value.back() != ' '
            && std::all_of(value.begin(), value.end(), isBoundaryCharacter);
        if (!valid)
            return std::nullopt;
        return value;
    }
    return std::nullopt;
}

MultipartParser::MultipartParser(std::string boundary, MultipartHandler& handler, MultipartLimits limits)
    : delimiter_("\r\n--" + boundary)
    , handler_(handler)
    , limits_(limits)
    // The first delimiter may open the body without a line break before it;
    // a virtual CRLF lets one search find both forms.
    , pending_(kCrlf)
{
    if (boundary.empty() || boundary.size() > kMaxBoundaryLength)
        throw std::invalid_argument("multipart boundary must have 1 to 70 characters");
}

void MultipartParser::feed(std::span<const std::uint8_t> bytes)
{
    while (!bytes.empty()) {
        if (state_ == State::Epilogue)
            return; // RFC 2046: the epilogue is to be ignored
        if (state_ == State::Body && pending_.size() < delimiter_.size() && bytes.size() >= 2 * delimiter_.size()) {
            const auto window = bytes.first(std::min(bytes.size(), kDirectBytes));
            bytes = bytes.subspan(window.size() - passBody(window).size());
            continue;
        }
        const std::size_t take = std::min(bytes.size(), kSliceBytes);
        pending_.append(reinterpret_cast<const char*>(bytes.data()), take);
        bytes = bytes.subspan(take);
        step();
    }
}

void MultipartParser::finish()
{
    if (state_ != State::Epilogue)
        throw MalformedMultipartError("the body ends before the closing delimiter");
}

void MultipartParser::step()
{
    bool progress = true;
    while (progress) {
        switch (state_) {
        case State::Preamble: progress = findDelimiter(false); break;
        case State::AfterDelimiter: progress = readAfterDelimiter(); break;
        case State::Headers: progress = readHeaders(); break;
        case State::Body:
            progress = findDelimiter(true);
            if (progress)
                handler_.onPartEnd();
            break;
        case State::Epilogue:
            pending_.clear();
            progress = false;
            break;
        }
    }
}

// Passes part data on straight from the caller's bytes, so the bulk of a
// file is never copied into pending_. Only the tail kept from the last call
// and the end of this one go through pending_. Returns the bytes not yet
// taken.
std::span<const std::uint8_t> MultipartParser::passBody(std::span<const std::uint8_t> bytes)
{
    const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    // A delimiter that starts in the kept tail and ends in the new bytes
    // is left to the ordinary path.
    const std::size_t tail = pending_.size();
    const std::size_t lead = delimiter_.size() - 1;
    pending_.append(text.substr(0, lead));
    if (findIn(pending_, delimiter_) != std::string::npos) {
        step();
        return bytes.subspan(lead);
    }
    pending_.resize(tail);
    emit(tail);

    const std::size_t found = findIn(text, delimiter_);
    const std::size_t data = found != std::string_view::npos ? found : text.size() - lead;
    if (data > 0)
        handler_.onPartData(bytes.first(data));
    const std::size_t keep = found != std::string_view::npos ? std::min(text.size() - data, kSliceBytes) : lead;
    pending_.assign(text.substr(data, keep));
    step();
    return bytes.subspan(data + keep);
}

// Looks for the next delimiter. Bytes before it are part data (passed on
// with `emitData`) or preamble (dropped). Without a match, everything but a
// possible start of a delimiter at the end is passed on or dropped.
bool MultipartParser::findDelimiter(bool emitData)
{
    const auto found = findIn(pending_, delimiter_);
    if (found != std::string::npos) {
        if (emitData)
            emit(found);
        pending_.erase(0, (emitData ? 0 : found) + delimiter_.size());
        state_ = State::AfterDelimiter;
        return true;
    }
    const std::size_t keep = delimiter_.size() - 1;
    if (pending_.size() > keep) {
        const std::size_t safe = pending_.size() - keep;
        if (emitData)
            emit(safe);
        else
            pending_.erase(0, safe);
    }
    return false;
}

bool MultipartParser::readAfterDelimiter()
{
    if (pending_.size() < 2)
        return false;
    if (pending_.compare(0, 2, "--") == 0) {
        state_ = State::Epilogue;
        return true;
    }
    // The padding limit applies however much of the body has arrived, so
    // the verdict does not depend on where a read ended.
    const auto firstOther = pending_.find_first_not_of(" \t");
    const std::size_t padding = firstOther == std::string::npos ? pending_.size() : firstOther;
    if (padding > kMaxPaddingBytes)
        throw MalformedMultipartError("a delimiter is followed by too much white space");
    if (firstOther == std::string::npos || pending_.size() - firstOther < 2)
        return false;
    if (pending_.compare(firstOther, 2, kCrlf) != 0)
        throw MalformedMultipartError("a delimiter is not followed by a line break");
    pending_.erase(0, firstOther + 2);
    if (++parts_ > limits_.maxParts)
        throw MalformedMultipartError("the body has more parts than any form of this site sends");
    state_ = State::Headers;
    return true;
}

bool MultipartParser::readHeaders()
{
    std::size_t end = 0;
    std::size_t skip = 0;
    if (pending_.starts_with(kCrlf)) {
        skip = 2; // a part without header lines
    } else {
        end = pending_.find("\r\n\r\n");
        if (end == std::string::npos) {
            // Up to 3 bytes at the end may be the start of the blank line
            // that ends the block, so only what comes before them counts;
            // otherwise the verdict would depend on where a read ended.
            if (pending_.size() > limits_.maxHeaderBytes + 3)
                throw MalformedMultipartError("a part's header block is too long");
            return false;
        }
        skip = end + 4;
    }
    if (end > limits_.maxHeaderBytes)
        throw MalformedMultipartError("a part's header block is too long");
    const PartHeaders headers = parseHeaders(std::string_view(pending_).substr(0, end));
    pending_.erase(0, skip);
    state_ = State::Body;
    handler_.onPartBegin(headers);
    return true;
}

PartHeaders MultipartParser::parseHeaders(std::string_view block) const
{
    PartHeaders headers;
    bool disposition = false;
    while (!block.empty()) {
        const auto lineEnd = block.find(kCrlf);
        const std::string_view line = block.substr(0, lineEnd);
        block.remove_prefix(lineEnd == std::string_view::npos ? block.size() : lineEnd + 2);
        if (line.empty())
            continue;
        if (line.front() == ' ' || line.front() == '\t')
            throw MalformedMultipartError("a part header is folded over two lines");
        const auto colon = line.find(':');
        if (colon == std::string_view::npos)
            throw MalformedMultipartError("a part header line has no colon");
        const std::string name = lowerCase(trim(line.substr(0, colon)));
        const std::string_view value = trim(line.substr(colon + 1));
        if (name == "content-type") {
            headers.contentType = lowerCase(trim(value.substr(0, value.find(';'))));
        } else if (name == "content-disposition") {
            if (lowerCase(trim(value.substr(0, value.find(';')))) != "form-data")
                throw MalformedMultipartError("a part is not form-data");
            for (auto& [key, parameter] : dispositionParameters(value)) {
                if (key == "name")
                    headers.name = decodeBrowserEscapes(parameter);
                else if (key == "filename")
                    headers.fileName = decodeBrowserEscapes(parameter);
            }
            disposition = true;
        }
    }
    if (!disposition)
        throw MalformedMultipartError("a part has no Content-Disposition");
    if (headers.name.empty() || headers.name.size() > limits_.maxNameBytes || !isValidUtf8(headers.name))
        throw MalformedMultipartError("a part's name is missing, too long or not UTF-8");
    return headers;
}

void MultipartParser::emit(std::size_t count)
{
    if (count > 0)
        handler_.onPartData({reinterpret_cast<const std::uint8_t*>(pending_.data()), count});
    pending_.erase(0, count);
}

namespace {

constexpr char32_t kReplacement = 0xfffd;

// The length of a UTF-8 sequence starting with `lead`, or 0 for a byte
// that cannot start one.
std::size_t sequenceLength(unsigned char lead)
{
    if (lead < 0x80)
        return 1;
    if (lead >= 0xc2 && lead <= 0xdf)
        return 2;
    if (lead >= 0xe0 && lead <= 0xef)
        return 3;
    if (lead >= 0xf0 && lead <= 0xf4)
        return 4;
    return 0;
}

// Decodes UTF-8, turning each ill-formed sequence into U+FFFD.
std::vector<char32_t> decodeUtf8Lossy(std::string_view text)
{
    std::vector<char32_t> out;
    std::size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        const std::size_t length = sequenceLength(lead);
        if (length == 0 || i + length > text.size() || !isValidUtf8(text.substr(i, length))) {
            out.push_back(kReplacement);
            ++i;
            continue;
        }
        char32_t value = length == 1 ? lead : lead & (0x7f >> length);
        for (std::size_t k = 1; k < length; ++k)
            value = value << 6 | (static_cast<unsigned char>(text[i + k]) & 0x3f);
        out.push_back(value);
        i += length;
    }
    return out;
}

void encodeUtf8(char32_t c, std::string& out)
{
    if (c < 0x80) {
        out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
        out.push_back(static_cast<char>(0xc0 | c >> 6));
        out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
    } else if (c < 0x10000) {
        out.push_back(static_cast<char>(0xe0 | c >> 12));
        out.push_back(static_cast<char>(0x80 | (c >> 6 & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
    } else {
        out.push_back(static_cast<char>(0xf0 | c >> 18));
        out.push_back(static_cast<char>(0x80 | (c >> 12 & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (c >> 6 & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
    }
}

// Characters that change how the rest of a line is shown or are invisible:
// controls, bidirectional controls (which can make "gpj.exe" look like
// "exe.jpg"), zero-width and other format characters, and tag characters.
bool isHiddenOrControl(char32_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0xad || c == 0x061c || c == 0x180e
        || (c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2060 && c <= 0x206f)
        || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb) || (c >= 0xe0000 && c <= 0xe007f);
}

bool isSpace(char32_t c)
{
    return c == ' ' || c == 0xa0 || c == 0x3000 || (c >= 0x2000 && c <= 0x200a);
}

} // namespace

std::string sanitizeFileName(std::string_view raw, std::size_t maxCodePoints)
{
    std::vector<char32_t> name;
    for (const char32_t c : decodeUtf8Lossy(raw)) {
        if (c == '/' || c == '\\') {
            name.clear(); // only the last path part is kept
            continue;
        }
        if (isHiddenOrControl(c))
            continue;
        // Characters that Windows forbids in file names, for a later download.
        const bool reserved = c == ':' || c == '*' || c == '?' || c == '"' || c == '<' || c == '>' || c == '|';
        name.push_back(reserved ? U'_' : c);
    }
    while (!name.empty() && (isSpace(name.back()) || name.back() == '.'))
        name.pop_back();
    auto first = std::find_if(name.begin(), name.end(), [](char32_t c) { return !isSpace(c) && c != '.'; });
    name.erase(name.begin(), first);

    if (name.size() > maxCodePoints) {
        // Keeps a short extension, so the shortened name still shows its type.
        const auto dot = std::find(name.rbegin(), name.rend(), U'.');
        const std::size_t extension = dot == name.rend() ? 0 : static_cast<std::size_t>(dot - name.rbegin()) + 1;
        const std::size_t kept = extension > 0 && extension <= 16 ? extension : 0;
        std::vector<char32_t> shortened(name.begin(), name.begin() + static_cast<std::ptrdiff_t>(maxCodePoints - kept));
        shortened.insert(shortened.end(), name.end() - static_cast<std::ptrdiff_t>(kept), name.end());
        name = std::move(shortened);
    }
    std::string out;
    for (const char32_t c : name)
        encodeUtf8(c, out);
    return out.empty() ? std::string("attachment") : out;
}

} // namespace meldpunt
