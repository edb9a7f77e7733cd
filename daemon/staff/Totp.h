#pragma once

#include "Clock.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace meldpunt::staff {

// Time-based one-time passwords (RFC 6238) through liboath: HMAC-SHA1,
// six digits, 30-second steps, as every authenticator app expects.
namespace totp {

inline constexpr unsigned kStepSeconds = 30;
inline constexpr unsigned kDigits = 6;
// Codes one step before or after now are accepted too, for clocks that
// drift and for a code typed as it changes.
inline constexpr std::size_t kWindow = 1;

// A new random 160-bit secret (the size RFC 4226 recommends).
std::vector<std::uint8_t> newSecret();

std::string base32(std::span<const std::uint8_t> secret);

// The otpauth:// URI that an authenticator app reads from a QR code.
std::string provisioningUri(std::span<const std::uint8_t> secret, const std::string& issuer,
    const std::string& account);

// The code for `time`. Throws std::runtime_error when liboath fails.
std::string generate(std::span<const std::uint8_t> secret, TimePoint time);

// Returns the time step of the matching code, or nullopt when `code` is no
// valid code within the window around `time`. The caller rejects a step
// at or below the last one used, so that a code works once.
std::optional<std::uint64_t> verify(std::span<const std::uint8_t> secret, TimePoint time, const std::string& code);

} // namespace totp

} // namespace meldpunt::staff
