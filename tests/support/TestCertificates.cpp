#include "TestCertificates.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>

namespace meldpunt::test {

namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* pointer) const { Free(pointer); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using CertificatePtr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

struct BioFree {
    void operator()(BIO* bio) const { BIO_free_all(bio); }
};

void check(bool ok, const char* what)
{
    if (!ok)
        throw std::runtime_error(std::string("OpenSSL failed to ") + what);
}

std::string bioText(BIO* bio)
{
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(length));
}

} // namespace

TestCertificate makeTestCertificate(const TestCertificateOptions& options)
{
    KeyPtr key(options.keyType == "rsa" ? EVP_RSA_gen(static_cast<unsigned>(options.rsaBits))
                                        : EVP_EC_gen("P-256"));
    check(key != nullptr, "make a key");

    CertificatePtr certificate(X509_new());
    check(certificate != nullptr, "allocate a certificate");
    check(X509_set_version(certificate.get(), 2) == 1, "set the version");
    check(ASN1_INTEGER_set(X509_get_serialNumber(certificate.get()), 4711) == 1, "set the serial");
    check(X509_gmtime_adj(X509_getm_notBefore(certificate.get()), options.notBeforeOffset) != nullptr,
        "set notBefore");
    check(X509_gmtime_adj(X509_getm_notAfter(certificate.get()), options.notAfterOffset) != nullptr,
        "set notAfter");
    X509_NAME* name = X509_get_subject_name(certificate.get());
    check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
              reinterpret_cast<const unsigned char*>(options.commonName.c_str()), -1, -1, 0)
            == 1,
        "set the common name");
    check(X509_set_issuer_name(certificate.get(), name) == 1, "set the issuer");
    check(X509_set_pubkey(certificate.get(), key.get()) == 1, "set the public key");
    if (!options.alternativeNames.empty()) {
        X509V3_CTX context;
        X509V3_set_ctx(&context, certificate.get(), certificate.get(), nullptr, nullptr, 0);
        ExtensionPtr extension(
            X509V3_EXT_conf_nid(nullptr, &context, NID_subject_alt_name, options.alternativeNames.c_str()));
        check(extension != nullptr, "encode the subject alternative names");
        check(X509_add_ext(certificate.get(), extension.get(), -1) == 1, "add the subject alternative names");
    }
    check(X509_sign(certificate.get(), key.get(), EVP_sha256()) > 0, "sign the certificate");

    TestCertificate result;
    std::unique_ptr<BIO, BioFree> certificateBio(BIO_new(BIO_s_mem()));
    check(PEM_write_bio_X509(certificateBio.get(), certificate.get()) == 1, "write the certificate");
    result.certificatePem = bioText(certificateBio.get());
    std::unique_ptr<BIO, BioFree> keyBio(BIO_new(BIO_s_mem()));
    if (options.passphrase.empty()) {
        check(PEM_write_bio_PrivateKey(keyBio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1,
            "write the key");
    } else {
        check(PEM_write_bio_PKCS8PrivateKey(keyBio.get(), key.get(), EVP_aes_256_cbc(), options.passphrase.c_str(),
                  static_cast<int>(options.passphrase.size()), nullptr, nullptr)
                == 1,
            "write the encrypted key");
    }
    result.keyPem = bioText(keyBio.get());
    return result;
}

} // namespace meldpunt::test
