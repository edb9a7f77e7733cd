#include "KeySealer.h"
#include "Process.h"
#include "Swtpm.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

using Catch::Matchers::ContainsSubstring;
using meldpunt::SecretBytes;
using meldpunt::test::ScratchFolder;
using meldpunt::test::Swtpm;
using meldpunt::tpm::PcrSelection;
using meldpunt::tpm::SealedKey;
using meldpunt::tpm::Tpm;
using meldpunt::tpm::TpmError;
using meldpunt::tpm::TpmFailure;

namespace {

// A running swtpm with its state in a fresh scratch folder.
struct SimulatedTpm {
    ScratchFolder folder{ "tpm" };
    Swtpm swtpm{ folder.path() / "state" };

    SimulatedTpm() { swtpm.start(); }
};

std::vector<std::uint8_t> bytesOf(const SecretBytes& secret)
{
    return { secret.data(), secret.data() + secret.size() };
}

// Runs an operation and returns the TpmError it throws, failing the test
// when it throws nothing.
TpmError errorOf(const std::function<void()>& operation)
{
    try {
        operation();
    } catch (const TpmError& error) {
        return error;
    }
    FAIL("the operation did not throw TpmError");
    throw std::logic_error("unreachable");
}

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
TSS2_RC baseCode(TSS2_RC rc)
{
    const TSS2_RC code = rc & 0xFFFF;
    return (code & TPM2_RC_FMT1) != 0 ? (code & (TPM2_RC_FMT1 | 0x3F)) : code;
}

// Puts the simulator into dictionary-attack lockout: one allowed failure,
// then a wrong password on a DA-protected object.
void forceLockout(const std::string& tcti)
{
    RawEsys esys(tcti);
    RawEsys::check(Esys_DictionaryAttackParameters(esys.get(), ESYS_TR_RH_LOCKOUT, ESYS_TR_PASSWORD,
                       ESYS_TR_NONE, ESYS_TR_NONE, 1, 1000, 1000),
        "Esys_DictionaryAttackParameters");
    const ESYS_TR object = esys.loadDaProtectedObject();
    REQUIRE(baseCode(esys.unsealWithPassword(object, "wrong")) == TPM2_RC_AUTH_FAIL);
    CHECK(baseCode(esys.unsealWithPassword(object, "right")) == TPM2_RC_LOCKOUT);
    Esys_FlushContext(esys.get(), object);
}

} // namespace

