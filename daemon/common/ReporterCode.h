#pragma once

#include "SecretBytes.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace meldpunt {

// A problem found in a typed code. A reporter gets a message for each, and
// only a code that passes every check can be a wrong one.
enum class CodeProblem {
    Empty,            // nothing but separators
    InvalidCharacter, // a character that never occurs in a code
    WrongLength,      // not 20 characters, separators not counted
    CheckMismatch,    // a group's check character does not match: a typo
    OtherKind,        // a well-formed code of the other kind
};

struct ParsedCode;

// A secret code that a reporter writes down and types back later: the
// resume code of a draft and the receipt secret of a report. Each has 80
// random bits, shown as 4 groups of 5 Crockford base32 characters,
// "7K2QD-M9XH4-R0T5B-AW3NC": 4 data characters (20 bits) and 1 check
// character per group. The check character of group g (0-based) is
// (1*v0 + 3*v1 + 5*v2 + 7*v3 + 7*g + k) mod 32, where k is 0 for a resume
// code and 16 for a receipt secret. Every weight is odd, so invertible
// modulo 32, so one changed character always changes the check, and two
// swapped groups fail as well. The kind term tells a receipt secret typed
// where a resume code belongs from a typo. Move-only, as the bytes live in
// locked memory.
class ReporterCode {
public:
    enum class Kind { Resume, Receipt };

    static constexpr std::size_t kSize = 10;
    static constexpr std::size_t kGroups = 4;

    static ReporterCode generate(Kind kind);

    // Rebuilds a code from its kSize bytes, as the spool carries a receipt
    // secret to meldpuntd. Any bytes make a valid code, since the check
    // characters are computed from them. Throws std::invalid_argument when
    // `bytes` is not kSize long.
    static ReporterCode fromBytes(std::span<const std::uint8_t> bytes, Kind kind);

    // Reads a typed code: lower case, spaces and hyphens anywhere, I and L
    // for 1 and O for 0 are accepted. Reports every problem in the result
    // instead of throwing (the ReporterCode fuzz target runs it on any input).
    static ParsedCode parse(std::string_view text, Kind kind);

    Kind kind() const { return kind_; }
    std::span<const std::uint8_t> bytes() const { return bytes_.span(); }

    // Returns "XXXXX-XXXXX-XXXXX-XXXXX". The string is ordinary memory, so
    // the caller shows it and lets it go.
    std::string toString() const;

private:
    explicit ReporterCode(Kind kind)
        : kind_(kind)
    {
    }

    Kind kind_;
    SecretBytes bytes_{kSize};
};

// The result of ReporterCode::parse: a code, or what is wrong with it.
struct ParsedCode {
    std::optional<ReporterCode> code;
    CodeProblem problem = CodeProblem::Empty;
    std::size_t group = 0; // 1-based group of an invalid character or a check mismatch
};

} // namespace meldpunt
