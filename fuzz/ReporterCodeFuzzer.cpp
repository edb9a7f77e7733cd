// Fuzzes the reading of a resume code or a receipt secret as a stranger
// types it on the public site, and the reading of a published receipt
// hash.

#include "FuzzSupport.h"

#include "ReceiptSecret.h"
#include "ReporterCode.h"

#include <algorithm>

using namespace meldpunt;

namespace {

bool isSeparator(char c)
{
    return c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// The form a parsed code must print as: separators dropped, upper case, I
// and L read as 1 and O as 0, and groups of five joined by hyphens.
std::string canonicalCode(std::string_view typed)
{
    std::string characters;
    for (const char c : typed) {
        if (isSeparator(c))
            continue;
        char upper = c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
        if (upper == 'I' || upper == 'L')
            upper = '1';
        else if (upper == 'O')
            upper = '0';
        characters.push_back(upper);
    }
    std::string canonical;
    for (std::size_t i = 0; i < characters.size(); ++i) {
        if (i != 0 && i % 5 == 0)
            canonical.push_back('-');
        canonical.push_back(characters[i]);
    }
    return canonical;
}

void checkTyped(std::string_view typed, ReporterCode::Kind kind)
{
    const auto parsed = ReporterCode::parse(typed, kind);
    if (!parsed.code) {
        FUZZ_CHECK(parsed.group <= ReporterCode::kGroups, "a problem in a group that does not exist");
        return;
    }
    FUZZ_CHECK(parsed.code->kind() == kind, "a parsed code of the wrong kind");
    FUZZ_CHECK(parsed.code->bytes().size() == ReporterCode::kSize, "a parsed code of the wrong size");
    FUZZ_CHECK(parsed.code->toString() == canonicalCode(typed),
        "a parsed code does not print as the canonical form of what was typed");
    const auto other = ReporterCode::parse(typed, kind == ReporterCode::Kind::Resume ? ReporterCode::Kind::Receipt
                                                                                     : ReporterCode::Kind::Resume);
    FUZZ_CHECK(!other.code, "one text is a valid code of both kinds");
}

// Builds a resume code from five bits of each of 16 input bytes with the
// check characters that ReporterCode.h defines, then checks that it parses
// and that one changed character is caught.
void checkRoundTripAndDetection(const std::uint8_t* data, std::size_t size)
{
    if (size < 18)
        return;
    static constexpr std::string_view alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    std::string text;
    for (std::size_t group = 0; group < 4; ++group) {
        if (group != 0)
            text.push_back('-');
        unsigned check = 7 * static_cast<unsigned>(group);
        for (std::size_t i = 0; i < 4; ++i) {
            const unsigned value = data[group * 4 + i] % 32u;
            check += (2 * static_cast<unsigned>(i) + 1) * value;
            text.push_back(alphabet[value]);
        }
        text.push_back(alphabet[check % 32]);
    }
    const auto parsed = ReporterCode::parse(text, ReporterCode::Kind::Resume);
    FUZZ_CHECK(parsed.code && parsed.code->toString() == text, "a valid code does not print as it was typed");

    const std::size_t position = data[16] % 20;
    const std::size_t at = position / 5 * 6 + position % 5;
    const char replacement = alphabet[data[17] % 32];
    if (replacement == text[at])
        return;
    std::string changed = text;
    changed[at] = replacement;
    FUZZ_CHECK(!ReporterCode::parse(changed, ReporterCode::Kind::Resume).code,
        "a code with one changed character was accepted");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text = fuzz::asText(data, size);
    checkTyped(text, ReporterCode::Kind::Resume);
    checkTyped(text, ReporterCode::Kind::Receipt);
    checkRoundTripAndDetection(data, size);
    // A receipt hash comes from a published file, so any text must parse
    // without a crash (the sanitizers of the fuzz build check this).
    (void)isReceiptHash(text);
    return 0;
}
