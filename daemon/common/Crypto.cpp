#include "Crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>

namespace meldpunt::crypto {

namespace {

struct PkeyDeleter {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct PkeyContextDeleter {
    void operator()(EVP_PKEY_CTX* context) const { EVP_PKEY_CTX_free(context); }
};
struct CipherContextDeleter {
    void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using PkeyContext = std::unique_ptr<EVP_PKEY_CTX, PkeyContextDeleter>;
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextDeleter>;

void check(int result, const char* what)
{
    if (result != 1)
        throw CryptoError(std::string("OpenSSL failed: ") + what);
}

int toInt(std::size_t size)
{
    if (size > static_cast<std::size_t>(INT32_MAX))
        throw CryptoError("buffer too large for OpenSSL");
    return static_cast<int>(size);
}

Pkey privateKeyFrom(std::span<const std::uint8_t> raw)
{
    Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, raw.data(), raw.size()));
    if (!key)
        throw CryptoError("invalid X25519 private key");
    return key;
}

} // namespace

X25519KeyPair X25519KeyPair::generate()
{
    SecretBytes privateKey = SecretBytes::random(kX25519KeySize);
    return fromPrivate(privateKey.span());
}

X25519KeyPair X25519KeyPair::fromPrivate(std::span<const std::uint8_t> privateKey)
{
    Pkey key = privateKeyFrom(privateKey);
    X25519KeyPair pair;
    std::size_t length = pair.publicKey.size();
    check(EVP_PKEY_get_raw_public_key(key.get(), pair.publicKey.data(), &length),
        "EVP_PKEY_get_raw_public_key");
    std::copy(privateKey.begin(), privateKey.end(), pair.privateKey.data());
    return pair;
}

namespace {

SecretBytes derive(EVP_PKEY* own, const X25519PublicKey& peer)
{
    Pkey other(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size()));
    if (!other)
        throw CryptoError("invalid X25519 public key");
    PkeyContext context(EVP_PKEY_CTX_new(own, nullptr));
    if (!context)
        throw CryptoError("OpenSSL failed: EVP_PKEY_CTX_new");
    check(EVP_PKEY_derive_init(context.get()), "EVP_PKEY_derive_init");
    check(EVP_PKEY_derive_set_peer(context.get(), other.get()), "EVP_PKEY_derive_set_peer");
    SecretBytes shared(kX25519KeySize);
    std::size_t length = shared.size();
    check(EVP_PKEY_derive(context.get(), shared.data(), &length), "EVP_PKEY_derive");
    if (length != kX25519KeySize)
        throw CryptoError("X25519 produced a secret of unexpected length");
    return shared;
}

} // namespace

SecretBytes x25519(std::span<const std::uint8_t> privateKey, const X25519PublicKey& peer)
{
    Pkey own = privateKeyFrom(privateKey);
    return derive(own.get(), peer);
}

