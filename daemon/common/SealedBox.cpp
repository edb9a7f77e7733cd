#include "SealedBox.h"

#include <algorithm>

namespace meldpunt::crypto {

namespace {

SecretBytes boxKey(const SecretBytes& shared, const X25519PublicKey& ephemeral,
    const X25519PublicKey& recipient, std::string_view context)
{
    Bytes salt(ephemeral.begin(), ephemeral.end());
    salt.insert(salt.end(), recipient.begin(), recipient.end());
    return hkdfSha256(shared.span(), salt, asBytes(context), kAes256KeySize);
}

} // namespace

Bytes sealToPublicKey(const X25519PublicKey& recipient, std::string_view context,
    std::span<const std::uint8_t> plaintext)
{
    const EphemeralAgreement ephemeral = x25519Ephemeral(recipient);
    const SecretBytes key = boxKey(ephemeral.shared, ephemeral.publicKey, recipient, context);
    const Bytes nonce = randomBytes(kGcmNonceSize);
    const Bytes sealed = seal(key.span(), nonce, ephemeral.publicKey, plaintext);
    Bytes box(ephemeral.publicKey.begin(), ephemeral.publicKey.end());
    box.insert(box.end(), nonce.begin(), nonce.end());
    box.insert(box.end(), sealed.begin(), sealed.end());
    return box;
}

std::optional<std::string> openSealedBox(const X25519KeyPair& recipient, std::string_view context,
    std::span<const std::uint8_t> box)
{
    if (box.size() < kX25519KeySize + kGcmNonceSize + kGcmTagSize)
        return std::nullopt;
    X25519PublicKey ephemeral{};
    std::copy_n(box.begin(), kX25519KeySize, ephemeral.begin());
    try {
        const SecretBytes shared = x25519(recipient.privateKey.span(), ephemeral);
        const SecretBytes key = boxKey(shared, ephemeral, recipient.publicKey, context);
        const Bytes plain = open(key.span(), box.subspan(kX25519KeySize, kGcmNonceSize), ephemeral,
            box.subspan(kX25519KeySize + kGcmNonceSize));
        return std::string(plain.begin(), plain.end());
    } catch (const CryptoError&) {
        return std::nullopt;
    }
}

} // namespace meldpunt::crypto
