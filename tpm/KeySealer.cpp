#include "KeySealer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace meldpunt::tpm {

namespace {

// The TCG reference implementation, which swtpm uses, sets MAX_SYM_DATA to
// 128 bytes, although the tpm2-tss headers size the buffer for 256.
constexpr std::size_t maxSealedSize = 128;
constexpr unsigned pcrCount = 24;
constexpr int maxPcrRetries = 3;

template <typename T> struct EsysFree {
    void operator()(T* pointer) const { Esys_Free(pointer); }
};
template <typename T> using EsysPtr = std::unique_ptr<T, EsysFree<T>>;

// Flushes a transient object or session from the TPM when it leaves scope,
// so that no path, including an exception, leaves TPM memory in use.
class FlushGuard {
public:
    explicit FlushGuard(ESYS_CONTEXT* esys, ESYS_TR handle = ESYS_TR_NONE)
        : esys_(esys)
        , handle_(handle)
    {
    }
    ~FlushGuard()
    {
        // A failed flush cannot be reported from a destructor. It fails when
        // the connection is lost, and the kernel resource manager
        // (/dev/tpmrm0) then flushes the connection's objects itself.
        if (handle_ != ESYS_TR_NONE)
            Esys_FlushContext(esys_, handle_);
    }
    FlushGuard(const FlushGuard&) = delete;
    FlushGuard& operator=(const FlushGuard&) = delete;

    ESYS_TR get() const { return handle_; }
    ESYS_TR* out() { return &handle_; }

private:
    ESYS_CONTEXT* esys_;
    ESYS_TR handle_;
};

// Wipes a structure that held secret bytes when it leaves scope.
template <typename T> class WipeGuard {
public:
    explicit WipeGuard(T& value)
        : value_(value)
    {
    }
    ~WipeGuard() { OPENSSL_cleanse(&value_, sizeof value_); }
    WipeGuard(const WipeGuard&) = delete;
    WipeGuard& operator=(const WipeGuard&) = delete;

private:
    T& value_;
};

TSS2_RC layerOf(TSS2_RC rc)
{
    return rc & TSS2_RC_LAYER_MASK;
}

bool isTpmLayer(TSS2_RC rc)
{
    return layerOf(rc) == TSS2_TPM_RC_LAYER || layerOf(rc) == TSS2_RESMGR_TPM_RC_LAYER;
}

// Returns the TPM response code without the layer and, for format-one codes,
// without the handle, session or parameter number, so that it compares equal
// to the TPM2_RC_ constants.
TSS2_RC baseCode(TSS2_RC rc)
{
    if (!isTpmLayer(rc))
        return rc;
    const TSS2_RC code = rc & 0xFFFF;
    if ((code & TPM2_RC_FMT1) != 0)
        return code & (TPM2_RC_FMT1 | 0x3F);
    return code;
}

bool isConnectionFailure(TSS2_RC rc)
{
    if (isTpmLayer(rc))
        return false;
    const TSS2_RC base = rc & ~TSS2_RC_LAYER_MASK;
    return layerOf(rc) == TSS2_TCTI_RC_LAYER || base == TSS2_BASE_RC_IO_ERROR ||
        base == TSS2_BASE_RC_NO_CONNECTION;
}

std::string decode(TSS2_RC rc)
{
    char code[16];
    std::snprintf(code, sizeof code, "0x%08x", rc);
    return std::string(Tss2_RC_Decode(rc)) + " (" + code + ")";
}

std::string advice(TpmFailure failure)
{
    switch (failure) {
    case TpmFailure::Unreachable:
        return "Check that the TPM is enabled in the firmware, that the TCTI names the right "
               "device or simulator, and that the service user may open it.";
    case TpmFailure::PcrMismatch:
        return "The selected PCRs no longer hold the values they had when the key was sealed; "
               "check whether the firmware, the Secure Boot certificates or the boot path "
               "changed, then seal the key again through the recovery procedure.";
    case TpmFailure::Lockout:
        return "The TPM rejects DA-protected authorizations until the lockout recovery time "
               "passes or the lockout hierarchy resets the counter "
               "(TPM2_DictionaryAttackLockReset).";
    case TpmFailure::SealedKeyRejected:
        return "The TPM could not load the sealed key: it was sealed by another TPM, the TPM "
               "was cleared since, or the sealed key file is damaged; restore the key through "
               "the recovery procedure.";
    case TpmFailure::Other:
        break;
    }
    return "Check the TPM's self-test state and that the owner hierarchy authorization is "
           "empty, as Meldpunt expects.";
}

TSS2_RC readPermanent(ESYS_CONTEXT* esys, TPMA_PERMANENT& permanent)
{
    TPMI_YES_NO moreData = TPM2_NO;
    TPMS_CAPABILITY_DATA* raw = nullptr;
    const TSS2_RC rc = Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
        TPM2_CAP_TPM_PROPERTIES, TPM2_PT_PERMANENT, 1, &moreData, &raw);
    EsysPtr<TPMS_CAPABILITY_DATA> data(raw);
    if (rc != TSS2_RC_SUCCESS)
        return rc;
    const auto& properties = data->data.tpmProperties;
    if (properties.count < 1 || properties.tpmProperty[0].property != TPM2_PT_PERMANENT)
        return TSS2_ESYS_RC_MALFORMED_RESPONSE;
    permanent = properties.tpmProperty[0].value;
    return TSS2_RC_SUCCESS;
}