EphemeralAgreement x25519Ephemeral(const X25519PublicKey& peer)
{
    Pkey own(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
    if (!own)
        throw CryptoError("OpenSSL failed: EVP_PKEY_Q_keygen(X25519)");
    X25519PublicKey publicKey{};
    std::size_t length = publicKey.size();
    check(EVP_PKEY_get_raw_public_key(own.get(), publicKey.data(), &length), "EVP_PKEY_get_raw_public_key");
    return {publicKey, derive(own.get(), peer)};
}

SecretBytes hkdfSha256(std::span<const std::uint8_t> inputKey, std::span<const std::uint8_t> salt,
    std::span<const std::uint8_t> info, std::size_t size)
{
    PkeyContext context(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
    if (!context)
        throw CryptoError("OpenSSL failed: EVP_PKEY_CTX_new_id(HKDF)");
    check(EVP_PKEY_derive_init(context.get()), "EVP_PKEY_derive_init (HKDF)");
    check(EVP_PKEY_CTX_set_hkdf_md(context.get(), EVP_sha256()), "EVP_PKEY_CTX_set_hkdf_md");
    check(EVP_PKEY_CTX_set1_hkdf_key(context.get(), inputKey.data(), toInt(inputKey.size())),
        "EVP_PKEY_CTX_set1_hkdf_key");
    if (!salt.empty())
        check(EVP_PKEY_CTX_set1_hkdf_salt(context.get(), salt.data(), toInt(salt.size())),
            "EVP_PKEY_CTX_set1_hkdf_salt");
    check(EVP_PKEY_CTX_add1_hkdf_info(context.get(), info.data(), toInt(info.size())),
        "EVP_PKEY_CTX_add1_hkdf_info");
    SecretBytes output(size);
    std::size_t length = size;
    check(EVP_PKEY_derive(context.get(), output.data(), &length), "EVP_PKEY_derive (HKDF)");
    return output;
}

Bytes seal(std::span<const std::uint8_t> key, std::span<const std::uint8_t> nonce,
    std::span<const std::uint8_t> associatedData, std::span<const std::uint8_t> plaintext)
{
    Bytes output(plaintext.size() + kGcmTagSize);
    Aes256Gcm(key).seal(nonce, associatedData, plaintext, output);
    return output;
}

Bytes open(std::span<const std::uint8_t> key, std::span<const std::uint8_t> nonce,
    std::span<const std::uint8_t> associatedData, std::span<const std::uint8_t> sealed)
{
    if (sealed.size() < kGcmTagSize)
        throw CryptoError("ciphertext shorter than its authentication tag");
    Bytes output(sealed.size() - kGcmTagSize);
    Aes256Gcm(key).open(nonce, associatedData, sealed, output);
    return output;
}

struct Aes256Gcm::State {
    SecretBytes key{kAes256KeySize};
    CipherContext sealing;
    CipherContext opening;

    // Returns the context for one direction. It is made with the key on
    // first use, and later messages only set their nonce.
    EVP_CIPHER_CTX* context(bool encrypt, std::span<const std::uint8_t> nonce)
    {
        if (nonce.size() != kGcmNonceSize)
            throw CryptoError("AES-256-GCM needs a 12-byte nonce, not " + std::to_string(nonce.size()) + " bytes");
        CipherContext& slot = encrypt ? sealing : opening;
        if (!slot) {
            CipherContext made(EVP_CIPHER_CTX_new());
            if (!made)
                throw CryptoError("OpenSSL failed: EVP_CIPHER_CTX_new");
            check(EVP_CipherInit_ex(made.get(), EVP_aes_256_gcm(), nullptr, key.data(), nullptr, encrypt ? 1 : 0),
                "EVP_CipherInit_ex");
            slot = std::move(made);
        }
        check(EVP_CipherInit_ex(slot.get(), nullptr, nullptr, nullptr, nonce.data(), encrypt ? 1 : 0),
            "EVP_CipherInit_ex (nonce)");
        return slot.get();
    }
};

Aes256Gcm::Aes256Gcm(std::span<const std::uint8_t> key)
{
    if (key.size() != kAes256KeySize)
        throw CryptoError("AES-256-GCM needs a 32-byte key, not " + std::to_string(key.size()) + " bytes");
    state_ = new State;
    std::copy(key.begin(), key.end(), state_->key.data());
}

Aes256Gcm::~Aes256Gcm()
{
    delete state_;
}

void Aes256Gcm::seal(std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> associatedData,
    std::span<const std::uint8_t> plaintext, std::span<std::uint8_t> out)
{
    if (out.size() < plaintext.size() + kGcmTagSize)
        throw std::invalid_argument("AES-256-GCM output buffer of " + std::to_string(out.size())
            + " bytes is too small for " + std::to_string(plaintext.size() + kGcmTagSize));
    EVP_CIPHER_CTX* context = state_->context(true, nonce);
    int length = 0;
    if (!associatedData.empty())
        check(EVP_EncryptUpdate(context, nullptr, &length, associatedData.data(), toInt(associatedData.size())),
            "EVP_EncryptUpdate (associated data)");
    if (!plaintext.empty())
        check(EVP_EncryptUpdate(context, out.data(), &length, plaintext.data(), toInt(plaintext.size())),
            "EVP_EncryptUpdate");
    int finalLength = 0;
    check(EVP_EncryptFinal_ex(context, out.data() + plaintext.size(), &finalLength), "EVP_EncryptFinal_ex");
    check(EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, kGcmTagSize, out.data() + plaintext.size()),
        "EVP_CTRL_GCM_GET_TAG");
}

void Aes256Gcm::open(std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> associatedData,
    std::span<const std::uint8_t> sealed, std::span<std::uint8_t> out)
{
    if (sealed.size() < kGcmTagSize)
        throw CryptoError("ciphertext shorter than its authentication tag");
    const std::size_t textSize = sealed.size() - kGcmTagSize;
    if (out.size() < textSize)
        throw std::invalid_argument("AES-256-GCM output buffer of " + std::to_string(out.size())
            + " bytes is too small for " + std::to_string(textSize));
    EVP_CIPHER_CTX* context = state_->context(false, nonce);
    int length = 0;
    if (!associatedData.empty())
        check(EVP_DecryptUpdate(context, nullptr, &length, associatedData.data(), toInt(associatedData.size())),
            "EVP_DecryptUpdate (associated data)");
    if (textSize > 0)
        check(EVP_DecryptUpdate(context, out.data(), &length, sealed.data(), toInt(textSize)), "EVP_DecryptUpdate");
    std::array<std::uint8_t, kGcmTagSize> tag;
    std::copy(sealed.begin() + static_cast<std::ptrdiff_t>(textSize), sealed.end(), tag.begin());
    check(EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, kGcmTagSize, tag.data()), "EVP_CTRL_GCM_SET_TAG");
    int finalLength = 0;
    if (EVP_DecryptFinal_ex(context, out.data() + textSize, &finalLength) != 1) {
        // Unauthenticated plaintext must not reach the caller.
        OPENSSL_cleanse(out.data(), textSize);
        throw CryptoError("authentication tag does not verify");
    }
}

