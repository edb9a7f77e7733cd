#include "SecurityEpoch.h"

#include "Process.h"
#include "RawEsys.h"
#include "Swtpm.h"
#include "UpdateError.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <fstream>

namespace fs = std::filesystem;
using namespace meldpunt::test;
using namespace meldpunt::updater;
using Catch::Matchers::ContainsSubstring;

namespace {

constexpr std::uint32_t kIndex = 0x01800100;

// Sets bits in the index the way a process without the updater's
// authorization file would try: with the empty password. Returns the
// TPM's response code.
TSS2_RC setBitsWithoutSecret(const std::string& tcti, std::uint64_t bits)
{
    RawEsys esys(tcti);
    ESYS_TR index = ESYS_TR_NONE;
    RawEsys::check(
        Esys_TR_FromTPMPublic(esys.get(), kIndex, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &index),
        "Esys_TR_FromTPMPublic");
    const TSS2_RC rc = Esys_NV_SetBits(
        esys.get(), index, index, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, bits);
    Esys_TR_Close(esys.get(), &index);
    return rc;
}

// Deletes the index with the empty owner authorization and defines it
// again with an empty authorization value and every bit set: what a
// process in the group tss can still do.
void replaceIndex(const std::string& tcti)
{
    RawEsys esys(tcti);
    ESYS_TR index = ESYS_TR_NONE;
    RawEsys::check(
        Esys_TR_FromTPMPublic(esys.get(), kIndex, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &index),
        "Esys_TR_FromTPMPublic");
    RawEsys::check(Esys_NV_UndefineSpace(esys.get(), ESYS_TR_RH_OWNER, index, ESYS_TR_PASSWORD,
                       ESYS_TR_NONE, ESYS_TR_NONE),
        "Esys_NV_UndefineSpace");
    TPM2B_AUTH noAuth{};
    TPM2B_NV_PUBLIC publicInfo{};
    publicInfo.nvPublic.nvIndex = kIndex;
    publicInfo.nvPublic.nameAlg = TPM2_ALG_SHA256;
    publicInfo.nvPublic.attributes = (TPM2_NT_BITS << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_AUTHWRITE |
        TPMA_NV_AUTHREAD | TPMA_NV_NO_DA;
    publicInfo.nvPublic.dataSize = 8;
    RawEsys::check(Esys_NV_DefineSpace(esys.get(), ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                       ESYS_TR_NONE, &noAuth, &publicInfo, &index),
        "Esys_NV_DefineSpace");
    RawEsys::check(Esys_NV_SetBits(esys.get(), index, index, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                       ESYS_TR_NONE, ~std::uint64_t{ 0 }),
        "Esys_NV_SetBits");
    Esys_TR_Close(esys.get(), &index);
}

} // namespace

TEST_CASE("security epoch only rises and survives TPM restarts", "[updater]")
{
    ScratchFolder scratch("security-epoch");
    Swtpm tpm(scratch.path() / "tpm");
    tpm.start();
    const fs::path authFile = scratch.path() / "state" / "epoch-nv-auth";

    SECTION("a new TPM records epoch 0")
    {
        CHECK(SecurityEpochStore(tpm.tcti(), kIndex, authFile).read() == 0);
        CHECK(!fs::exists(authFile));
    }
    SECTION("raising records the highest epoch and never lowers it")
    {
        SecurityEpochStore epochs(tpm.tcti(), kIndex, authFile);
        epochs.raise(3);
        CHECK(epochs.read() == 3);
        epochs.raise(1);
        CHECK(epochs.read() == 3);
        epochs.raise(64);
        CHECK(epochs.read() == 64);
        CHECK_THROWS_WITH(epochs.raise(65), ContainsSubstring("exceeds 64"));
    }
    SECTION("the epoch survives a power cut of the TPM")
    {
        SecurityEpochStore(tpm.tcti(), kIndex, authFile).raise(5);
        tpm.kill();
        tpm.start();
        CHECK(SecurityEpochStore(tpm.tcti(), kIndex, authFile).read() == 5);
    }
    SECTION("an unreachable TPM is an error, not epoch 0")
    {
        tpm.stop();
        const auto open = [&] { SecurityEpochStore(tpm.tcti(), kIndex, authFile).read(); };
        CHECK_THROWS_AS(open(), UpdateError);
    }
}

TEST_CASE("security epoch needs the updater's secret", "[updater]")
{
    ScratchFolder scratch("security-epoch-auth");
    Swtpm tpm(scratch.path() / "tpm");
    tpm.start();
    const fs::path authFile = scratch.path() / "state" / "epoch-nv-auth";
    SecurityEpochStore(tpm.tcti(), kIndex, authFile).raise(3);

    SECTION("the secret is 32 bytes readable by its owner alone")
    {
        REQUIRE(fs::exists(authFile));
        CHECK(fs::file_size(authFile) == 32);
        CHECK((fs::status(authFile).permissions() & fs::perms::all) == fs::perms(0600));
    }
    SECTION("a process without the secret cannot raise the epoch")
    {
        const TSS2_RC rc = setBitsWithoutSecret(tpm.tcti(), std::uint64_t{ 1 } << 63);
        INFO(Tss2_RC_Decode(rc));
        CHECK(rc != TSS2_RC_SUCCESS);
        CHECK(SecurityEpochStore(tpm.tcti(), kIndex, authFile).read() == 3);
    }
    SECTION("another secret can neither read nor raise the epoch")
    {
        const fs::path otherFile = scratch.path() / "other-auth";
        std::ofstream(otherFile, std::ios::binary) << std::string(32, 'x');
        SecurityEpochStore other(tpm.tcti(), kIndex, otherFile);
        CHECK_THROWS_WITH(
            other.read(), ContainsSubstring("does not accept the authorization value"));
        CHECK_THROWS_WITH(
            other.raise(9), ContainsSubstring("does not accept the authorization value"));
        CHECK(SecurityEpochStore(tpm.tcti(), kIndex, authFile).read() == 3);
    }
    SECTION("a lost secret is reported, not read as epoch 0")
    {
        fs::remove(authFile);
        CHECK_THROWS_WITH(SecurityEpochStore(tpm.tcti(), kIndex, authFile).read(),
            ContainsSubstring("cannot be read"));
    }
    SECTION("an index replaced through the owner hierarchy is reported")
    {
        replaceIndex(tpm.tcti());
        SecurityEpochStore epochs(tpm.tcti(), kIndex, authFile);
        CHECK_THROWS_WITH(epochs.read(), ContainsSubstring("replaced the index"));
        CHECK_THROWS_WITH(epochs.raise(4), ContainsSubstring("replaced the index"));
    }
}
