#include "Cms.h"

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <array>
#include <cstdio>

namespace meldpunt::referral {

namespace {

struct BioDeleter {
    void operator()(BIO* bio) const { BIO_free(bio); }
};
struct CmsDeleter {
    void operator()(CMS_ContentInfo* cms) const { CMS_ContentInfo_free(cms); }
};
struct StoreDeleter {
    void operator()(X509_STORE* store) const { X509_STORE_free(store); }
};
// The stack does not own its certificates: each Certificate keeps its own.
struct StackDeleter {
    void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using CmsPtr = std::unique_ptr<CMS_ContentInfo, CmsDeleter>;
using StorePtr = std::unique_ptr<X509_STORE, StoreDeleter>;
using StackPtr = std::unique_ptr<STACK_OF(X509), StackDeleter>;

// Throws ReferralError with `context` and the oldest queued OpenSSL
// reason, then clears the queue so no stale error reaches the next call.
[[noreturn]] void fail(const std::string& context)
{
    const unsigned long code = ERR_get_error();
    std::string message = context;
    if (code != 0) {
        std::array<char, 256> reason{};
        ERR_error_string_n(code, reason.data(), reason.size());
        message += ": ";
        message += reason.data();
    }
    ERR_clear_error();
    throw ReferralError(message);
}

BioPtr readBio(std::span<const std::uint8_t> data)
{
    BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
    if (!bio)
        fail("allocating a memory buffer");
    return bio;
}

BioPtr writeBio()
{
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio)
        fail("allocating a memory buffer");
    return bio;
}

Bytes bioBytes(BIO* bio)
{
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    return Bytes(data, data + size);
}

Bytes toDer(CMS_ContentInfo* cms, const std::string& context)
{
    auto out = writeBio();
    if (i2d_CMS_bio(out.get(), cms) != 1)
        fail(context);
    return bioBytes(out.get());
}

CmsPtr fromDer(std::span<const std::uint8_t> der, const std::string& context)
{
    auto in = readBio(der);
    CmsPtr cms(d2i_CMS_bio(in.get(), nullptr));
    if (!cms)
        fail(context);
    return cms;
}

// RSAES-OAEP with SHA-256 instead of OpenSSL's PKCS#1 v1.5 default, which
// is open to padding-oracle attacks.
void useOaep(CMS_RecipientInfo* recipientInfo)
{
    EVP_PKEY_CTX* context = CMS_RecipientInfo_get0_pkey_ctx(recipientInfo);
    if (context == nullptr || EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_OAEP_PADDING) <= 0
        || EVP_PKEY_CTX_set_rsa_oaep_md(context, EVP_sha256()) <= 0
        || EVP_PKEY_CTX_set_rsa_mgf1_md(context, EVP_sha256()) <= 0)
        fail("choosing RSA-OAEP for the recipient");
}

} // namespace

void Certificate::Deleter::operator()(X509* certificate) const
{
    X509_free(certificate);
}

Certificate Certificate::fromPem(std::string_view pem, const std::string& label)
{
    auto in = readBio({reinterpret_cast<const std::uint8_t*>(pem.data()), pem.size()});
    X509* parsed = PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr);
    if (parsed == nullptr)
        fail(label + " is not a PEM certificate");
    Certificate certificate;
    certificate.certificate_.reset(parsed, Deleter());
    return certificate;
}

Certificate Certificate::fromDer(std::span<const std::uint8_t> der, const std::string& label)
{
    const unsigned char* cursor = der.data();
    X509* parsed = d2i_X509(nullptr, &cursor, static_cast<long>(der.size()));
    if (parsed == nullptr)
        fail(label + " is not a DER certificate");
    Certificate certificate;
    certificate.certificate_.reset(parsed, Deleter());
    return certificate;
}

std::string Certificate::toPem() const
{
    auto out = writeBio();
    if (PEM_write_bio_X509(out.get(), certificate_.get()) != 1)
        fail("writing a certificate as PEM");
    const Bytes bytes = bioBytes(out.get());
    return std::string(bytes.begin(), bytes.end());
}

std::string Certificate::sha256Fingerprint() const
{
    unsigned char* der = nullptr;
    const int size = i2d_X509(certificate_.get(), &der);
    if (size <= 0)
        fail("encoding a certificate");
    const std::string hex = sha256Hex({der, static_cast<std::size_t>(size)});
    OPENSSL_free(der);
    return hex;
}

std::string Certificate::subject() const
{
    std::array<char, 512> text{};
    X509_NAME_oneline(X509_get_subject_name(certificate_.get()), text.data(), text.size());
    return text.data();
}

bool Certificate::currentlyValid() const
{
    return X509_cmp_current_time(X509_get0_notBefore(certificate_.get())) < 0
        && X509_cmp_current_time(X509_get0_notAfter(certificate_.get())) > 0;
}

void PrivateKey::Deleter::operator()(EVP_PKEY* key) const
{
    EVP_PKEY_free(key);
}

PrivateKey PrivateKey::fromPem(std::string_view pem, const std::string& label)
{
    auto in = readBio({reinterpret_cast<const std::uint8_t*>(pem.data()), pem.size()});
    EVP_PKEY* parsed = PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr);
    if (parsed == nullptr)
        fail(label + " is not an unencrypted PEM private key");
    PrivateKey key;
    key.key_.reset(parsed);
    return key;
}

bool PrivateKey::matches(const Certificate& certificate) const
{
    const bool matching = X509_check_private_key(certificate.get(), key_.get()) == 1;
    ERR_clear_error();
    return matching;
}

