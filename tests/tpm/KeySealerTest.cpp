#include "KeySealer.h"
#include "Process.h"
#include "RawEsys.h"
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
using meldpunt::test::RawEsys;
using meldpunt::test::ScratchFolder;
using meldpunt::test::baseCode;
using meldpunt::test::forceLockout;
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
