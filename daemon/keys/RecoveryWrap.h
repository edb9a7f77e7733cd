#pragma once

#include "Crypto.h"
#include "RecoveryKey.h"
#include "SecretBytes.h"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace meldpunt::keys {

// The largest secret that sealToPublicKey accepts. The secrets are keys of
// 32 bytes, and a bound keeps a damaged file from asking for a large buffer
// of locked memory.
inline constexpr std::size_t kMaxSealedSecretSize = 1024;

// A small secret encrypted to an X25519 public key.
struct SealedSecret {
    crypto::X25519PublicKey ephemeralKey {};
    std::array<std::uint8_t, crypto::kGcmNonceSize> nonce {};
    std::vector<std::uint8_t> ciphertext; // AES-256-GCM output with the 16-byte tag appended
};

// Encrypts `secret` (1 to kMaxSealedSecretSize bytes) so that only the
// holder of the private key of `recipient` can read it. A fresh ephemeral
// X25519 key agrees a shared secret with `recipient`. HKDF-SHA256 without
// salt turns it into an AES-256-GCM key, with the info label || context ||
// ephemeral public key || recipient public key. GCM authenticates `context`
// as associated data. Each use picks its own `label`, which must not be a
// prefix of another use's label, so that keys of different uses never
// coincide. Throws std::invalid_argument for a secret of invalid size and
// crypto::CryptoError for a low-order recipient key.
SealedSecret sealToPublicKey(std::span<const std::uint8_t> secret,
    const crypto::X25519PublicKey& recipient, std::string_view label, std::string_view context);

// Decrypts what sealToPublicKey produced with the same label and context.
// Returns nullopt when the authentication tag does not verify: the private
// key is not the recipient's, or the label, the context or a field was
// changed. Throws std::invalid_argument for a private key that is not 32
// bytes or a ciphertext of invalid size, and crypto::CryptoError for a
// low-order ephemeral key.
std::optional<SecretBytes> openSealedSecret(const SealedSecret& sealed,
    std::span<const std::uint8_t> recipientPrivateKey, std::string_view label,
    std::string_view context);

// The database key wrapped to the recovery public key, stored so that the
// recovery key can release it without the TPM. It is sealed with
// sealToPublicKey, the label "meldpunt recovery wrap v1" and the database id
// as context.
struct RecoveryWrap {
    std::string databaseId;
    crypto::X25519PublicKey ephemeralKey {};
    std::array<std::uint8_t, crypto::kGcmNonceSize> nonce {};
    std::vector<std::uint8_t> ciphertext; // with the tag

    // Throws std::invalid_argument for an empty database id or a data key of
    // invalid size.
    static RecoveryWrap wrap(std::span<const std::uint8_t> dataKey,
        const RecoveryPublicKey& recipient, const std::string& databaseId);

    // Returns the data key. Throws WrongRecoveryKey when the tag does not
    // verify, because the private key belongs to another recovery key or the
    // wrap was altered.
    SecretBytes unwrap(std::span<const std::uint8_t> recoveryPrivateKey) const;

    // {"format":"meldpunt-recovery-wrap","version":1,"database_id":..,
    //  "ephemeral_key":b64,"nonce":b64,"ciphertext":b64}
    std::string toJson() const;
    // Throws std::runtime_error naming the member that is missing or invalid.
    static RecoveryWrap fromJson(const std::string& json);
};

} // namespace meldpunt::keys
