#pragma once

#include "Crypto.h"
#include "ReporterCode.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace meldpunt {

// Argon2id cost of a receipt secret. The defaults are the OWASP password
// storage recommendation (19 MiB, 2 passes, 1 lane). The secret's 80
// random bits already put guessing out of reach, but the cost also guards
// a stolen hash.
struct ReceiptHashCost {
    std::uint32_t timeCost = 2;
    std::uint32_t memoryKiB = 19 * 1024;
    std::uint32_t parallelism = 1;
};

// The stored verifier of a receipt secret: its Argon2id hash and the public
// half of the X25519 key pair derived from it. Neither lets anyone compute the
// secret or the private half.
struct ReceiptVerifier {
    // "$meldpunt-receipt$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>",
    // salt and hash in base64. One Argon2id run gives 64 bytes: the first
    // 32 are the hash, the last 32 the X25519 private key, so the hash
    // reveals nothing about the key.
    std::string hash;
    crypto::X25519PublicKey publicKey{};
};

// A receipt secret's verifier together with its private key, while the
// returning reporter is on the page.
struct ReceiptKeys {
    ReceiptVerifier verifier;
    crypto::X25519KeyPair keyPair;
};

// Derives the verifier and key pair of a new receipt secret with a fresh
// random salt. Throws std::runtime_error when Argon2id fails (out of
// memory, say). Takes the time and memory of one Argon2id run, so callers
// on public endpoints hold a SlowHashGate permit.
ReceiptKeys deriveReceiptKeys(const ReporterCode& secret, const ReceiptHashCost& cost = {});

// Checks `secret` against a stored verifier hash. Returns the key pair when
// it matches and nullopt when it does not or the hash is malformed (a
// damaged file must not tell a reporter "wrong secret" for a right one, so
// callers check isReceiptHash first). Throws std::runtime_error when
// Argon2id fails.
std::optional<crypto::X25519KeyPair> openReceipt(const ReporterCode& secret, std::string_view hash);

// Returns true when `hash` has the form deriveReceiptKeys writes, with
// cost parameters in a sane range.
bool isReceiptHash(std::string_view hash);

} // namespace meldpunt