// The storage root key template of the TCG TPM v2.0 Provisioning Guidance
// (ECC NIST P-256). The TPM derives the same key from the owner seed for
// the same template, so the primary need not be persisted.
TPM2B_PUBLIC storagePrimaryTemplate()
{
    TPM2B_PUBLIC primary{};
    TPMT_PUBLIC& area = primary.publicArea;
    area.type = TPM2_ALG_ECC;
    area.nameAlg = TPM2_ALG_SHA256;
    area.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
        TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
        TPMA_OBJECT_NODA;
    TPMS_ECC_PARMS& ecc = area.parameters.eccDetail;
    ecc.symmetric.algorithm = TPM2_ALG_AES;
    ecc.symmetric.keyBits.aes = 128;
    ecc.symmetric.mode.aes = TPM2_ALG_CFB;
    ecc.scheme.scheme = TPM2_ALG_NULL;
    ecc.curveID = TPM2_ECC_NIST_P256;
    ecc.kdf.scheme = TPM2_ALG_NULL;
    return primary;
}

// A sealed data object that only the PCR policy unlocks: without
// userWithAuth its empty auth value cannot be used, and with noDA a failed
// unseal never counts towards dictionary-attack lockout.
TPM2B_PUBLIC sealedObjectTemplate(const TPM2B_DIGEST& policy)
{
    TPM2B_PUBLIC sealed{};
    TPMT_PUBLIC& area = sealed.publicArea;
    area.type = TPM2_ALG_KEYEDHASH;
    area.nameAlg = TPM2_ALG_SHA256;
    area.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA;
    area.authPolicy = policy;
    area.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
    return sealed;
}

TPMI_ALG_HASH bankAlgorithm(const PcrSelection& pcrs)
{
    if (pcrs.bank == "sha256")
        return TPM2_ALG_SHA256;
    if (pcrs.bank == "sha1")
        return TPM2_ALG_SHA1;
    throw std::invalid_argument("PCR bank \"" + pcrs.bank + "\" is not sha256 or sha1");
}

TPML_PCR_SELECTION toTpmSelection(const PcrSelection& pcrs)
{
    if (pcrs.indices.empty())
        throw std::invalid_argument("the PCR selection " + pcrs.toString() + " has no PCR index");
    TPML_PCR_SELECTION selection{};
    selection.count = 1;
    selection.pcrSelections[0].hash = bankAlgorithm(pcrs);
    selection.pcrSelections[0].sizeofSelect = 3;
    for (unsigned index : pcrs.indices) {
        if (index >= pcrCount)
            throw std::invalid_argument(
                "PCR index " + std::to_string(index) + " is out of range 0..23");
        selection.pcrSelections[0].pcrSelect[index / 8] |= static_cast<BYTE>(1u << (index % 8));
    }
    return selection;
}

std::string bankName(const TPML_PCR_SELECTION& selection)
{
    return selection.pcrSelections[0].hash == TPM2_ALG_SHA1 ? "sha1" : "sha256";
}

bool selectsNothing(const TPML_PCR_SELECTION& selection)
{
    const auto& select = selection.pcrSelections[0].pcrSelect;
    return select[0] == 0 && select[1] == 0 && select[2] == 0;
}

