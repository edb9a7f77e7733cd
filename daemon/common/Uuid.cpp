#include "Uuid.h"

#include "Crypto.h"

#include <algorithm>

namespace meldpunt {

namespace {

constexpr std::string_view kCrockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::size_t kReferenceCharacters = 25;
constexpr std::size_t kReferenceGroup = 5;

// Bit positions (from the most significant bit of byte 0) that carry the
// version nibble and the variant bits, which are fixed in a version 4 UUID.
bool isFixedBit(std::size_t bit)
{
    return (bit >= 48 && bit < 52) || bit == 64 || bit == 65;
}

bool bitAt(const Uuid& uuid, std::size_t bit)
{
    return (uuid.bytes[bit / 8] >> (7 - bit % 8)) & 1;
}

void setBit(Uuid& uuid, std::size_t bit, bool value)
{
    const auto mask = static_cast<std::uint8_t>(1u << (7 - bit % 8));
    if (value)
        uuid.bytes[bit / 8] |= mask;
    else
        uuid.bytes[bit / 8] &= static_cast<std::uint8_t>(~mask);
}

int crockfordValue(char c)
{
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (c == 'I' || c == 'L')
        c = '1';
    if (c == 'O')
        c = '0';
    const auto position = kCrockford.find(c);
    return position == std::string_view::npos ? -1 : static_cast<int>(position);
}

} // namespace

Uuid Uuid::generate()
{
    Uuid uuid;
    const auto random = crypto::randomBytes(uuid.bytes.size());
    std::copy(random.begin(), random.end(), uuid.bytes.begin());
    uuid.bytes[6] = static_cast<std::uint8_t>((uuid.bytes[6] & 0x0f) | 0x40);
    uuid.bytes[8] = static_cast<std::uint8_t>((uuid.bytes[8] & 0x3f) | 0x80);
    return uuid;
}

std::optional<Uuid> Uuid::parse(std::string_view text)
{
    if (text.size() != 36)
        return std::nullopt;
    std::string hex;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool dashPosition = i == 8 || i == 13 || i == 18 || i == 23;
        if (dashPosition != (text[i] == '-'))
            return std::nullopt;
        if (!dashPosition)
            hex.push_back(text[i]);
    }
    try {
        const auto bytes = crypto::fromHex(hex);
        Uuid uuid;
        std::copy(bytes.begin(), bytes.end(), uuid.bytes.begin());
        return uuid;
    } catch (const std::invalid_argument&) {
        return std::nullopt;
    }
}

std::string Uuid::toString() const
{
    const std::string hex = crypto::toHex(bytes);
    return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-'
        + hex.substr(16, 4) + '-' + hex.substr(20);
}

std::string referenceFromUuid(const Uuid& uuid)
{
    std::string characters;
    unsigned value = 0;
    unsigned count = 0;
    auto push = [&](bool bit) {
        value = value << 1 | (bit ? 1u : 0u);
        if (++count == 5) {
            characters.push_back(kCrockford[value]);
            value = 0;
            count = 0;
        }
    };
    for (std::size_t bit = 0; bit < 128; ++bit) {
        if (!isFixedBit(bit))
            push(bitAt(uuid, bit));
    }
    while (count != 0)
        push(false);

    std::string reference;
    for (std::size_t i = 0; i < characters.size(); ++i) {
        if (i != 0 && i % kReferenceGroup == 0)
            reference.push_back('-');
        reference.push_back(characters[i]);
    }
    return reference;
}

std::optional<Uuid> uuidFromReference(std::string_view reference)
{
    std::string characters;
    for (char c : reference) {
        if (c == '-' || c == ' ')
            continue;
        if (crockfordValue(c) < 0 || characters.size() == kReferenceCharacters)
            return std::nullopt;
        characters.push_back(c);
    }
    if (characters.size() != kReferenceCharacters)
        return std::nullopt;

    Uuid uuid;
    uuid.bytes[6] = 0x40;
    uuid.bytes[8] = 0x80;
    std::size_t bit = 0;
    for (char c : characters) {
        const int value = crockfordValue(c);
        for (int shift = 4; shift >= 0; --shift) {
            const bool set = (value >> shift) & 1;
            while (bit < 128 && isFixedBit(bit))
                ++bit;
            if (bit == 128) {
                if (set)
                    return std::nullopt; // padding bits must be zero
                continue;
            }
            setBit(uuid, bit++, set);
        }
    }
    return uuid;
}

} // namespace meldpunt