TEST_CASE("Tpm seals and unseals keys", "[tpm]")
{
    SimulatedTpm simulated;
    const SecretBytes key = SecretBytes::random(32);
    const auto selection = PcrSelection::parse("sha256:7");

    SECTION("unseal returns the sealed 32 bytes")
    {
        Tpm tpm(simulated.swtpm.tcti());
        const SealedKey sealed = tpm.seal(key.span(), selection);
        CHECK(sealed.pcrs == selection);
        CHECK_FALSE(sealed.publicArea.empty());
        CHECK_FALSE(sealed.privateArea.empty());
        const SecretBytes unsealed = tpm.unseal(sealed);
        CHECK(bytesOf(unsealed) == bytesOf(key));
    }

    SECTION("a new Tpm after an swtpm restart unseals the key")
    {
        SealedKey sealed = Tpm(simulated.swtpm.tcti()).seal(key.span(), selection);
        simulated.swtpm.stop();
        simulated.swtpm.start();
        Tpm tpm(simulated.swtpm.tcti());
        CHECK(bytesOf(tpm.unseal(sealed)) == bytesOf(key));
    }

    SECTION("a selection of more than eight PCRs unseals")
    {
        // TPM2_PCR_Read returns at most eight values per call, so this
        // selection takes two reads.
        const auto wide = PcrSelection::parse("sha256:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15");
        Tpm tpm(simulated.swtpm.tcti());
        tpm.extendPcr(12, "measured before sealing");
        const SealedKey sealed = tpm.seal(key.span(), wide);
        CHECK(bytesOf(tpm.unseal(sealed)) == bytesOf(key));
        tpm.extendPcr(12, "measured after sealing");
        CHECK(errorOf([&] { tpm.unseal(sealed); }).failure() == TpmFailure::PcrMismatch);
    }

    SECTION("the SHA-1 bank seals and unseals")
    {
        Tpm tpm(simulated.swtpm.tcti());
        const SealedKey sealed = tpm.seal(key.span(), PcrSelection::parse("sha1:7"));
        CHECK(bytesOf(tpm.unseal(sealed)) == bytesOf(key));
    }

    SECTION("seal and unseal leave no object or session in the TPM")
    {
        {
            Tpm tpm(simulated.swtpm.tcti());
            const SealedKey sealed = tpm.seal(key.span(), selection);
            tpm.unseal(sealed);
            tpm.extendPcr(7, "change");
            CHECK_THROWS_AS(tpm.unseal(sealed), TpmError);
        }
        RawEsys esys(simulated.swtpm.tcti());
        CHECK(esys.handleCount(TPM2_TRANSIENT_FIRST) == 0);
        CHECK(esys.handleCount(TPM2_LOADED_SESSION_FIRST) == 0);
    }

    SECTION("secrets of 1 and 128 bytes seal, empty and 129 bytes do not")
    {
        Tpm tpm(simulated.swtpm.tcti());
        const std::vector<std::uint8_t> one(1, 0x5A);
        const std::vector<std::uint8_t> largest(128, 0xA5);
        CHECK(bytesOf(tpm.unseal(tpm.seal(one, selection))) == one);
        CHECK(bytesOf(tpm.unseal(tpm.seal(largest, selection))) == largest);
        CHECK_THROWS_AS(tpm.seal({}, selection), std::invalid_argument);
        CHECK_THROWS_AS(tpm.seal(std::vector<std::uint8_t>(129), selection), std::invalid_argument);
        CHECK_THROWS_AS(tpm.seal(key.span(), PcrSelection{}), std::invalid_argument);
    }
}

