#include "RecoveryWrap.h"

#include <Poco/JSON/Object.h>

#include <openssl/crypto.h>

#include <sstream>

namespace meldpunt::keys {

namespace {

constexpr std::string_view kWrapFormat = "meldpunt-recovery-wrap";
constexpr std::string_view kWrapLabel = "meldpunt recovery wrap v1";

// Derives the AES-256-GCM key from the X25519 shared secret. Both public
// keys enter the info, so that a changed ephemeral key changes the key even
// where X25519 would give the same shared secret (it ignores the top bit).
SecretBytes deriveWrapKey(const SecretBytes& shared, std::string_view label,
    std::string_view context, const crypto::X25519PublicKey& ephemeral,
    const crypto::X25519PublicKey& recipient)
{
    crypto::Bytes info;
    info.reserve(label.size() + context.size() + ephemeral.size() + recipient.size());
    const auto append = [&info](std::span<const std::uint8_t> part) {
        info.insert(info.end(), part.begin(), part.end());
    };
    append(crypto::asBytes(label));
    append(crypto::asBytes(context));
    append(ephemeral);
    append(recipient);
    return crypto::hkdfSha256(shared.span(), {}, info, crypto::kAes256KeySize);
}

void checkCiphertextSize(std::size_t size)
{
    if (size <= crypto::kGcmTagSize || size > kMaxSealedSecretSize + crypto::kGcmTagSize)
        throw std::invalid_argument("sealed secret has " + std::to_string(size)
            + " bytes of ciphertext; expected 17 to "
            + std::to_string(kMaxSealedSecretSize + crypto::kGcmTagSize));
}

} // namespace

SealedSecret sealToPublicKey(std::span<const std::uint8_t> secret,
    const crypto::X25519PublicKey& recipient, std::string_view label, std::string_view context)
{
    if (secret.empty() || secret.size() > kMaxSealedSecretSize)
        throw std::invalid_argument("a sealed secret must have 1 to "
            + std::to_string(kMaxSealedSecretSize) + " bytes, not "
            + std::to_string(secret.size()));
    const crypto::EphemeralAgreement ephemeral = crypto::x25519Ephemeral(recipient);
    const SecretBytes key = deriveWrapKey(ephemeral.shared, label, context, ephemeral.publicKey, recipient);
    SealedSecret sealed;
    sealed.ephemeralKey = ephemeral.publicKey;
    // The ephemeral key is fresh, so each AES key encrypts one message and a
    // fixed nonce would do. A random nonce keeps the format safe even if an
    // ephemeral key were ever reused.
    const crypto::Bytes nonce = crypto::randomBytes(sealed.nonce.size());
    std::copy(nonce.begin(), nonce.end(), sealed.nonce.begin());
    sealed.ciphertext = crypto::seal(key.span(), sealed.nonce, crypto::asBytes(context), secret);
    return sealed;
}

std::optional<SecretBytes> openSealedSecret(const SealedSecret& sealed,
    std::span<const std::uint8_t> recipientPrivateKey, std::string_view label,
    std::string_view context)
{
    if (recipientPrivateKey.size() != crypto::kX25519KeySize)
        throw std::invalid_argument("an X25519 private key has 32 bytes, not "
            + std::to_string(recipientPrivateKey.size()));
    checkCiphertextSize(sealed.ciphertext.size());
    const crypto::X25519KeyPair recipient = crypto::X25519KeyPair::fromPrivate(recipientPrivateKey);
    const SecretBytes shared = crypto::x25519(recipientPrivateKey, sealed.ephemeralKey);
    const SecretBytes key
        = deriveWrapKey(shared, label, context, sealed.ephemeralKey, recipient.publicKey);
    crypto::Bytes plaintext;
    try {
        plaintext
            = crypto::open(key.span(), sealed.nonce, crypto::asBytes(context), sealed.ciphertext);
    } catch (const crypto::CryptoError&) {
        // NOTE: crypto::open raises the same CryptoError for a tag that does
        // not verify and for an OpenSSL failure. With the sizes checked
        // above, the latter can only be an allocation failure, which is then
        // reported as a failed tag.
        return std::nullopt;
    }
    SecretBytes secret(plaintext.size());
    std::copy(plaintext.begin(), plaintext.end(), secret.data());
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return secret;
}

RecoveryWrap RecoveryWrap::wrap(std::span<const std::uint8_t> dataKey,
    const RecoveryPublicKey& recipient, const std::string& databaseId)
{
    if (databaseId.empty())
        throw std::invalid_argument("a recovery wrap needs the database id");
    SealedSecret sealed = sealToPublicKey(dataKey, recipient.publicKey, kWrapLabel, databaseId);
    RecoveryWrap result;
    result.databaseId = databaseId;
    result.ephemeralKey = sealed.ephemeralKey;
    result.nonce = sealed.nonce;
    result.ciphertext = std::move(sealed.ciphertext);
    return result;
}

SecretBytes RecoveryWrap::unwrap(std::span<const std::uint8_t> recoveryPrivateKey) const
{
    const SealedSecret sealed {ephemeralKey, nonce, ciphertext};
    std::optional<SecretBytes> dataKey
        = openSealedSecret(sealed, recoveryPrivateKey, kWrapLabel, databaseId);
    if (!dataKey)
        throw WrongRecoveryKey("The recovery key does not open the wrapped key of database "
            + databaseId
            + ": the key belongs to another recovery key sheet, or the recovery "
              "wrap file was altered or damaged.");
    return std::move(*dataKey);
}

std::string RecoveryWrap::toJson() const
{
    Poco::JSON::Object root;
    root.set("format", std::string(kWrapFormat));
    root.set("version", 1);
    root.set("database_id", databaseId);
    root.set("ephemeral_key", crypto::toBase64(ephemeralKey));
    root.set("nonce", crypto::toBase64(nonce));
    root.set("ciphertext", crypto::toBase64(ciphertext));
    std::ostringstream out;
    root.stringify(out, 2);
    return out.str();
}

RecoveryWrap RecoveryWrap::fromJson(const std::string& json)
{
    const detail::JsonFields fields(json, kWrapFormat, "recovery wrap");
    RecoveryWrap wrap;
    wrap.databaseId = fields.text("database_id");
    wrap.ephemeralKey = fields.fixedBytes<crypto::kX25519KeySize>("ephemeral_key");
    wrap.nonce = fields.fixedBytes<crypto::kGcmNonceSize>("nonce");
    wrap.ciphertext = fields.bytes(
        "ciphertext", crypto::kGcmTagSize + 1, kMaxSealedSecretSize + crypto::kGcmTagSize);
    return wrap;
}

} // namespace meldpunt::keys
