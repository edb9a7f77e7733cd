#include "SecurityEpoch.h"

#include "UpdateError.h"
#include "UpdaterConfig.h"

#include "Crypto.h"
#include "FileSystem.h"

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <system_error>

namespace meldpunt::updater {

namespace {

constexpr std::uint16_t kBitsIndexSize = 8;
// The authorization value's length: the size of a SHA-256 digest, the
// index's name algorithm, which is the longest value the TPM accepts for it.
constexpr std::size_t kAuthValueSize = 32;
constexpr unsigned kAuthFileMode = 0600;

TSS2_RC baseCode(TSS2_RC rc)
{
    // Format-one codes carry a parameter or handle number in bits 6 to 11.
    if (rc & TPM2_RC_FMT1)
        return (rc & 0xbf) | TPM2_RC_FMT1;
    return rc & 0xfff;
}

bool isTpmLayer(TSS2_RC rc)
{
    return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER;
}

bool isAuthFailure(TSS2_RC rc)
{
    return isTpmLayer(rc) &&
        (baseCode(rc) == TPM2_RC_AUTH_FAIL || baseCode(rc) == TPM2_RC_BAD_AUTH);
}

void setAuthValue(ESYS_CONTEXT* esys, ESYS_TR index, const std::vector<std::uint8_t>& value)
{
    TPM2B_AUTH auth{};
    auth.size = static_cast<UINT16>(value.size());
    std::copy(value.begin(), value.end(), auth.buffer);
    Esys_TR_SetAuth(esys, index, &auth);
}

std::string hexIndex(std::uint32_t index)
{
    char text[16];
    std::snprintf(text, sizeof text, "0x%08x", index);
    return text;
}

} // namespace

void SecurityEpochStore::TctiDeleter::operator()(TSS2_TCTI_CONTEXT* context) const
{
    Tss2_TctiLdr_Finalize(&context);
}

void SecurityEpochStore::EsysDeleter::operator()(ESYS_CONTEXT* context) const
{
    Esys_Finalize(&context);
}

SecurityEpochStore::SecurityEpochStore(const UpdaterConfig& config)
    : SecurityEpochStore(config.tcti, config.epochNvIndex, config.epochAuthFile)
{
}

SecurityEpochStore::SecurityEpochStore(
    const std::string& tcti, std::uint32_t nvIndex, std::filesystem::path authFile)
    : tcti_(tcti)
    , nvIndex_(nvIndex)
    , authFile_(std::move(authFile))
{
    if (tcti_.empty())
        throw UpdateError("No TCTI is configured for the TPM that records the security epoch.");
    TSS2_TCTI_CONTEXT* tctiContext = nullptr;
    TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti_.c_str(), &tctiContext);
    if (rc != TSS2_RC_SUCCESS)
        throw UpdateError("Failed to open the TPM through TCTI '" + tcti_ +
            "': " + Tss2_RC_Decode(rc) + ". Check that the TPM is enabled and the TCTI is right.");
    tctiContext_.reset(tctiContext);
    ESYS_CONTEXT* esys = nullptr;
    rc = Esys_Initialize(&esys, tctiContext_.get(), nullptr);
    if (rc != TSS2_RC_SUCCESS)
        throw UpdateError(
            "Failed to start ESYS on TCTI '" + tcti_ + "': " + Tss2_RC_Decode(rc) + ".");
    esys_.reset(esys);
}

SecurityEpochStore::~SecurityEpochStore() = default;

std::uint32_t SecurityEpochStore::read()
{
    ESYS_TR index = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TR_FromTPMPublic(
        esys_.get(), nvIndex_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &index);
    if (isTpmLayer(rc) && baseCode(rc) == TPM2_RC_HANDLE)
        return 0;
    if (rc != TSS2_RC_SUCCESS)
        throw UpdateError("Failed to find the security epoch NV index " + hexIndex(nvIndex_) +
            " on TCTI '" + tcti_ + "': " + Tss2_RC_Decode(rc) + ".");

    std::vector<std::uint8_t> authValue;
    try {
        authValue = loadAuthValue();
    } catch (const UpdateError&) {
        Esys_TR_Close(esys_.get(), &index);
        throw;
    }
    setAuthValue(esys_.get(), index, authValue);
    TPM2B_MAX_NV_BUFFER* data = nullptr;
    rc = Esys_NV_Read(esys_.get(), index, index, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
        kBitsIndexSize, 0, &data);
    std::unique_ptr<TPM2B_MAX_NV_BUFFER, decltype(&Esys_Free)> owned(data, &Esys_Free);
    Esys_TR_Close(esys_.get(), &index);
    if (isTpmLayer(rc) && baseCode(rc) == TPM2_RC_NV_UNINITIALIZED)
        return 0;
    if (isAuthFailure(rc))
        throw UpdateError(authFailure("read", rc));
    if (rc != TSS2_RC_SUCCESS || !data || data->size != kBitsIndexSize)
        throw UpdateError("Failed to read the security epoch NV index " + hexIndex(nvIndex_) +
            ": " + Tss2_RC_Decode(rc) + ".");

    // The TPM returns a bits index as a big-endian UINT64.
    std::uint64_t bits = 0;
    for (std::uint16_t i = 0; i < kBitsIndexSize; ++i)
        bits = (bits << 8) | data->buffer[i];
    return static_cast<std::uint32_t>(64 - std::countl_zero(bits));
}

