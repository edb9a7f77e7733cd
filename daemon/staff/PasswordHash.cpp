#include "PasswordHash.h"

#include "Crypto.h"

#include <argon2.h>

#include <stdexcept>
#include <vector>

namespace meldpunt::staff {

namespace {

constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;

} // namespace

std::string hashPassword(std::string_view password, const PasswordCost& cost)
{
    const auto salt = crypto::randomBytes(kSaltBytes);
    const std::size_t encodedSize = argon2_encodedlen(cost.timeCost, cost.memoryKiB, cost.parallelism,
        static_cast<std::uint32_t>(salt.size()), kHashBytes, Argon2_id);
    std::vector<char> encoded(encodedSize);
    const int result = argon2id_hash_encoded(cost.timeCost, cost.memoryKiB, cost.parallelism, password.data(),
        password.size(), salt.data(), salt.size(), kHashBytes, encoded.data(), encoded.size());
    if (result != ARGON2_OK)
        throw std::runtime_error(std::string("Argon2id hashing failed: ") + argon2_error_message(result));
    return std::string(encoded.data());
}

bool verifyPassword(std::string_view password, const std::string& encodedHash)
{
    if (!encodedHash.starts_with("$argon2id$"))
        return false;
    return argon2id_verify(encodedHash.c_str(), password.data(), password.size()) == ARGON2_OK;
}

} // namespace meldpunt::staff
