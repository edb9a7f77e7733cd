#pragma once

#include "Crypto.h"

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace meldpunt::crypto {

// Encrypts a message to an X25519 public key, so that only the holder of
// the private half can read it: a fresh ephemeral key pair, HKDF-SHA256
// over the shared secret (salt: both public keys, info: `context`) and
// AES-256-GCM. The output is ephemeral public key (32 bytes), nonce (12)
// and ciphertext with its tag. `context` binds the box to its use (and an
// id), so a box cannot be moved to another place that expects another
// context.
Bytes sealToPublicKey(const X25519PublicKey& recipient, std::string_view context,
    std::span<const std::uint8_t> plaintext);

// Opens a box made by sealToPublicKey. Returns nullopt when the box is too
// short, was changed, or was made for another key or context.
std::optional<std::string> openSealedBox(const X25519KeyPair& recipient, std::string_view context,
    std::span<const std::uint8_t> box);

} // namespace meldpunt::crypto
