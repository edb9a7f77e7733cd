#include "ReceiptSecret.h"

#include <argon2.h>
#include <openssl/crypto.h>

#include <charconv>
#include <stdexcept>
#include <vector>

namespace meldpunt {

namespace {

constexpr std::string_view kPrefix = "$meldpunt-receipt$argon2id$v=19$";
constexpr std::size_t kSaltSize = 16;
constexpr std::size_t kHashSize = 32;
// Bounds that keep a damaged or hostile file from asking for absurd work.
constexpr std::uint32_t kMaxTimeCost = 16;
constexpr std::uint32_t kMaxMemoryKiB = 256 * 1024;
constexpr std::uint32_t kMaxParallelism = 8;

struct ParsedHash {
    ReceiptHashCost cost;
    crypto::Bytes salt;
    crypto::Bytes hash;
};

// Runs Argon2id over the secret and returns 64 bytes: hash, then key.
SecretBytes stretch(const ReporterCode& secret, std::span<const std::uint8_t> salt, const ReceiptHashCost& cost)
{
    SecretBytes output(2 * kHashSize);
    const auto password = secret.bytes();
    const int result = argon2id_hash_raw(cost.timeCost, cost.memoryKiB, cost.parallelism, password.data(),
        password.size(), salt.data(), salt.size(), output.data(), output.size());
    if (result != ARGON2_OK)
        throw std::runtime_error(std::string("Argon2id failed: ") + argon2_error_message(result));
    return output;
}

bool readNumber(std::string_view& text, std::string_view name, std::uint32_t max, std::uint32_t& value)
{
    if (!text.starts_with(name))
        return false;
    text.remove_prefix(name.size());
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || value < 1 || value > max)
        return false;
    text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    return true;
}

std::optional<ParsedHash> parseHash(std::string_view text)
{
    if (!text.starts_with(kPrefix))
        return std::nullopt;
    text.remove_prefix(kPrefix.size());
    ParsedHash parsed;
    if (!readNumber(text, "m=", kMaxMemoryKiB, parsed.cost.memoryKiB) || !text.starts_with(","))
        return std::nullopt;
    text.remove_prefix(1);
    if (!readNumber(text, "t=", kMaxTimeCost, parsed.cost.timeCost) || !text.starts_with(","))
        return std::nullopt;
    text.remove_prefix(1);
    if (!readNumber(text, "p=", kMaxParallelism, parsed.cost.parallelism) || !text.starts_with("$"))
        return std::nullopt;
    text.remove_prefix(1);
    if (parsed.cost.memoryKiB < 8 * parsed.cost.parallelism)
        return std::nullopt;
    const auto separator = text.find('$');
    if (separator == std::string_view::npos)
        return std::nullopt;
    try {
        parsed.salt = crypto::fromBase64(text.substr(0, separator));
        parsed.hash = crypto::fromBase64(text.substr(separator + 1));
    } catch (const std::invalid_argument&) {
        return std::nullopt;
    }
    if (parsed.salt.size() != kSaltSize || parsed.hash.size() != kHashSize)
        return std::nullopt;
    return parsed;
}

crypto::X25519KeyPair keyPairFrom(const SecretBytes& stretched)
{
    // X25519 clamps any 32 bytes into a private key itself (RFC 7748,
    // section 5), so the second half is used as it is.
    return crypto::X25519KeyPair::fromPrivate(stretched.span().subspan(kHashSize));
}

} // namespace

ReceiptKeys deriveReceiptKeys(const ReporterCode& secret, const ReceiptHashCost& cost)
{
    const crypto::Bytes salt = crypto::randomBytes(kSaltSize);
    const SecretBytes stretched = stretch(secret, salt, cost);
    ReceiptKeys keys{{}, keyPairFrom(stretched)};
    keys.verifier.publicKey = keys.keyPair.publicKey;
    keys.verifier.hash = std::string(kPrefix) + "m=" + std::to_string(cost.memoryKiB) + ",t="
        + std::to_string(cost.timeCost) + ",p=" + std::to_string(cost.parallelism) + "$"
        + crypto::toBase64(salt) + "$" + crypto::toBase64(stretched.span().first(kHashSize));
    return keys;
}

std::optional<crypto::X25519KeyPair> openReceipt(const ReporterCode& secret, std::string_view hash)
{
    const auto parsed = parseHash(hash);
    if (!parsed)
        return std::nullopt;
    const SecretBytes stretched = stretch(secret, parsed->salt, parsed->cost);
    if (CRYPTO_memcmp(stretched.data(), parsed->hash.data(), kHashSize) != 0)
        return std::nullopt;
    return keyPairFrom(stretched);
}

bool isReceiptHash(std::string_view hash)
{
    return parseHash(hash).has_value();
}

} // namespace meldpunt