TPM2B_DIGEST sha256(const std::uint8_t* data, std::size_t size)
{
    TPM2B_DIGEST digest{};
    unsigned length = 0;
    if (EVP_Digest(data, size, digest.buffer, &length, EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("OpenSSL failed to compute a SHA-256 digest");
    digest.size = static_cast<UINT16>(length);
    return digest;
}

// The values of the selected PCRs, read under one PCR update counter.
struct PcrSnapshot {
    TPM2B_DIGEST digest{}; // SHA-256 over the concatenated values, as PolicyPCR expects
    UINT32 updateCounter = 0;
};

} // namespace

// The ESYS steps of the public operations. It borrows the ESYS context and
// the TCTI name of one Tpm object, so that tpm2-tss types stay out of the
// public header.
class Tpm::Operations {
public:
    explicit Operations(Tpm& tpm)
        : esys_(tpm.esys_.get())
        , tcti_(tpm.tcti_)
    {
    }

    [[noreturn]] void fail(TSS2_RC rc, const std::string& command, TpmFailure fallback);
    [[noreturn]] void rejectBlob(std::string_view problem);
    TPMA_PERMANENT permanent();

    ESYS_TR createPrimary();
    ESYS_TR startSession(ESYS_TR saltKey, TPM2_SE sessionType);
    void setSessionAttributes(ESYS_TR session, TPMA_SESSION attributes);
    TPM2B_DIGEST trialPolicyDigest(const TPML_PCR_SELECTION& selection);
    std::optional<SecretBytes> unsealOnce(ESYS_TR object, ESYS_TR primary,
        const TPML_PCR_SELECTION& selection, const std::string& pcrsText);
    std::optional<PcrSnapshot> readPcrs(const TPML_PCR_SELECTION& selection);
    bool pcrsChangedSince(const PcrSnapshot& snapshot, const TPML_PCR_SELECTION& selection);

    std::vector<std::uint8_t> marshalPublic(const TPM2B_PUBLIC& area);
    std::vector<std::uint8_t> marshalPrivate(const TPM2B_PRIVATE& area);
    TPM2B_PUBLIC unmarshalPublic(std::span<const std::uint8_t> bytes);
    TPM2B_PRIVATE unmarshalPrivate(std::span<const std::uint8_t> bytes);

private:
    ESYS_CONTEXT* esys_;
    const std::string& tcti_;
};

void Tpm::TctiDeleter::operator()(TSS2_TCTI_CONTEXT* context) const
{
    Tss2_TctiLdr_Finalize(&context);
}

void Tpm::EsysDeleter::operator()(ESYS_CONTEXT* context) const
{
    Esys_Finalize(&context);
}

Tpm::Tpm(const std::string& tcti)
    : tcti_(tcti)
{
    // An empty configuration would make the TCTI loader probe a list of
    // default TCTIs, which hides which TPM the appliance is meant to use.
    if (tcti_.empty())
        throw TpmError(TpmFailure::Unreachable,
            "No TCTI is configured for the TPM. " + advice(TpmFailure::Unreachable));

    TSS2_TCTI_CONTEXT* tctiContext = nullptr;
    TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti_.c_str(), &tctiContext);
    if (rc != TSS2_RC_SUCCESS)
        throw TpmError(TpmFailure::Unreachable,
            "Opening the TPM through TCTI \"" + tcti_ + "\" failed: " + decode(rc) + ". " +
                advice(TpmFailure::Unreachable));
    tctiContext_.reset(tctiContext);

    ESYS_CONTEXT* esys = nullptr;
    rc = Esys_Initialize(&esys, tctiContext_.get(), nullptr);
    if (rc != TSS2_RC_SUCCESS)
        throw TpmError(TpmFailure::Unreachable,
            "Starting ESYS on TCTI \"" + tcti_ + "\" failed: " + decode(rc) + ". " +
                advice(TpmFailure::Unreachable));
    esys_.reset(esys);

    // Some TCTIs connect lazily, so one cheap command proves that the TPM
    // responds before the object is handed out.
    Operations(*this).permanent();
}

Tpm::~Tpm() = default;

// The severity bit of a format-zero response code: set for warnings.
constexpr TSS2_RC kWarningBit = 0x800;