TEST_CASE("Tpm reports why unseal fails", "[tpm]")
{
    SimulatedTpm simulated;
    const SecretBytes key = SecretBytes::random(32);
    const auto selection = PcrSelection::parse("sha256:7");

    SECTION("extending a selected PCR gives PcrMismatch")
    {
        Tpm tpm(simulated.swtpm.tcti());
        const SealedKey sealed = tpm.seal(key.span(), selection);
        tpm.extendPcr(7, "new Secure Boot certificate");
        const TpmError error = errorOf([&] { tpm.unseal(sealed); });
        CHECK(error.failure() == TpmFailure::PcrMismatch);
        CHECK_THAT(error.what(), ContainsSubstring(simulated.swtpm.tcti()));
        CHECK_THAT(error.what(), ContainsSubstring("policy check failed"));
    }

    SECTION("extending a PCR outside the selection does not matter")
    {
        Tpm tpm(simulated.swtpm.tcti());
        const SealedKey sealed = tpm.seal(key.span(), selection);
        tpm.extendPcr(8, "unrelated measurement");
        tpm.extendPcr(16, "debug PCR");
        CHECK(bytesOf(tpm.unseal(sealed)) == bytesOf(key));
    }

    SECTION("a wiped swtpm state gives SealedKeyRejected")
    {
        const SealedKey sealed = Tpm(simulated.swtpm.tcti()).seal(key.span(), selection);
        simulated.swtpm.stop();
        std::filesystem::remove_all(simulated.swtpm.stateDir());
        simulated.swtpm.start();
        Tpm tpm(simulated.swtpm.tcti());
        const TpmError error = errorOf([&] { tpm.unseal(sealed); });
        CHECK(error.failure() == TpmFailure::SealedKeyRejected);
        CHECK_THAT(error.what(), ContainsSubstring("TPM2_Load"));
    }

    SECTION("a closed port gives Unreachable naming the TCTI")
    {
        simulated.swtpm.stop();
        const std::string tcti = simulated.swtpm.tcti();
        const TpmError error = errorOf([&] { Tpm tpm(tcti); });
        CHECK(error.failure() == TpmFailure::Unreachable);
        CHECK_THAT(error.what(), ContainsSubstring(tcti));
    }

    SECTION("an swtpm killed during use gives Unreachable")
    {
        Tpm tpm(simulated.swtpm.tcti());
        const SealedKey sealed = tpm.seal(key.span(), selection);
        simulated.swtpm.kill();
        const TpmError error = errorOf([&] { tpm.unseal(sealed); });
        CHECK(error.failure() == TpmFailure::Unreachable);
        CHECK_THAT(error.what(), ContainsSubstring(simulated.swtpm.tcti()));
    }

    SECTION("an unknown TCTI gives Unreachable naming it")
    {
        const TpmError error = errorOf([] { Tpm tpm("device:/nonexistent/tpmrm0"); });
        CHECK(error.failure() == TpmFailure::Unreachable);
        CHECK_THAT(error.what(), ContainsSubstring("device:/nonexistent/tpmrm0"));
    }

    SECTION("every flipped byte of the private area is rejected")
    {
        Tpm tpm(simulated.swtpm.tcti());
        const SealedKey sealed = tpm.seal(key.span(), selection);
        for (std::size_t i = 0; i < sealed.privateArea.size(); ++i) {
            SealedKey damaged = sealed;
            damaged.privateArea[i] ^= 0x01;
            INFO("flipped private byte " << i);
            CHECK(errorOf([&] { tpm.unseal(damaged); }).failure() == TpmFailure::SealedKeyRejected);
        }
        CHECK(bytesOf(tpm.unseal(sealed)) == bytesOf(key));
    }

    SECTION("every flipped byte of the public area is rejected")
    {
        Tpm tpm(simulated.swtpm.tcti());
        const SealedKey sealed = tpm.seal(key.span(), selection);
        for (std::size_t i = 0; i < sealed.publicArea.size(); ++i) {
            SealedKey damaged = sealed;
            damaged.publicArea[i] ^= 0x01;
            INFO("flipped public byte " << i);
            CHECK(errorOf([&] { tpm.unseal(damaged); }).failure() == TpmFailure::SealedKeyRejected);
        }
        CHECK(bytesOf(tpm.unseal(sealed)) == bytesOf(key));
    }

    SECTION("a truncated blob is rejected")
    {
        Tpm tpm(simulated.swtpm.tcti());
        SealedKey damaged = tpm.seal(key.span(), selection);
        damaged.privateArea.pop_back();
        CHECK(errorOf([&] { tpm.unseal(damaged); }).failure() == TpmFailure::SealedKeyRejected);
    }

    SECTION("a changed PCR selection in the file gives PcrMismatch")
    {
        Tpm tpm(simulated.swtpm.tcti());
        SealedKey sealed = tpm.seal(key.span(), selection);
        sealed.pcrs = PcrSelection::parse("sha256:7,8");
        CHECK(errorOf([&] { tpm.unseal(sealed); }).failure() == TpmFailure::PcrMismatch);
    }
}

