// Fuzzes the decoding of the reference that a reporter types to follow up
// on a report, and the parsing of UUIDs in their text form.

#include "FuzzSupport.h"

#include "Uuid.h"

#include <algorithm>
#include <cctype>

using namespace meldpunt;

namespace {

// The form a decoded reference must print as: separators dropped, upper
// case, I and L read as 1 and O as 0, and groups of five joined by hyphens.
std::string canonicalReference(std::string_view typed)
{
    std::string characters;
    for (const char c : typed) {
        if (c == '-' || c == ' ')
            continue;
        char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
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

bool isVersion4(const Uuid& uuid)
{
    return (uuid.bytes[6] & 0xf0) == 0x40 && (uuid.bytes[8] & 0xc0) == 0x80;
}

std::string lowerCase(std::string_view text)
{
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
        [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
    return lower;
}

void checkTypedReference(std::string_view typed)
{
    const auto decoded = uuidFromReference(typed);
    if (!decoded)
        return;
    FUZZ_CHECK(isVersion4(*decoded), "a decoded reference is not a version 4 UUID");
    FUZZ_CHECK(referenceFromUuid(*decoded) == canonicalReference(typed),
        "a decoded reference does not re-encode to the canonical form of what was typed");
}

void checkUuidText(std::string_view text)
{
    const auto parsed = Uuid::parse(text);
    if (!parsed)
        return;
    FUZZ_CHECK(parsed->toString() == lowerCase(text), "a parsed UUID prints differently");
}

void checkRoundTrip(const std::uint8_t* data, std::size_t size)
{
    Uuid uuid;
    std::copy_n(data, std::min(size, uuid.bytes.size()), uuid.bytes.begin());
    uuid.bytes[6] = static_cast<std::uint8_t>((uuid.bytes[6] & 0x0f) | 0x40);
    uuid.bytes[8] = static_cast<std::uint8_t>((uuid.bytes[8] & 0x3f) | 0x80);

    const std::string reference = referenceFromUuid(uuid);
    FUZZ_CHECK(reference.size() == 29, "a reference is not 29 characters long");
    FUZZ_CHECK(uuidFromReference(reference) == uuid, "a reference does not decode to its UUID");
    // A person may type it in lower case and without hyphens.
    std::string typed = lowerCase(reference);
    std::erase(typed, '-');
    FUZZ_CHECK(uuidFromReference(typed) == uuid, "a reference typed in lower case does not decode");
    FUZZ_CHECK(Uuid::parse(uuid.toString()) == uuid, "a UUID does not parse from its own text");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text = fuzz::asText(data, size);
    checkTypedReference(text);
    checkUuidText(text);
    checkRoundTrip(data, size);
    return 0;
}