void SecurityEpochStore::raise(std::uint32_t epoch)
{
    if (epoch == 0 || epoch <= read())
        return;
    if (epoch > 64)
        throw UpdateError("The security epoch " + std::to_string(epoch) +
            " exceeds 64, the most the TPM records.");

    ESYS_TR index = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TR_FromTPMPublic(
        esys_.get(), nvIndex_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &index);
    std::vector<std::uint8_t> authValue;
    if (isTpmLayer(rc) && baseCode(rc) == TPM2_RC_HANDLE) {
        authValue = createAuthValue();
        TPM2B_AUTH auth{};
        auth.size = static_cast<UINT16>(authValue.size());
        std::copy(authValue.begin(), authValue.end(), auth.buffer);
        TPM2B_NV_PUBLIC publicInfo{};
        publicInfo.nvPublic.nvIndex = nvIndex_;
        publicInfo.nvPublic.nameAlg = TPM2_ALG_SHA256;
        // noDA: a power cut during an update must never count towards the
        // TPM's dictionary-attack lockout (docs/tpm.md gives the reason).
        // Without the dictionary-attack protection, guessing the 256-bit
        // authorization value is still out of reach. Reads need the value
        // too, so that a replaced index is noticed before it is trusted.
        publicInfo.nvPublic.attributes = (TPM2_NT_BITS << TPMA_NV_TPM2_NT_SHIFT) |
            TPMA_NV_AUTHWRITE | TPMA_NV_AUTHREAD | TPMA_NV_NO_DA;
        publicInfo.nvPublic.dataSize = kBitsIndexSize;
        rc = Esys_NV_DefineSpace(esys_.get(), ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
            ESYS_TR_NONE, &auth, &publicInfo, &index);
    } else if (rc == TSS2_RC_SUCCESS) {
        try {
            authValue = loadAuthValue();
        } catch (const UpdateError&) {
            Esys_TR_Close(esys_.get(), &index);
            throw;
        }
    }
    if (rc != TSS2_RC_SUCCESS)
        throw UpdateError("Failed to define the security epoch NV index " + hexIndex(nvIndex_) +
            ": " + Tss2_RC_Decode(rc) + ". The owner authorization must be empty.");

    setAuthValue(esys_.get(), index, authValue);
    rc = Esys_NV_SetBits(esys_.get(), index, index, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
        std::uint64_t{ 1 } << (epoch - 1));
    Esys_TR_Close(esys_.get(), &index);
    if (isAuthFailure(rc))
        throw UpdateError(authFailure("write", rc));
    if (rc != TSS2_RC_SUCCESS)
        throw UpdateError("Failed to record security epoch " + std::to_string(epoch) +
            " in NV index " + hexIndex(nvIndex_) + ": " + Tss2_RC_Decode(rc) + ".");
}

std::vector<std::uint8_t> SecurityEpochStore::loadAuthValue() const
{
    std::string text;
    try {
        text = fsutil::readSmallFile(authFile_, kAuthValueSize);
    } catch (const std::system_error& error) {
        throw UpdateError("The security epoch NV index " + hexIndex(nvIndex_) +
            " exists, but its authorization file '" + authFile_.string() +
            "' cannot be read: " + error.what() +
            ". If the file is lost, reset the index as docs/updates.md describes.");
    }
    if (text.size() != kAuthValueSize)
        throw UpdateError("The authorization file '" + authFile_.string() + "' holds " +
            std::to_string(text.size()) + " bytes, not " + std::to_string(kAuthValueSize) + ".");
    return { text.begin(), text.end() };
}

std::vector<std::uint8_t> SecurityEpochStore::createAuthValue() const
{
    // A file left by an index that was since deleted (a TPM clear) is used
    // again, so that a process that still reads it keeps working.
    std::error_code missing;
    if (std::filesystem::exists(authFile_, missing))
        return loadAuthValue();
    std::filesystem::create_directories(authFile_.parent_path());
    const crypto::Bytes value = crypto::randomBytes(kAuthValueSize);
    fsutil::writeFileAtomically(
        authFile_, std::span<const std::uint8_t>(value.data(), value.size()), kAuthFileMode);
    return { value.begin(), value.end() };
}

std::string SecurityEpochStore::authFailure(const std::string& action, std::uint32_t rc) const
{
    return "Failed to " + action + " the security epoch NV index " + hexIndex(nvIndex_) +
        ": it does not accept the authorization value in '" + authFile_.string() + "' (" +
        Tss2_RC_Decode(rc) +
        "). Someone with the owner authorization replaced the index, or the file is from "
        "another TPM. Reset the index as docs/updates.md describes.";
}

} // namespace meldpunt::updater
