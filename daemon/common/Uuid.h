#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace meldpunt {

// A random (version 4) UUID, the identity of every spool entry and report.
struct Uuid {
    std::array<std::uint8_t, 16> bytes{};

    static Uuid generate();
    // Parses the canonical 8-4-4-4-12 hex form; nullopt when malformed.
    static std::optional<Uuid> parse(std::string_view text);
    std::string toString() const;

    friend bool operator==(const Uuid&, const Uuid&) = default;
};

// The reference shown to a reporter. It encodes the 122 random bits of the
// entry's UUID losslessly, so references made by meldpunt-public without
// the database never collide: five groups of five Crockford base32
// characters, such as "7K2QD-M9XH4-R0T5B-AW3NC-E8P10".
std::string referenceFromUuid(const Uuid& uuid);

// Decodes a reference as typed by a person: case-insensitive, with or
// without hyphens and spaces, reading I and L as 1 and O as 0. Returns
// nullopt when the text is not a valid reference.
std::optional<Uuid> uuidFromReference(std::string_view reference);

} // namespace meldpunt
