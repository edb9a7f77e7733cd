#include "Signature.h"

#include "Manifest.h"
#include "UpdateError.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstring>

namespace meldpunt::updater {

namespace {

[[noreturn]] void reject(const std::string& what)
{
    throw UpdateError("The bundle signature was rejected: " + what + ".");
}

// CMS_get0_signers returns a new stack of certificates that the CMS
// structure still owns, so only the stack itself is freed.
struct BorrowedStackFree {
    void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
};
using BorrowedStackPtr = std::unique_ptr<STACK_OF(X509), BorrowedStackFree>;

void freeOpenSslBytes(unsigned char* pointer)
{
    OPENSSL_free(pointer);
}

BioPtr openFile(const std::filesystem::path& path, const char* what)
{
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio)
        throw UpdateError("Failed to read the " + std::string(what) + " '" + path.string() +
            "': " + takeOpenSslError() + ".");
    return bio;
}

std::string subjectOf(X509* certificate)
{
    BioPtr out(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(out.get(), X509_get_subject_name(certificate), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    const long length = BIO_get_mem_data(out.get(), &data);
    return std::string(data, static_cast<std::size_t>(length));
}

std::string fingerprintOf(X509* certificate)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    X509_digest(certificate, EVP_sha256(), digest, &length);
    return toHex(std::span<const std::uint8_t>(digest, length));
}

// Reads one DER header at `cursor` and checks its tag; returns the
// content length and leaves `cursor` at the content.
long enterDer(
    const unsigned char*& cursor, const unsigned char* end, int expectedTag, int expectedClass)
{
    long length = 0;
    int tag = 0;
    int tagClass = 0;
    const int flags = ASN1_get_object(&cursor, &length, &tag, &tagClass, end - cursor);
    if ((flags & 0x80) != 0 || tag != expectedTag || tagClass != expectedClass ||
        length > end - cursor)
        reject("it is not DER-encoded SignedData");
    return length;
}

// Checks the fields of SignedData that the signature does not cover: the
// version must be 1 and the digest algorithm set must name exactly the
// signer's digest algorithm. OpenSSL ignores both, so without this check a
// changed byte there would leave a different file that still verifies.
void checkUnsignedFields(std::span<const std::uint8_t> signature, CMS_SignerInfo* signerInfo)
{
    const unsigned char* cursor = signature.data();
    const unsigned char* end = cursor + signature.size();
    enterDer(cursor, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    cursor += enterDer(cursor, end, V_ASN1_OBJECT, V_ASN1_UNIVERSAL);
    enterDer(cursor, end, 0, V_ASN1_CONTEXT_SPECIFIC);
    enterDer(cursor, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    const long versionLength = enterDer(cursor, end, V_ASN1_INTEGER, V_ASN1_UNIVERSAL);
    if (versionLength != 1 || cursor[0] != 1)
        reject("its SignedData version is not 1");
    cursor += versionLength;

    X509_ALGOR* digest = nullptr;
    CMS_SignerInfo_get0_algs(signerInfo, nullptr, nullptr, &digest, nullptr);
    unsigned char* algorithm = nullptr;
    const int algorithmLength = digest ? i2d_X509_ALGOR(digest, &algorithm) : -1;
    std::unique_ptr<unsigned char, decltype(&freeOpenSslBytes)> owned(algorithm, &freeOpenSslBytes);
    const unsigned char* setStart = cursor;
    const long setLength = enterDer(cursor, end, V_ASN1_SET, V_ASN1_UNIVERSAL);
    if (algorithmLength <= 0 || setLength != algorithmLength ||
        std::memcmp(cursor, algorithm, static_cast<std::size_t>(algorithmLength)) != 0 ||
        cursor - setStart != 2)
        reject("its digest algorithm list is not exactly the signer's digest algorithm");
    cursor += setLength;

    // Skip the encapsulated content info and the optional certificates and
    // CRLs, then read the one SignerInfo's version: 1 for a signer named by
    // issuer and serial number, 3 for one named by key identifier.
    cursor += enterDer(cursor, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    for (int optionalTag = 0; optionalTag <= 1 && cursor < end; ++optionalTag) {
        if (*cursor == (0xa0 | optionalTag))
            cursor += enterDer(cursor, end, optionalTag, V_ASN1_CONTEXT_SPECIFIC);
    }
    enterDer(cursor, end, V_ASN1_SET, V_ASN1_UNIVERSAL);
    enterDer(cursor, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    const long signerVersionLength = enterDer(cursor, end, V_ASN1_INTEGER, V_ASN1_UNIVERSAL);
    ASN1_OCTET_STRING* keyId = nullptr;
    CMS_SignerInfo_get0_signer_id(signerInfo, &keyId, nullptr, nullptr);
    const unsigned char expectedVersion = keyId ? 3 : 1;
    if (signerVersionLength != 1 || cursor[0] != expectedVersion)
        reject("its SignerInfo version does not match how the signer is named");
}

// Checks that the signature algorithm the SignerInfo names fits the
// signer's key and digest. OpenSSL picks the algorithm from the key and
// ignores a changed identifier, which would again leave a second file that
// verifies.
void checkSignatureAlgorithm(CMS_SignerInfo* signerInfo, X509* signer)
{
    X509_ALGOR* digest = nullptr;
    X509_ALGOR* signatureAlgorithm = nullptr;
    CMS_SignerInfo_get0_algs(signerInfo, nullptr, nullptr, &digest, &signatureAlgorithm);
    const ASN1_OBJECT* digestObject = nullptr;
    const ASN1_OBJECT* signatureObject = nullptr;
    X509_ALGOR_get0(&digestObject, nullptr, nullptr, digest);
    X509_ALGOR_get0(&signatureObject, nullptr, nullptr, signatureAlgorithm);
    const int signatureNid = OBJ_obj2nid(signatureObject);
    const int keyNid = EVP_PKEY_get_base_id(X509_get0_pubkey(signer));
    int digestNid = NID_undef;
    int keyTypeNid = NID_undef;
    const bool combined = OBJ_find_sigid_algs(signatureNid, &digestNid, &keyTypeNid) == 1;
    const bool digestFits = digestNid == NID_undef || digestNid == OBJ_obj2nid(digestObject);
    if (!(combined && keyTypeNid == keyNid && digestFits) && signatureNid != keyNid)
        reject("its signature algorithm does not fit the signer's key");
}

X509* verifySignedContent(CMS_ContentInfo* cms, std::span<const std::uint8_t> content)
{
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed)
        reject("it is not CMS SignedData");
    STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms);
    const int signerCount = infos ? sk_CMS_SignerInfo_num(infos) : 0;
    if (signerCount == 0)
        reject("it has no signer");
    if (signerCount != 1)
        reject("it has " + std::to_string(signerCount) + " signers, but exactly one is required");
    if (OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data)
        reject("its content type is not id-data");
    ASN1_OCTET_STRING** embedded = CMS_get0_content(cms);
    if (embedded && *embedded)
        reject("it embeds content, but a detached signature over the manifest is required");

    BioPtr data(BIO_new_mem_buf(content.data(), static_cast<int>(content.size())));
    // The certificate chain is checked below with this box's own rules on
    // time and key usage, so CMS_verify checks only the signature itself.
    if (CMS_verify(cms, nullptr, nullptr, data.get(), nullptr,
            CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1)
        reject("it does not match the manifest (" + takeOpenSslError() + ")");

    BorrowedStackPtr signers(CMS_get0_signers(cms));
    if (!signers || sk_X509_num(signers.get()) != 1)
        reject("the signer's certificate is missing");
    return sk_X509_value(signers.get(), 0);
}

void verifyChain(
    X509* signer, CMS_ContentInfo* cms, const TrustAnchors& anchors, std::time_t timeFloor)
{
    X509StackPtr included(CMS_get1_certs(cms));
    X509StoreCtxPtr context(X509_STORE_CTX_new());
    if (!context ||
        X509_STORE_CTX_init(context.get(), anchors.store(), signer, included.get()) != 1)
        throw UpdateError("Failed to set up certificate verification: " + takeOpenSslError() + ".");
    X509_VERIFY_PARAM* parameters = X509_STORE_CTX_get0_param(context.get());
    X509_VERIFY_PARAM_set_flags(parameters,
        X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL | X509_V_FLAG_X509_STRICT |
            X509_V_FLAG_NO_CHECK_TIME);
    if (X509_verify_cert(context.get()) != 1)
        reject("the signer's certificate \"" + subjectOf(signer) + "\" is not trusted (" +
            X509_verify_cert_error_string(X509_STORE_CTX_get_error(context.get())) + ")");

    STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(context.get());
    for (int i = 0; i < sk_X509_num(chain); ++i) {
        X509* certificate = sk_X509_value(chain, i);
        if (X509_cmp_time(X509_get0_notAfter(certificate), &timeFloor) <= 0)
            reject("the certificate \"" + subjectOf(certificate) + "\" expired before " +
                formatUtcTimestamp(timeFloor) + ", the build time of the running image");
    }
}

void verifySignerCertificate(X509* signer, std::time_t signedAt)
{
    const std::uint32_t extensions = X509_get_extension_flags(signer);
    if ((extensions & EXFLAG_XKUSAGE) == 0 ||
        (X509_get_extended_key_usage(signer) & XKU_CODE_SIGN) == 0)
        reject("the signer's certificate \"" + subjectOf(signer) +
            "\" lacks the extended key usage code signing, so it was not issued to sign software");
    if (X509_cmp_time(X509_get0_notBefore(signer), &signedAt) > 0 ||
        X509_cmp_time(X509_get0_notAfter(signer), &signedAt) <= 0)
        reject("the signer's certificate \"" + subjectOf(signer) + "\" was not valid at " +
            formatUtcTimestamp(signedAt) + ", when the manifest says the bundle was made");
}

} // namespace

std::string takeOpenSslError()
{
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0)
        return "no OpenSSL error recorded";
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return text;
}

TrustAnchors::TrustAnchors(
    const std::filesystem::path& caFile, const std::filesystem::path& crlFile)
    : store_(X509_STORE_new())
{
    BioPtr caBio = openFile(caFile, "CA certificate file");
    int certificates = 0;
    while (X509Ptr certificate{ PEM_read_bio_X509(caBio.get(), nullptr, nullptr, nullptr) }) {
        X509_STORE_add_cert(store_.get(), certificate.get());
        ++certificates;
    }
    ERR_clear_error();
    if (certificates == 0)
        throw UpdateError(
            "The CA certificate file '" + caFile.string() + "' contains no PEM certificate.");

    BioPtr crlBio = openFile(crlFile, "certificate revocation list");
    int crls = 0;
    while (X509_CRL* crl = PEM_read_bio_X509_CRL(crlBio.get(), nullptr, nullptr, nullptr)) {
        X509_STORE_add_crl(store_.get(), crl);
        X509_CRL_free(crl);
        ++crls;
    }
    ERR_clear_error();
    if (crls == 0)
        throw UpdateError(
            "The revocation list file '" + crlFile.string() + "' contains no PEM CRL.");
}

SignerIdentity verifyDetachedSignature(std::span<const std::uint8_t> content,
    std::span<const std::uint8_t> signature, const TrustAnchors& anchors, std::time_t timeFloor,
    std::time_t signedAt)
{
    if (signature.empty())
        reject("it is empty");
    const unsigned char* cursor = signature.data();
    CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &cursor, static_cast<long>(signature.size())));
    if (!cms)
        reject("it is not a DER-encoded CMS structure (" + takeOpenSslError() + ")");
    if (cursor != signature.data() + signature.size())
        reject("bytes follow the CMS structure");

    X509* signer = verifySignedContent(cms.get(), content);
    CMS_SignerInfo* signerInfo = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms.get()), 0);
    checkUnsignedFields(signature, signerInfo);
    checkSignatureAlgorithm(signerInfo, signer);
    verifySignerCertificate(signer, signedAt);
    verifyChain(signer, cms.get(), anchors, timeFloor);
    return { subjectOf(signer), fingerprintOf(signer) };
}