void Tpm::Operations::fail(TSS2_RC rc, const std::string& command, TpmFailure fallback)
{
    TpmFailure failure = fallback;
    if (isConnectionFailure(rc))
        failure = TpmFailure::Unreachable;
    else if (isTpmLayer(rc) && baseCode(rc) == TPM2_RC_LOCKOUT)
        failure = TpmFailure::Lockout;
    else if (!isTpmLayer(rc))
        failure = TpmFailure::Other;
    else if ((rc & TPM2_RC_FMT1) == 0 && (rc & kWarningBit) != 0)
        // Warnings (out of object or session memory, retry, yielded) mean
        // the TPM is busy, not that the sealed key is wrong. A process that
        // died while using a TPM without a resource manager causes them.
        failure = TpmFailure::Other;

    // A TPM in lockout can fail commands with codes that do not mention the
    // lockout, so an otherwise unexplained failure is reported as one.
    TPMA_PERMANENT permanent = 0;
    if (failure == TpmFailure::Other && readPermanent(esys_, permanent) == TSS2_RC_SUCCESS &&
        (permanent & TPMA_PERMANENT_INLOCKOUT) != 0)
        failure = TpmFailure::Lockout;

    throw TpmError(failure,
        command + " through TCTI \"" + tcti_ + "\" failed: " + decode(rc) + ". " + advice(failure));
}

TPMA_PERMANENT Tpm::Operations::permanent()
{
    TPMA_PERMANENT permanent = 0;
    const TSS2_RC rc = readPermanent(esys_, permanent);
    if (rc != TSS2_RC_SUCCESS)
        fail(rc, "TPM2_GetCapability", TpmFailure::Other);
    return permanent;
}

bool Tpm::inLockout()
{
    return (Operations(*this).permanent() & TPMA_PERMANENT_INLOCKOUT) != 0;
}

