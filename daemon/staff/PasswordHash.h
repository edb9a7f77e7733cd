#pragma once

#include <string>
#include <string_view>

namespace meldpunt::staff {

// Argon2id password hashes in libargon2's encoded form
// ("$argon2id$v=19$m=...,t=...,p=...$salt$hash"), so that the cost
// parameters travel with each hash and can be raised later.
struct PasswordCost {
    unsigned timeCost = 3;
    unsigned memoryKiB = 64 * 1024;
    unsigned parallelism = 1;
};

// Throws std::runtime_error when libargon2 fails (out of memory).
std::string hashPassword(std::string_view password, const PasswordCost& cost = {});

// Returns false for a wrong password and for a hash that is not a valid
// Argon2id encoding.
bool verifyPassword(std::string_view password, const std::string& encodedHash);

// The minimum length of a staff password, in code points. Length is the
// rule that matters (NIST SP 800-63B); composition rules are not used.
inline constexpr std::size_t kMinPasswordLength = 12;

} // namespace meldpunt::staff