std::vector<std::uint8_t> signDetached(std::span<const std::uint8_t> content,
    const std::filesystem::path& certificateFile, const std::filesystem::path& keyFile,
    const std::filesystem::path& chainFile)
{
    BioPtr certificateBio = openFile(certificateFile, "signing certificate");
    X509Ptr certificate(PEM_read_bio_X509(certificateBio.get(), nullptr, nullptr, nullptr));
    if (!certificate)
        throw UpdateError("The signing certificate '" + certificateFile.string() +
            "' is not a PEM certificate: " + takeOpenSslError() + ".");
    BioPtr keyBio = openFile(keyFile, "signing key");
    EvpPkeyPtr key(PEM_read_bio_PrivateKey(keyBio.get(), nullptr, nullptr, nullptr));
    if (!key)
        throw UpdateError("The signing key '" + keyFile.string() +
            "' is not a PEM private key: " + takeOpenSslError() + ".");

    X509StackPtr chain(sk_X509_new_null());
    if (!chainFile.empty()) {
        BioPtr chainBio = openFile(chainFile, "certificate chain file");
        while (X509* extra = PEM_read_bio_X509(chainBio.get(), nullptr, nullptr, nullptr))
            sk_X509_push(chain.get(), extra);
        ERR_clear_error();
    }

    BioPtr data(BIO_new_mem_buf(content.data(), static_cast<int>(content.size())));
    CmsPtr cms(CMS_sign(certificate.get(), key.get(), chain.get(), data.get(),
        CMS_BINARY | CMS_DETACHED | CMS_NOSMIMECAP));
    if (!cms)
        throw UpdateError("Failed to sign the manifest: " + takeOpenSslError() + ".");
    const int length = i2d_CMS_ContentInfo(cms.get(), nullptr);
    std::vector<std::uint8_t> der(static_cast<std::size_t>(length > 0 ? length : 0));
    unsigned char* out = der.data();
    if (length <= 0 || i2d_CMS_ContentInfo(cms.get(), &out) != length)
        throw UpdateError("Failed to encode the signature: " + takeOpenSslError() + ".");
    return der;
}

bool parseUtcTimestamp(const std::string& text, std::time_t& out)
{
    if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' ||
        text[13] != ':' || text[16] != ':' || text[19] != 'Z')
        return false;
    std::tm parts{};
    char tail = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &parts.tm_year, &parts.tm_mon,
            &parts.tm_mday, &parts.tm_hour, &parts.tm_min, &parts.tm_sec, &tail) != 7)
        return false;
    if (parts.tm_mon < 1 || parts.tm_mon > 12 || parts.tm_mday < 1 || parts.tm_mday > 31 ||
        parts.tm_hour > 23 || parts.tm_min > 59 || parts.tm_sec > 60)
        return false;
    parts.tm_year -= 1900;
    parts.tm_mon -= 1;
    out = timegm(&parts);
    return true;
}

std::string formatUtcTimestamp(std::time_t time)
{
    std::tm parts{};
    gmtime_r(&time, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

} // namespace meldpunt::updater