struct Sha256::State {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
};

Sha256::Sha256()
    : state_(new State)
{
    check(EVP_DigestInit_ex(state_->context.get(), EVP_sha256(), nullptr), "EVP_DigestInit_ex");
}

Sha256::~Sha256()
{
    delete state_;
}

void Sha256::update(std::span<const std::uint8_t> data)
{
    check(EVP_DigestUpdate(state_->context.get(), data.data(), data.size()), "EVP_DigestUpdate");
}

std::array<std::uint8_t, 32> Sha256::finish()
{
    std::array<std::uint8_t, 32> digest;
    unsigned length = 0;
    check(EVP_DigestFinal_ex(state_->context.get(), digest.data(), &length), "EVP_DigestFinal_ex");
    return digest;
}

Bytes randomBytes(std::size_t size)
{
    Bytes bytes(size);
    if (RAND_bytes(bytes.data(), toInt(size)) != 1)
        throw CryptoError("OpenSSL's random generator failed");
    return bytes;
}

std::string toHex(std::span<const std::uint8_t> bytes)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string text;
    text.reserve(bytes.size() * 2);
    for (std::uint8_t byte : bytes) {
        text.push_back(digits[byte >> 4]);
        text.push_back(digits[byte & 0x0f]);
    }
    return text;
}

Bytes fromHex(std::string_view hex)
{
    auto value = [](char digit) -> int {
        if (digit >= '0' && digit <= '9')
            return digit - '0';
        if (digit >= 'a' && digit <= 'f')
            return digit - 'a' + 10;
        if (digit >= 'A' && digit <= 'F')
            return digit - 'A' + 10;
        throw std::invalid_argument("invalid hex digit");
    };
    if (hex.size() % 2 != 0)
        throw std::invalid_argument("hex text has an odd length");
    Bytes bytes(hex.size() / 2);
    for (std::size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<std::uint8_t>(value(hex[2 * i]) << 4 | value(hex[2 * i + 1]));
    return bytes;
}

std::string toBase64(std::span<const std::uint8_t> bytes)
{
    std::string text(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()), bytes.data(),
        toInt(bytes.size()));
    text.resize(static_cast<std::size_t>(length));
    return text;
}

Bytes fromBase64(std::string_view text)
{
    if (text.size() % 4 != 0)
        throw std::invalid_argument("base64 text length is not a multiple of 4");
    // EVP_DecodeBlock reads '=' anywhere as zero bits; padding is valid only
    // as the last one or two characters.
    const auto firstPad = text.find('=');
    if (firstPad != std::string_view::npos
        && (firstPad < text.size() - 2 || text.find_first_not_of('=', firstPad) != std::string_view::npos))
        throw std::invalid_argument("invalid base64 padding");
    Bytes bytes(text.size() / 4 * 3);
    const int length = EVP_DecodeBlock(bytes.data(),
        reinterpret_cast<const unsigned char*>(text.data()), toInt(text.size()));
    if (length < 0)
        throw std::invalid_argument("invalid base64 text");
    std::size_t padding = 0;
    if (!text.empty() && text.back() == '=')
        padding = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
    bytes.resize(static_cast<std::size_t>(length) - padding);
    return bytes;
}

} // namespace meldpunt::crypto