void Tpm::extendPcr(unsigned index, std::string_view data)
{
    if (index >= pcrCount)
        throw std::invalid_argument(
            "PCR index " + std::to_string(index) + " is out of range 0..23");
    const TPM2B_DIGEST digest =
        sha256(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    TPML_DIGEST_VALUES digests{};
    digests.count = 1;
    digests.digests[0].hashAlg = TPM2_ALG_SHA256;
    std::memcpy(digests.digests[0].digest.sha256, digest.buffer, digest.size);

    const TSS2_RC rc = Esys_PCR_Extend(
        esys_.get(), ESYS_TR_PCR0 + index, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &digests);
    if (rc != TSS2_RC_SUCCESS)
        Operations(*this).fail(rc, "TPM2_PCR_Extend", TpmFailure::Other);
}

ESYS_TR Tpm::Operations::createPrimary()
{
    const TPM2B_SENSITIVE_CREATE sensitive{};
    const TPM2B_PUBLIC primaryTemplate = storagePrimaryTemplate();
    const TPM2B_DATA outsideInfo{};
    const TPML_PCR_SELECTION creationPcrs{};
    ESYS_TR primary = ESYS_TR_NONE;
    const TSS2_RC rc = Esys_CreatePrimary(esys_, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
        ESYS_TR_NONE, &sensitive, &primaryTemplate, &outsideInfo, &creationPcrs, &primary, nullptr,
        nullptr, nullptr, nullptr);
    if (rc != TSS2_RC_SUCCESS)
        fail(rc, "TPM2_CreatePrimary", TpmFailure::Other);
    return primary;
}

ESYS_TR Tpm::Operations::startSession(ESYS_TR saltKey, TPM2_SE sessionType)
{
    // Salting with the primary key gives the session a secret that a bus
    // observer cannot know, and AES-CFB parameter encryption keeps the
    // secret off the bus in clear text. A trial session sends no secret.
    TPMT_SYM_DEF symmetric{};
    symmetric.algorithm = TPM2_ALG_NULL;
    if (saltKey != ESYS_TR_NONE) {
        symmetric.algorithm = TPM2_ALG_AES;
        symmetric.keyBits.aes = 128;
        symmetric.mode.aes = TPM2_ALG_CFB;
    }
    ESYS_TR session = ESYS_TR_NONE;
    TSS2_RC rc = Esys_StartAuthSession(esys_, saltKey, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
        ESYS_TR_NONE, nullptr, sessionType, &symmetric, TPM2_ALG_SHA256, &session);
    if (rc != TSS2_RC_SUCCESS)
        fail(rc, "TPM2_StartAuthSession", TpmFailure::Other);
    return session;
}

void Tpm::Operations::setSessionAttributes(ESYS_TR session, TPMA_SESSION attributes)
{
    const TSS2_RC rc = Esys_TRSess_SetAttributes(esys_, session, attributes, 0xFF);
    if (rc != TSS2_RC_SUCCESS)
        fail(rc, "Esys_TRSess_SetAttributes", TpmFailure::Other);
}

SealedKey Tpm::seal(std::span<const std::uint8_t> secret, const PcrSelection& pcrs)
{
    Operations ops(*this);
    if (secret.empty() || secret.size() > maxSealedSize)
        throw std::invalid_argument(
            "a sealed secret must have 1 to 128 bytes, not " + std::to_string(secret.size()));
    const TPML_PCR_SELECTION selection = toTpmSelection(pcrs);

    // Reading the PCRs first rejects a bank that the TPM does not have
    // active. A trial PolicyPCR over such a bank succeeds, but no unseal
    // could ever satisfy the resulting policy.
    ops.readPcrs(selection);

    FlushGuard primary(esys_.get(), ops.createPrimary());
    const TPM2B_PUBLIC sealedTemplate = sealedObjectTemplate(ops.trialPolicyDigest(selection));

    FlushGuard session(esys_.get(), ops.startSession(primary.get(), TPM2_SE_HMAC));
    ops.setSessionAttributes(session.get(), TPMA_SESSION_DECRYPT | TPMA_SESSION_CONTINUESESSION);

    TPM2B_SENSITIVE_CREATE sensitive{};
    WipeGuard wipeSensitive(sensitive);
    sensitive.sensitive.data.size = static_cast<UINT16>(secret.size());
    std::memcpy(sensitive.sensitive.data.buffer, secret.data(), secret.size());

    const TPM2B_DATA outsideInfo{};
    const TPML_PCR_SELECTION creationPcrs{};
    TPM2B_PRIVATE* rawPrivate = nullptr;
    TPM2B_PUBLIC* rawPublic = nullptr;
    const TSS2_RC rc = Esys_Create(esys_.get(), primary.get(), session.get(), ESYS_TR_NONE,
        ESYS_TR_NONE, &sensitive, &sealedTemplate, &outsideInfo, &creationPcrs, &rawPrivate,
        &rawPublic, nullptr, nullptr, nullptr);
    EsysPtr<TPM2B_PRIVATE> outPrivate(rawPrivate);
    EsysPtr<TPM2B_PUBLIC> outPublic(rawPublic);
    if (rc != TSS2_RC_SUCCESS)
        ops.fail(rc, "TPM2_Create", TpmFailure::Other);

    SealedKey sealed;
    sealed.publicArea = ops.marshalPublic(*outPublic);
    sealed.privateArea = ops.marshalPrivate(*outPrivate);
    sealed.pcrs = pcrs;
    return sealed;
}

TPM2B_DIGEST Tpm::Operations::trialPolicyDigest(const TPML_PCR_SELECTION& selection)
{
    // With an empty pcrDigest the TPM uses the current PCR values, so the
    // digest binds the sealed object to the PCRs as they are now.
    FlushGuard trial(esys_, startSession(ESYS_TR_NONE, TPM2_SE_TRIAL));
    const TPM2B_DIGEST currentValues{};
    TSS2_RC rc = Esys_PolicyPCR(
        esys_, trial.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &currentValues, &selection);
    if (rc != TSS2_RC_SUCCESS)
        fail(rc, "TPM2_PolicyPCR", TpmFailure::Other);

    TPM2B_DIGEST* rawDigest = nullptr;
    rc = Esys_PolicyGetDigest(
        esys_, trial.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &rawDigest);
    EsysPtr<TPM2B_DIGEST> digest(rawDigest);
    if (rc != TSS2_RC_SUCCESS)
        fail(rc, "TPM2_PolicyGetDigest", TpmFailure::Other);
    return *digest;
}

SecretBytes Tpm::unseal(const SealedKey& sealed)
{
    Operations ops(*this);
    const TPM2B_PUBLIC sealedPublic = ops.unmarshalPublic(sealed.publicArea);
    const TPM2B_PRIVATE sealedPrivate = ops.unmarshalPrivate(sealed.privateArea);
    const TPML_PCR_SELECTION selection = toTpmSelection(sealed.pcrs);

    FlushGuard primary(esys_.get(), ops.createPrimary());
    FlushGuard object(esys_.get());
    const TSS2_RC rc = Esys_Load(esys_.get(), primary.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE,
        ESYS_TR_NONE, &sealedPrivate, &sealedPublic, object.out());
    if (rc != TSS2_RC_SUCCESS)
        ops.fail(rc, "TPM2_Load of the sealed key", TpmFailure::SealedKeyRejected);

    // A PCR may be extended between the read and the policy check, for
    // example by a measurement during boot, so a change is retried.
    // NOTE: the tests cannot extend a PCR inside that window, because swtpm
    // serves one connection at a time, so only real hardware runs a retry.
    for (int attempt = 0; attempt <= maxPcrRetries; ++attempt) {
        if (auto secret =
                ops.unsealOnce(object.get(), primary.get(), selection, sealed.pcrs.toString()))
            return std::move(*secret);
    }
    throw TpmError(TpmFailure::PcrMismatch,
        "The PCRs " + sealed.pcrs.toString() + " changed during each of " +
            std::to_string(maxPcrRetries + 1) + " unseal attempts through TCTI \"" + tcti_ +
            "\". Check which service keeps extending them.");
}

std::optional<SecretBytes> Tpm::Operations::unsealOnce(ESYS_TR object, ESYS_TR primary,
    const TPML_PCR_SELECTION& selection, const std::string& pcrsText)
{
    const std::optional<PcrSnapshot> snapshot = readPcrs(selection);
    if (!snapshot)
        return std::nullopt;

    FlushGuard session(esys_, startSession(primary, TPM2_SE_POLICY));
    setSessionAttributes(session.get(), TPMA_SESSION_ENCRYPT | TPMA_SESSION_CONTINUESESSION);

    // Passing the digest of the values just read makes the TPM confirm that
    // they are still current. TPM2_RC_VALUE then means that a PCR changed.
    TSS2_RC rc = Esys_PolicyPCR(esys_, session.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
        &snapshot->digest, &selection);
    if (rc != TSS2_RC_SUCCESS) {
        if (baseCode(rc) == TPM2_RC_VALUE && pcrsChangedSince(*snapshot, selection))
            return std::nullopt;
        fail(rc, "TPM2_PolicyPCR", TpmFailure::Other);
    }

    TPM2B_SENSITIVE_DATA* rawData = nullptr;
    rc = Esys_Unseal(esys_, object, session.get(), ESYS_TR_NONE, ESYS_TR_NONE, &rawData);
    EsysPtr<TPM2B_SENSITIVE_DATA> data(rawData);
    if (rc != TSS2_RC_SUCCESS) {
        if (baseCode(rc) == TPM2_RC_PCR_CHANGED)
            return std::nullopt;
        // The policy digest differs from the sealed object's authPolicy, so
        // the PCR values differ from those at sealing time.
        const bool mismatch = isTpmLayer(rc) && baseCode(rc) == TPM2_RC_POLICY_FAIL;
        fail(rc, "TPM2_Unseal of the key sealed to PCRs " + pcrsText,
            mismatch ? TpmFailure::PcrMismatch : TpmFailure::Other);
    }

    WipeGuard wipeData(*data);
    SecretBytes secret(data->size);
    std::memcpy(secret.data(), data->buffer, data->size);
    return secret;
}

std::optional<PcrSnapshot> Tpm::Operations::readPcrs(const TPML_PCR_SELECTION& selection)
{
    // TPM2_PCR_Read returns at most eight digests per call, so a larger
    // selection takes several calls that must all see one update counter.
    TPML_PCR_SELECTION remaining = selection;
    std::vector<std::uint8_t> values;
    std::optional<UINT32> counter;
    while (!selectsNothing(remaining)) {
        UINT32 updateCounter = 0;
        TPML_PCR_SELECTION* rawRead = nullptr;
        TPML_DIGEST* rawValues = nullptr;
        const TSS2_RC rc = Esys_PCR_Read(esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
            &remaining, &updateCounter, &rawRead, &rawValues);
        EsysPtr<TPML_PCR_SELECTION> read(rawRead);
        EsysPtr<TPML_DIGEST> digests(rawValues);
        if (rc != TSS2_RC_SUCCESS)
            fail(rc, "TPM2_PCR_Read", TpmFailure::Other);
        if (counter && *counter != updateCounter)
            return std::nullopt;
        counter = updateCounter;
        if (read->count == 0 || selectsNothing(*read) || digests->count == 0)
            throw TpmError(TpmFailure::Other,
                "The TPM behind TCTI \"" + tcti_ + "\" returned no values for the " +
                    bankName(selection) +
                    " PCRs, so that bank is not active. "
                    "Seal to an active bank or allocate it in the firmware.");
        for (UINT32 i = 0; i < digests->count; ++i)
            values.insert(values.end(), digests->digests[i].buffer,
                digests->digests[i].buffer + digests->digests[i].size);
        for (int byte = 0; byte < 3; ++byte)
            remaining.pcrSelections[0].pcrSelect[byte] &=
                static_cast<BYTE>(~read->pcrSelections[0].pcrSelect[byte]);
    }
    return PcrSnapshot{ sha256(values.data(), values.size()), counter.value_or(0) };
}

bool Tpm::Operations::pcrsChangedSince(
    const PcrSnapshot& snapshot, const TPML_PCR_SELECTION& selection)
{
    TPML_PCR_SELECTION first = selection;
    UINT32 updateCounter = 0;
    const TSS2_RC rc = Esys_PCR_Read(
        esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &first, &updateCounter, nullptr, nullptr);
    if (rc != TSS2_RC_SUCCESS)
        fail(rc, "TPM2_PCR_Read", TpmFailure::Other);
    return updateCounter != snapshot.updateCounter;
}

std::vector<std::uint8_t> Tpm::Operations::marshalPublic(const TPM2B_PUBLIC& area)
{
    std::vector<std::uint8_t> buffer(sizeof area);
    std::size_t offset = 0;
    const TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&area, buffer.data(), buffer.size(), &offset);
    if (rc != TSS2_RC_SUCCESS)
        fail(rc, "Marshalling the sealed key's public area", TpmFailure::Other);
    buffer.resize(offset);
    return buffer;
}

