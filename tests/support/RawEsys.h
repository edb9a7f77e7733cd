#pragma once

// A direct ESAPI connection for tests that put a TPM simulator into states
// that Meldpunt itself never causes, such as dictionary-attack lockout.

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <cstring>
#include <stdexcept>
#include <string>

namespace meldpunt::test {

// A direct ESAPI connection for putting the simulator into states that the
// library never causes. swtpm serves one connection at a time, so no Tpm
// object may be open while one of these is.
class RawEsys {
public:
    explicit RawEsys(const std::string& tcti)
    {
        check(Tss2_TctiLdr_Initialize(tcti.c_str(), &tcti_), "Tss2_TctiLdr_Initialize");
        check(Esys_Initialize(&esys_, tcti_, nullptr), "Esys_Initialize");
    }
    ~RawEsys()
    {
        Esys_Finalize(&esys_);
        Tss2_TctiLdr_Finalize(&tcti_);
    }
    RawEsys(const RawEsys&) = delete;
    RawEsys& operator=(const RawEsys&) = delete;

    ESYS_CONTEXT* get() { return esys_; }

    static void check(TSS2_RC rc, const char* what)
    {
        if (rc != TSS2_RC_SUCCESS)
            throw std::runtime_error(std::string(what) + " failed: " + Tss2_RC_Decode(rc));
    }

    UINT32 property(TPM2_PT which)
    {
        TPMS_CAPABILITY_DATA* data = nullptr;
        check(Esys_GetCapability(esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                  TPM2_CAP_TPM_PROPERTIES, which, 1, nullptr, &data),
            "Esys_GetCapability");
        const UINT32 value = data->data.tpmProperties.tpmProperty[0].value;
        Esys_Free(data);
        return value;
    }

    // Counts the handles of one type (transient objects, loaded sessions)
    // that the TPM holds.
    UINT32 handleCount(TPM2_HANDLE first)
    {
        TPMS_CAPABILITY_DATA* data = nullptr;
        check(Esys_GetCapability(esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
                  first, TPM2_MAX_CAP_HANDLES, nullptr, &data),
            "Esys_GetCapability");
        const UINT32 count = data->data.handles.count;
        Esys_Free(data);
        return count;
    }

    // Creates and loads a sealed object that, unlike Meldpunt's, is subject
    // to dictionary-attack protection and opens with the password "right".
    ESYS_TR loadDaProtectedObject()
    {
        TPM2B_PUBLIC primaryTemplate{};
        primaryTemplate.publicArea.type = TPM2_ALG_ECC;
        primaryTemplate.publicArea.nameAlg = TPM2_ALG_SHA256;
        primaryTemplate.publicArea.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |
            TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
            TPMA_OBJECT_USERWITHAUTH;
        auto& ecc = primaryTemplate.publicArea.parameters.eccDetail;
        ecc.symmetric = { TPM2_ALG_AES, { 128 }, { TPM2_ALG_CFB } };
        ecc.scheme.scheme = TPM2_ALG_NULL;
        ecc.curveID = TPM2_ECC_NIST_P256;
        ecc.kdf.scheme = TPM2_ALG_NULL;
        const TPM2B_SENSITIVE_CREATE emptySensitive{};
        const TPM2B_DATA outsideInfo{};
        const TPML_PCR_SELECTION creationPcrs{};
        ESYS_TR primary = ESYS_TR_NONE;
        check(Esys_CreatePrimary(esys_, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                  ESYS_TR_NONE, &emptySensitive, &primaryTemplate, &outsideInfo, &creationPcrs,
                  &primary, nullptr, nullptr, nullptr, nullptr),
            "Esys_CreatePrimary");

        TPM2B_PUBLIC objectTemplate{};
        objectTemplate.publicArea.type = TPM2_ALG_KEYEDHASH;
        objectTemplate.publicArea.nameAlg = TPM2_ALG_SHA256;
        objectTemplate.publicArea.objectAttributes =
            TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_USERWITHAUTH;
        objectTemplate.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
        TPM2B_SENSITIVE_CREATE sensitive{};
        sensitive.sensitive.userAuth.size = 5;
        std::memcpy(sensitive.sensitive.userAuth.buffer, "right", 5);
        sensitive.sensitive.data.size = 4;
        std::memcpy(sensitive.sensitive.data.buffer, "data", 4);
        TPM2B_PRIVATE* outPrivate = nullptr;
        TPM2B_PUBLIC* outPublic = nullptr;
        check(Esys_Create(esys_, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive,
                  &objectTemplate, &outsideInfo, &creationPcrs, &outPrivate, &outPublic, nullptr,
                  nullptr, nullptr),
            "Esys_Create");
        ESYS_TR object = ESYS_TR_NONE;
        check(Esys_Load(esys_, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, outPrivate,
                  outPublic, &object),
            "Esys_Load");
        Esys_Free(outPrivate);
        Esys_Free(outPublic);
        Esys_FlushContext(esys_, primary);
        return object;
    }

    // Unseals the object with a password and returns the raw response code.
    TSS2_RC unsealWithPassword(ESYS_TR object, const char* password)
    {
        TPM2B_AUTH auth{};
        auth.size = static_cast<UINT16>(std::strlen(password));
        std::memcpy(auth.buffer, password, auth.size);
        check(Esys_TR_SetAuth(esys_, object, &auth), "Esys_TR_SetAuth");
        TPM2B_SENSITIVE_DATA* data = nullptr;
        const TSS2_RC rc =
            Esys_Unseal(esys_, object, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &data);
        Esys_Free(data);
        return rc;
    }

private:
    TSS2_TCTI_CONTEXT* tcti_ = nullptr;
    ESYS_CONTEXT* esys_ = nullptr;
};

// Strips the layer and the handle, session or parameter number from a TPM
// format-one response code.
TSS2_RC baseCode(TSS2_RC rc);

// Puts the simulator into dictionary-attack lockout: one allowed failure,
// then a wrong password on a DA-protected object. Throws
// std::runtime_error when the simulator does not lock out.
void forceLockout(const std::string& tcti);

} // namespace meldpunt::test
