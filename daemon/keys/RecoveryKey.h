#pragma once

#include "Crypto.h"
#include "SecretBytes.h"

#include <Poco/JSON/Object.h>

#include <array>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace meldpunt::keys {

// A recovery key that the technician typed could not be read. Its message
// names what to check, in words meant for the technician.
class InvalidRecoveryKey : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A well-formed recovery key that does not belong to the stored recovery
// public key, or that does not open a wrapped key.
class WrongRecoveryKey : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The recovery key: 160 random bits that can release the database key
// without the TPM. Its text form is 8 groups of 5 Crockford base32
// characters, "APH90-DPHWF-...": 4 data characters (20 bits) and 1 check
// character per group. The check character of group g (0-based) is
// (1*v0 + 3*v1 + 5*v2 + 7*v3 + 7*g) mod 32. Because every weight is odd, and
// so invertible modulo 32, any single changed character changes the check.
// Because 7*g differs for every g below 32, two swapped groups fail too.
// docs/recovery.md describes the format. Move-only, as the bytes live in
// locked memory.
class RecoveryKey {
public:
    static constexpr std::size_t kSize = 20;

    static RecoveryKey generate();

    // Reads a typed recovery key. Accepts lower case, spaces and hyphens
    // anywhere, I and L for 1 and O for 0. Throws InvalidRecoveryKey whose
    // message names an invalid character, a wrong length, or the first group
    // (1-based) whose check character does not match.
    static RecoveryKey parse(std::string_view text);

    // Returns "XXXXX-XXXXX-..." (8 groups). The string is ordinary memory,
    // so the caller shows it once and lets it go.
    std::string toString() const;

    // Returns the 20 secret bytes.
    std::span<const std::uint8_t> bytes() const { return bytes_.span(); }

private:
    RecoveryKey() = default;

    SecretBytes bytes_ {kSize};
};

// Argon2id cost parameters, stored beside the salt so that a later
// derivation uses the same ones.
struct Argon2Parameters {
    std::uint32_t timeCost = 3;
    std::uint32_t memoryKiB = 64 * 1024;
    std::uint32_t parallelism = 1;

    bool operator==(const Argon2Parameters&) const = default;
};

// The public half derived from a recovery key. It is stored and not secret:
// it lets the appliance encrypt a new data key or a backup key to the
// recovery key without knowing the recovery key.
struct RecoveryPublicKey {
    crypto::X25519PublicKey publicKey {};
    std::array<std::uint8_t, 16> salt {};
    Argon2Parameters argon2;

    // Derives the X25519 key pair of a recovery key: Argon2id(recovery key
    // bytes, salt, parameters) gives 32 bytes, which are the X25519 private
    // key. Throws std::invalid_argument for parameters out of range and
    // std::runtime_error when Argon2 fails (for example, out of memory).
    static std::pair<RecoveryPublicKey, crypto::X25519KeyPair> derive(const RecoveryKey& key,
        std::span<const std::uint8_t, 16> salt, Argon2Parameters parameters = {});

    // Derives the public key with the key's own salt (saltFor) and the
    // default parameters, so that the key alone, with no stored file, can
    // open what was encrypted to it: a backup restored on a new box.
    static RecoveryPublicKey create(const RecoveryKey& key);

    // The salt for a recovery key: the first 16 bytes of SHA-256 over a
    // label and the key. A salt keeps precomputed tables from serving many
    // passwords at once; a recovery key has 160 random bits, where no table
    // can reach, so a salt derived from it costs nothing in strength.
    static std::array<std::uint8_t, 16> saltFor(const RecoveryKey& key);

    // Derives the private key again from `key`. Throws WrongRecoveryKey when
    // the derived public key differs from this one.
    SecretBytes privateKeyFor(const RecoveryKey& key) const;

    // {"format":"meldpunt-recovery-public","version":1,"kdf":"argon2id",
    //  "time_cost":..,"memory_kib":..,"parallelism":..,"salt":b64,"public_key":b64}
    std::string toJson() const;
    // Throws std::runtime_error naming the member that is missing or invalid.
    static RecoveryPublicKey fromJson(const std::string& json);
};

namespace detail {

// Checked access to the members of one JSON document of a Meldpunt key
// format. Internal to this library, shared by its file formats. Every
// method throws std::runtime_error whose message starts with "invalid
// <description>: " and names the member.
class JsonFields {
public:
    // Parses `json` and checks that "format" is `format` and "version" is 1.
    JsonFields(const std::string& json, std::string_view format, std::string description);

    std::string text(const std::string& name) const; // a non-empty string
    std::uint32_t unsignedInteger(
        const std::string& name, std::uint32_t min, std::uint32_t max) const;
    // A base64 member whose decoded length is within [minSize, maxSize].
    crypto::Bytes bytes(const std::string& name, std::size_t minSize, std::size_t maxSize) const;

    template <std::size_t N> std::array<std::uint8_t, N> fixedBytes(const std::string& name) const
    {
        const crypto::Bytes decoded = bytes(name, N, N);
        std::array<std::uint8_t, N> result {};
        std::copy(decoded.begin(), decoded.end(), result.begin());
        return result;
    }

    [[noreturn]] void fail(const std::string& problem) const;

private:
    Poco::JSON::Object::Ptr root_;
    std::string description_;
};

} // namespace detail

} // namespace meldpunt::keys
