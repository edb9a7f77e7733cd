#include "SecurityEpoch.h"

#include "Process.h"
#include "Swtpm.h"
#include "UpdateError.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

using namespace meldpunt::test;
using namespace meldpunt::updater;
using Catch::Matchers::ContainsSubstring;

namespace {
constexpr std::uint32_t kIndex = 0x01800100;
}

TEST_CASE("security epoch only rises and survives TPM restarts", "[updater]")
{
    ScratchFolder scratch("security-epoch");
    Swtpm tpm(scratch.path() / "tpm");
    tpm.start();

    SECTION("a new TPM records epoch 0")
    {
        CHECK(SecurityEpochStore(tpm.tcti(), kIndex).read() == 0);
    }
    SECTION("raising records the highest epoch and never lowers it")
    {
        SecurityEpochStore epochs(tpm.tcti(), kIndex);
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
        SecurityEpochStore(tpm.tcti(), kIndex).raise(5);
        tpm.kill();
        tpm.start();
        CHECK(SecurityEpochStore(tpm.tcti(), kIndex).read() == 5);
    }
    SECTION("an unreachable TPM is an error, not epoch 0")
    {
        tpm.stop();
        const auto open = [&] { SecurityEpochStore(tpm.tcti(), kIndex).read(); };
        CHECK_THROWS_AS(open(), UpdateError);
    }
}