std::vector<std::uint8_t> Tpm::Operations::marshalPrivate(const TPM2B_PRIVATE& area)
{
    std::vector<std::uint8_t> buffer(sizeof area);
    std::size_t offset = 0;
    const TSS2_RC rc = Tss2_MU_TPM2B_PRIVATE_Marshal(&area, buffer.data(), buffer.size(), &offset);
    if (rc != TSS2_RC_SUCCESS)
        fail(rc, "Marshalling the sealed key's private area", TpmFailure::Other);
    buffer.resize(offset);
    return buffer;
}

TPM2B_PUBLIC Tpm::Operations::unmarshalPublic(std::span<const std::uint8_t> bytes)
{
    TPM2B_PUBLIC area{};
    std::size_t offset = 0;
    const TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(bytes.data(), bytes.size(), &offset, &area);
    if (rc != TSS2_RC_SUCCESS || offset != bytes.size())
        rejectBlob("public area is not a valid TPM2B_PUBLIC");

    // Only an object that the PCR policy alone unlocks is accepted. A
    // substituted object with userWithAuth would unseal without the policy.
    const TPMT_PUBLIC& object = area.publicArea;
    const TPMA_OBJECT required = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT;
    if (object.type != TPM2_ALG_KEYEDHASH || object.nameAlg != TPM2_ALG_SHA256 ||
        (object.objectAttributes & required) != required ||
        (object.objectAttributes & TPMA_OBJECT_USERWITHAUTH) != 0 || object.authPolicy.size != 32)
        rejectBlob("public area is not a PCR-policy sealed data object");
    return area;
}

TPM2B_PRIVATE Tpm::Operations::unmarshalPrivate(std::span<const std::uint8_t> bytes)
{
    TPM2B_PRIVATE area{};
    std::size_t offset = 0;
    const TSS2_RC rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(bytes.data(), bytes.size(), &offset, &area);
    if (rc != TSS2_RC_SUCCESS || offset != bytes.size())
        rejectBlob("private area is not a valid TPM2B_PRIVATE");
    return area;
}

void Tpm::Operations::rejectBlob(std::string_view problem)
{
    throw TpmError(TpmFailure::SealedKeyRejected,
        "The sealed key was rejected before it reached the TPM behind TCTI \"" + tcti_ +
            "\": its " + std::string(problem) +
            ". The sealed key file is damaged or was not written by Meldpunt; "
            "restore the key through the recovery procedure.");
}

} // namespace meldpunt::tpm
