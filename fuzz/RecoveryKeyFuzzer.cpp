// Fuzzes the reading of a recovery key as a technician types it.

#include "FuzzSupport.h"

#include "RecoveryKey.h"

#include <algorithm>
#include <cctype>

using namespace meldpunt;

namespace {

bool isSeparator(char c)
{
    return c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// The form a parsed key must print as: separators dropped, upper case, I
// and L read as 1 and O as 0, and groups of five joined by hyphens.
std::string canonicalKey(std::string_view typed)
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

void checkTyped(std::string_view typed)
{
    try {
        const auto key = keys::RecoveryKey::parse(typed);
        FUZZ_CHECK(key.bytes().size() == keys::RecoveryKey::kSize, "a parsed key of the wrong size");
        FUZZ_CHECK(key.toString() == canonicalKey(typed),
            "a parsed key does not print as the canonical form of what was typed");
    } catch (const keys::InvalidRecoveryKey& error) {
        FUZZ_CHECK(std::string_view(error.what()).size() > 0, "a rejection without a message");
    }
}

// Builds a key text from five bits of each of 32 input bytes, with the
// check characters that RecoveryKey.h defines. Then checks that it parses
// and prints back, and that one changed character is caught, as the
// format promises.
void checkRoundTripAndDetection(const std::uint8_t* data, std::size_t size)
{
    if (size < 34)
        return;
    static constexpr std::string_view alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    std::string text;
    for (std::size_t group = 0; group < 8; ++group) {
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
    const auto key = keys::RecoveryKey::parse(text);
    FUZZ_CHECK(key.toString() == text, "a valid key does not print as it was typed");

    const std::size_t position = data[32] % 40;
    const std::size_t at = position / 5 * 6 + position % 5;
    const char replacement = alphabet[data[33] % 32];
    if (replacement == text[at])
        return;
    std::string changed = text;
    changed[at] = replacement;
    bool rejected = false;
    try {
        (void)keys::RecoveryKey::parse(changed);
    } catch (const keys::InvalidRecoveryKey&) {
        rejected = true;
    }
    FUZZ_CHECK(rejected, "a key with one changed character was accepted");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    checkTyped(fuzz::asText(data, size));
    checkRoundTripAndDetection(data, size);
    return 0;
}
