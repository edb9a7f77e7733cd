#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;

namespace meldpunt::referral {

using Bytes = std::vector<std::uint8_t>;

// Raised for every referral failure that a caller can report: invalid
// certificates or keys, a signature or authentication tag that does not
// verify, a malformed manifest. The message names what failed and, where
// OpenSSL gave one, its reason.
class ReferralError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// An X.509 certificate. Copies share the OpenSSL object (reference count).
class Certificate {
public:
    // Parses one PEM certificate; throws ReferralError naming `label`.
    static Certificate fromPem(std::string_view pem, const std::string& label);
    static Certificate fromDer(std::span<const std::uint8_t> der, const std::string& label);

    std::string toPem() const;
    // SHA-256 over the DER encoding, as 64 lower-case hex digits.
    std::string sha256Fingerprint() const;
    std::string subject() const;
    // True while the current time is inside notBefore..notAfter.
    bool currentlyValid() const;
    X509* get() const { return certificate_.get(); }

private:
    struct Deleter {
        void operator()(X509* certificate) const;
    };
    std::shared_ptr<X509> certificate_;
};

// A private key. Not copyable, so key material has one owner.
class PrivateKey {
public:
    // Parses an unencrypted PEM private key (PKCS#8 or traditional).
    static PrivateKey fromPem(std::string_view pem, const std::string& label);

    // True when `certificate` carries this key's public half.
    bool matches(const Certificate& certificate) const;
    EVP_PKEY* get() const { return key_.get(); }

private:
    struct Deleter {
        void operator()(EVP_PKEY* key) const;
    };
    std::unique_ptr<EVP_PKEY, Deleter> key_;
};

// Reads every PEM certificate in `pem` (a CA bundle or one pinned
// certificate); throws ReferralError when there is none or one is invalid.
std::vector<Certificate> certificatesFromPem(std::string_view pem, const std::string& label);

// Signs `content` as CMS SignedData (DER) with SHA-256, the content
// attached and the signer's certificate included.
Bytes signContent(
    std::span<const std::uint8_t> content, const Certificate& signer, const PrivateKey& key);

// Encrypts `content` as CMS AuthEnvelopedData (DER) with AES-256-GCM to
// `recipient`. An RSA recipient gets RSAES-OAEP with SHA-256; an EC one,
// ECDH key agreement.
Bytes encryptContent(std::span<const std::uint8_t> content, const Certificate& recipient);

// Decrypts AuthEnvelopedData made by encryptContent. Throws ReferralError
// when the input is no AuthEnvelopedData, is not addressed to the key, or
// its authentication tag does not verify.
Bytes decryptContent(
    std::span<const std::uint8_t> der, const Certificate& recipient, const PrivateKey& key);

struct VerifiedContent {
    Bytes content;
    std::string signerFingerprint; // SHA-256 of the signer's certificate
    std::string signerSubject;
};

// Verifies CMS SignedData against `trusted`: each trusted certificate is a
// trust anchor, so a CA admits every signer it issued for e-mail
// protection, and a pinned leaf admits exactly itself. Throws
// ReferralError when the signature or the certificate chain fails.
VerifiedContent verifySignedContent(
    std::span<const std::uint8_t> der, const std::vector<Certificate>& trusted);

// A referral file: signed by the hotline, then encrypted to the partner.
Bytes sealReferralFile(std::span<const std::uint8_t> content, const Certificate& signer,
    const PrivateKey& signerKey, const Certificate& recipient);
VerifiedContent openReferralFile(std::span<const std::uint8_t> der, const Certificate& recipient,
    const PrivateKey& recipientKey, const std::vector<Certificate>& trustedSigners);

std::string sha256Hex(std::span<const std::uint8_t> data);

inline std::span<const std::uint8_t> asBytes(std::string_view text)
{
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

inline std::string_view asText(std::span<const std::uint8_t> bytes)
{
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

} // namespace meldpunt::referral
