#pragma once

#include "SecretBytes.h"

#include <array>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace meldpunt::crypto {

using Bytes = std::vector<std::uint8_t>;

inline constexpr std::size_t kX25519KeySize = 32;
inline constexpr std::size_t kAes256KeySize = 32;
inline constexpr std::size_t kGcmNonceSize = 12;
inline constexpr std::size_t kGcmTagSize = 16;

using X25519PublicKey = std::array<std::uint8_t, kX25519KeySize>;

// Raised when OpenSSL fails or an authentication tag does not verify.
class CryptoError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// An X25519 key pair. The private half sits in locked memory.
struct X25519KeyPair {
    X25519PublicKey publicKey;
    SecretBytes privateKey{kX25519KeySize};

    static X25519KeyPair generate();
    static X25519KeyPair fromPrivate(std::span<const std::uint8_t> privateKey);
};

// Computes the X25519 shared secret of a private and a peer's public key.
SecretBytes x25519(std::span<const std::uint8_t> privateKey, const X25519PublicKey& peer);

// A fresh X25519 key pair's public half and its shared secret with a
// peer, for sealing to that peer. The private half stays inside OpenSSL
// and is freed on return.
struct EphemeralAgreement {
    X25519PublicKey publicKey;
    SecretBytes shared{kX25519KeySize};
};
EphemeralAgreement x25519Ephemeral(const X25519PublicKey& peer);

// Derives `size` bytes with HKDF-SHA256 (RFC 5869).
SecretBytes hkdfSha256(std::span<const std::uint8_t> inputKey, std::span<const std::uint8_t> salt,
    std::span<const std::uint8_t> info, std::size_t size);

// AES-256-GCM with a 96-bit nonce and a 128-bit tag appended to the
// ciphertext. `open` throws CryptoError when the tag does not verify.
Bytes seal(std::span<const std::uint8_t> key, std::span<const std::uint8_t> nonce,
    std::span<const std::uint8_t> associatedData, std::span<const std::uint8_t> plaintext);
Bytes open(std::span<const std::uint8_t> key, std::span<const std::uint8_t> nonce,
    std::span<const std::uint8_t> associatedData, std::span<const std::uint8_t> sealed);

// An AES-256-GCM key for many messages, sealed and opened as above. The
// key schedule is set up once, so each of a file's chunks costs little
// more than the cipher itself. Each nonce must be used once under the key.
// Not thread-safe.
class Aes256Gcm {
public:
    explicit Aes256Gcm(std::span<const std::uint8_t> key);
    ~Aes256Gcm();
    Aes256Gcm(const Aes256Gcm&) = delete;
    Aes256Gcm& operator=(const Aes256Gcm&) = delete;

    // Writes the ciphertext and its tag, plaintext.size() + kGcmTagSize
    // bytes, to the start of `out`.
    void seal(std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> associatedData,
        std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out);
    // Writes sealed.size() - kGcmTagSize bytes of plaintext to the start of
    // `out`. Throws CryptoError when the tag does not verify, and then
    // leaves no plaintext in `out`.
    void open(std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> associatedData,
        std::span<const std::uint8_t> sealed, std::span<std::uint8_t> out);

private:
    struct State;
    State* state_;
};

// Incremental SHA-256.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(std::span<const std::uint8_t> data);
    std::array<std::uint8_t, 32> finish();

private:
    struct State;
    State* state_;
};

Bytes randomBytes(std::size_t size);

std::string toHex(std::span<const std::uint8_t> bytes);
// Throws std::invalid_argument on odd length or a non-hex digit.
Bytes fromHex(std::string_view hex);
std::string toBase64(std::span<const std::uint8_t> bytes);
// Throws std::invalid_argument on invalid base64.
Bytes fromBase64(std::string_view text);

inline std::span<const std::uint8_t> asBytes(std::string_view text)
{
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

} // namespace meldpunt::crypto
