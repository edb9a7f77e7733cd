#include "ReceiptSecret.h"

#include <argon2.h>
#include <openssl/crypto.h>
#include <sys/mman.h>

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

// Maps Argon2's working memory straight from the kernel and unmaps it
// after use. Through malloc, each worker thread's arena would keep the
// freed megabytes of its last hash, and a server with many threads grows
// by that much per arena.
int mapMemory(std::uint8_t** memory, std::size_t size)
{
    void* mapped = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED)
        return ARGON2_MEMORY_ALLOCATION_ERROR;
    *memory = static_cast<std::uint8_t*>(mapped);
    return ARGON2_OK;
}

void unmapMemory(std::uint8_t* memory, std::size_t size)
{
    ::munmap(memory, size);
}

// Runs Argon2id over the secret and returns 64 bytes: hash, then key.
SecretBytes stretch(const ReporterCode& secret, std::span<const std::uint8_t> salt, const ReceiptHashCost& cost)
{
    SecretBytes output(2 * kHashSize);
    const auto password = secret.bytes();
    crypto::Bytes saltCopy(salt.begin(), salt.end());
    argon2_context context{};
    context.out = output.data();
    context.outlen = static_cast<std::uint32_t>(output.size());
    // Argon2 writes to the password only with ARGON2_FLAG_CLEAR_PASSWORD,
    // which is not set.
    context.pwd = const_cast<std::uint8_t*>(password.data());
    context.pwdlen = static_cast<std::uint32_t>(password.size());
    context.salt = saltCopy.data();
    context.saltlen = static_cast<std::uint32_t>(saltCopy.size());
    context.t_cost = cost.timeCost;
    context.m_cost = cost.memoryKiB;
    context.lanes = cost.parallelism;
    context.threads = cost.parallelism;
    context.version = ARGON2_VERSION_13;
    context.allocate_cbk = mapMemory;
    context.free_cbk = unmapMemory;
    context.flags = ARGON2_DEFAULT_FLAGS;
    const int result = argon2_ctx(&context, Argon2_id);
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