std::vector<Certificate> certificatesFromPem(std::string_view pem, const std::string& label)
{
    auto in = readBio({reinterpret_cast<const std::uint8_t*>(pem.data()), pem.size()});
    std::vector<Certificate> certificates;
    constexpr std::size_t kMaxCertificates = 64;
    while (certificates.size() < kMaxCertificates) {
        X509* parsed = PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr);
        if (parsed == nullptr)
            break;
        unsigned char* der = nullptr;
        const int size = i2d_X509(parsed, &der);
        X509_free(parsed);
        if (size <= 0)
            fail("encoding " + label);
        certificates.push_back(Certificate::fromDer({der, static_cast<std::size_t>(size)}, label));
        OPENSSL_free(der);
    }
    // The loop ends with a "no start line" error once the input is used up.
    ERR_clear_error();
    if (certificates.empty())
        throw ReferralError(label + " contains no PEM certificate");
    return certificates;
}

Bytes signContent(
    std::span<const std::uint8_t> content, const Certificate& signer, const PrivateKey& key)
{
    auto in = readBio(content);
    CmsPtr cms(CMS_sign(signer.get(), key.get(), nullptr, in.get(), CMS_BINARY));
    if (!cms)
        fail("signing with '" + signer.subject() + "'");
    return toDer(cms.get(), "encoding SignedData");
}

Bytes encryptContent(std::span<const std::uint8_t> content, const Certificate& recipient)
{
    // With an AEAD cipher, OpenSSL 3 builds AuthEnvelopedData.
    CmsPtr cms(CMS_encrypt(nullptr, nullptr, EVP_aes_256_gcm(), CMS_BINARY | CMS_PARTIAL));
    if (!cms)
        fail("creating AuthEnvelopedData");
    EVP_PKEY* publicKey = X509_get0_pubkey(recipient.get());
    const bool rsa = publicKey != nullptr && EVP_PKEY_get_base_id(publicKey) == EVP_PKEY_RSA;
    CMS_RecipientInfo* recipientInfo = CMS_add1_recipient_cert(
        cms.get(), recipient.get(), CMS_BINARY | (rsa ? CMS_KEY_PARAM : 0));
    if (recipientInfo == nullptr)
        fail("adding the recipient '" + recipient.subject() + "'");
    if (rsa)
        useOaep(recipientInfo);
    auto in = readBio(content);
    if (CMS_final(cms.get(), in.get(), nullptr, CMS_BINARY) != 1)
        fail("encrypting to '" + recipient.subject() + "'");
    return toDer(cms.get(), "encoding AuthEnvelopedData");
}

Bytes decryptContent(
    std::span<const std::uint8_t> der, const Certificate& recipient, const PrivateKey& key)
{
    auto cms = fromDer(der, "reading the encrypted file");
    // Plain EnvelopedData has no authentication tag, so a changed byte
    // would pass unnoticed until the signature check; only AEAD is taken.
    if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_id_smime_ct_authEnvelopedData)
        throw ReferralError("the file is not CMS AuthEnvelopedData");
    auto out = writeBio();
    if (CMS_decrypt(cms.get(), key.get(), recipient.get(), nullptr, out.get(), CMS_BINARY) != 1)
        fail("decrypting the file (wrong key, or the file was changed)");
    return bioBytes(out.get());
}

VerifiedContent verifySignedContent(
    std::span<const std::uint8_t> der, const std::vector<Certificate>& trusted)
{
    auto cms = fromDer(der, "reading the signed content");
    if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_signed)
        throw ReferralError("the content is not CMS SignedData");
    StorePtr store(X509_STORE_new());
    if (!store)
        fail("allocating a certificate store");
    for (const auto& certificate : trusted)
        if (X509_STORE_add_cert(store.get(), certificate.get()) != 1)
            fail("adding a trusted certificate");
    // A pinned leaf certificate is its own trust anchor.
    X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
    auto out = writeBio();
    if (CMS_verify(cms.get(), nullptr, store.get(), nullptr, out.get(), CMS_BINARY) != 1)
        fail("verifying the signature");
    StackPtr signers(CMS_get0_signers(cms.get()));
    if (!signers || sk_X509_num(signers.get()) != 1)
        throw ReferralError("the content must have exactly one signer");
    X509* signer = sk_X509_value(signers.get(), 0);
    if (X509_up_ref(signer) != 1)
        fail("keeping the signer's certificate");
    unsigned char* signerDer = nullptr;
    const int size = i2d_X509(signer, &signerDer);
    X509_free(signer);
    if (size <= 0)
        fail("encoding the signer's certificate");
    const auto certificate
        = Certificate::fromDer({signerDer, static_cast<std::size_t>(size)}, "the signer");
    OPENSSL_free(signerDer);
    return {bioBytes(out.get()), certificate.sha256Fingerprint(), certificate.subject()};
}

Bytes sealReferralFile(std::span<const std::uint8_t> content, const Certificate& signer,
    const PrivateKey& signerKey, const Certificate& recipient)
{
    return encryptContent(signContent(content, signer, signerKey), recipient);
}

VerifiedContent openReferralFile(std::span<const std::uint8_t> der, const Certificate& recipient,
    const PrivateKey& recipientKey, const std::vector<Certificate>& trustedSigners)
{
    return verifySignedContent(decryptContent(der, recipient, recipientKey), trustedSigners);
}

std::string sha256Hex(std::span<const std::uint8_t> data)
{
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1)
        fail("hashing with SHA-256");
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string hex;
    for (unsigned int index = 0; index < size; ++index) {
        hex += kDigits[digest[index] >> 4];
        hex += kDigits[digest[index] & 0xf];
    }
    return hex;
}

} // namespace meldpunt::referral