TEST_CASE("Tpm noDA key survives lockout", "[tpm]")
{
    SimulatedTpm simulated;
    const SecretBytes key = SecretBytes::random(32);
    const SealedKey sealed =
        Tpm(simulated.swtpm.tcti()).seal(key.span(), PcrSelection::parse("sha256:7"));

    SECTION("inLockout sees the lockout and the key still unseals")
    {
        CHECK_FALSE(Tpm(simulated.swtpm.tcti()).inLockout());
        forceLockout(simulated.swtpm.tcti());
        Tpm tpm(simulated.swtpm.tcti());
        CHECK(tpm.inLockout());
        CHECK(bytesOf(tpm.unseal(sealed)) == bytesOf(key));
        const SealedKey resealed = tpm.seal(key.span(), PcrSelection::parse("sha256:0,2,7"));
        CHECK(bytesOf(tpm.unseal(resealed)) == bytesOf(key));
    }

    SECTION("a kill after a DA-protected use raises the lockout counter")
    {
        // This shows that the simulator does count unorderly shutdowns, so
        // the section below would notice if Meldpunt's objects were not noDA.
        {
            RawEsys esys(simulated.swtpm.tcti());
            const ESYS_TR object = esys.loadDaProtectedObject();
            REQUIRE(esys.unsealWithPassword(object, "right") == TSS2_RC_SUCCESS);
            Esys_FlushContext(esys.get(), object);
        }
        simulated.swtpm.kill();
        simulated.swtpm.start();
        RawEsys esys(simulated.swtpm.tcti());
        CHECK(esys.property(TPM2_PT_LOCKOUT_COUNTER) == 1);
    }

    SECTION("30 kills of swtpm between unseals cause no lockout")
    {
        // The simulator counts an unorderly shutdown as a failed
        // authorization when a DA-protected object was used since startup,
        // as the section above shows. Meldpunt's objects are all noDA, so
        // the counter must stay at 0.
        for (int round = 0; round < 30; ++round) {
            INFO("round " << round);
            {
                Tpm tpm(simulated.swtpm.tcti());
                REQUIRE_FALSE(tpm.inLockout());
                REQUIRE(bytesOf(tpm.unseal(sealed)) == bytesOf(key));
            }
            simulated.swtpm.kill();
            simulated.swtpm.start();
        }
        RawEsys esys(simulated.swtpm.tcti());
        CHECK(esys.property(TPM2_PT_LOCKOUT_COUNTER) == 0);
        CHECK((esys.property(TPM2_PT_PERMANENT) & TPMA_PERMANENT_INLOCKOUT) == 0);
    }
}

TEST_CASE("Tpm seals only to active banks", "[tpm]")
{
    ScratchFolder folder("tpm-banks");
    Swtpm swtpm(folder.path() / "state");
    const SecretBytes key = SecretBytes::random(32);

    SECTION("a TPM with SHA-1 and SHA-256 banks seals to either")
    {
        swtpm.allocatePcrBanks("sha1,sha256");
        swtpm.start();
        Tpm tpm(swtpm.tcti());
        for (const char* text : { "sha1:0,2,7", "sha256:0,2,7" }) {
            INFO(text);
            const SealedKey sealed = tpm.seal(key.span(), PcrSelection::parse(text));
            CHECK(bytesOf(tpm.unseal(sealed)) == bytesOf(key));
        }
    }

    SECTION("a TPM with only the SHA-256 bank rejects a SHA-1 selection")
    {
        swtpm.allocatePcrBanks("sha256");
        swtpm.start();
        Tpm tpm(swtpm.tcti());
        const TpmError error =
            errorOf([&] { tpm.seal(key.span(), PcrSelection::parse("sha1:7")); });
        CHECK(error.failure() == TpmFailure::Other);
        CHECK_THAT(error.what(), ContainsSubstring("sha1 PCRs, so that bank is not active"));
    }
}

TEST_CASE("describe names each TPM failure", "[tpm]")
{
    CHECK(describe(TpmFailure::Unreachable) == "TPM not reachable");
    CHECK(describe(TpmFailure::PcrMismatch) == "PCR mismatch");
    CHECK(describe(TpmFailure::Lockout) == "TPM in dictionary-attack lockout");
    CHECK(describe(TpmFailure::SealedKeyRejected) == "sealed key rejected by the TPM");
    CHECK(describe(TpmFailure::Other) == "TPM error");
}
