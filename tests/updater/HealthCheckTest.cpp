#include "UpdaterFixture.h"

#include "Appliance.h"
#include "KeySealer.h"
#include "SecurityEpoch.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <thread>

namespace fs = std::filesystem;
using namespace meldpunt::test;
using namespace meldpunt::updater;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::Equals;

namespace {

// Installs an epoch-2 bundle into slot B and boots it once, on trial.
void bootIntoNewSlot(UpdaterBox& box)
{
    UpdaterBox::BundleOptions options;
    options.epoch = 2;
    const UpdaterBox::Result install =
        box.runUpdate({ "install", box.makeBundle("health", options).string() });
    INFO(install.output);
    REQUIRE(install.exitStatus == 0);
    REQUIRE(simulateBoot(box.esp()) == Slot::B);
    box.setBootedSlot(Slot::B);
}

std::optional<unsigned> triesLeftOfB(const UpdaterBox& box)
{
    for (const BootEntry& entry : BootEntries(box.esp()).list()) {
        if (entry.slot == Slot::B)
            return entry.triesLeft;
    }
    FAIL("slot B has no boot entry");
    return std::nullopt;
}

} // namespace

TEST_CASE("health gate marks a healthy slot good and rejects a failing one", "[updater]")
{
    UpdaterBox box("health-gate");
    Appliance appliance("health-appliance");
    appliance.startDaemon();
    appliance.startPublic();
    REQUIRE(appliance.waitForIntakeKey());
    box.setHealthSockets(appliance.staffSocket(),
        appliance.publicSocket());
    bootIntoNewSlot(box);

    SECTION("a healthy slot is marked good and survives power cuts")
    {
        const UpdaterBox::Result mark = box.runUpdate({ "mark-good" });
        INFO(mark.output);
        REQUIRE(mark.exitStatus == 0);
        CHECK_THAT(mark.output, ContainsSubstring("marked good"));
        CHECK(triesLeftOfB(box) == std::nullopt);
        CHECK(fs::exists(box.esp() / "loader" / "entries" / "meldpunt-000002-b.conf"));
        CHECK(SecurityEpochStore(box.config()).read() == 2);
        // Each boot after a power cut picks the good slot without counting.
        for (int boot = 0; boot < 5; ++boot)
            CHECK(simulateBoot(box.esp()) == Slot::B);
        CHECK(
            box.runUpdate({ "mark-good" }).output.find("already marked good") != std::string::npos);
    }
    SECTION("mark-good killed at random points never rolls back a good slot")
    {
        const fs::path entries = box.esp() / "loader" / "entries";
        const std::vector<std::string> argv = {
            (fs::path(MELDPUNT_BINARY_DIR) / "updater" / "meldpunt-update").string(), "--config",
            box.configFile().string(), "mark-good"
        };
        // One full run measures the window, and the kills spread over it
        // and a fifth more. The entry then goes back on trial.
        const auto start = std::chrono::steady_clock::now();
        REQUIRE(box.runUpdate({ "mark-good" }).exitStatus == 0);
        const auto window = std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - start);
        fs::rename(entries / "meldpunt-000002-b.conf", entries / "meldpunt-000002-b+2-1.conf");
        std::mt19937 random(20261206);
        constexpr int kRounds = 10;
        int killedOnTrial = 0;
        int killedAfterMark = 0;
        for (int round = 0; round < kRounds; ++round) {
            const auto delay = std::chrono::microseconds(
                std::uniform_int_distribution<long>(0, window.count() * 6 / 5)(random));
            Process process(argv,
                Process::Options({ "TSS2_LOG=all+none" },
                    box.root() / ("mark-" + std::to_string(round) + ".log")));
            std::this_thread::sleep_for(delay);
            process.kill();

            INFO("round " << round << ", killed after " << delay.count() << " us");
            const std::optional<unsigned> tries = triesLeftOfB(box);
            if (tries) {
                // Killed before the rename: the entry is still on trial, with
                // the tries it had.
                CHECK(*tries == 2u);
                ++killedOnTrial;
                continue;
            }
            ++killedAfterMark;
            // Marked good: power cuts after this boot slot B every time.
            for (int boot = 0; boot < 5; ++boot)
                CHECK(simulateBoot(box.esp()) == Slot::B);
            CHECK(triesLeftOfB(box) == std::nullopt);
            // A rerun completes the epoch record that the kill may have cut
            // off.
            const UpdaterBox::Result again = box.runUpdate({ "mark-good" });
            INFO(again.output);
            CHECK(again.exitStatus == 0);
            CHECK_THAT(again.output, ContainsSubstring("already marked good"));
            CHECK(SecurityEpochStore(box.config()).read() == 2);
            // Put the entry back on trial for the next round.
            fs::rename(entries / "meldpunt-000002-b.conf", entries / "meldpunt-000002-b+2-1.conf");
        }
        INFO("mark-good window " << window.count() << " us");
        CHECK(killedOnTrial >= 1);
        CHECK(killedAfterMark >= 1);
    }
    SECTION("mark-good stopped between the rename and the epoch record")
    {
        Process process({ (fs::path(MELDPUNT_BINARY_DIR) / "updater" / "meldpunt-update").string(),
                            "--config", box.configFile().string(), "mark-good" },
            Process::Options(
                { "TSS2_LOG=all+none", "MELDPUNT_FAULT_POINT=updater-after-mark-good" },
                box.root() / "mark-fault.log"));
        const auto status = process.wait(std::chrono::seconds(60));
        INFO(process.log());
        REQUIRE(status);
        REQUIRE(WIFEXITED(*status));
        REQUIRE(WEXITSTATUS(*status) == 86);
        CHECK(triesLeftOfB(box) == std::nullopt);
        CHECK(SecurityEpochStore(box.config()).read() == 0);
        CHECK(simulateBoot(box.esp()) == Slot::B);
        const UpdaterBox::Result again = box.runUpdate({ "mark-good" });
        INFO(again.output);
        CHECK(again.exitStatus == 0);
        CHECK(SecurityEpochStore(box.config()).read() == 2);
    }
    SECTION("a slot whose meldpuntd is not ready stays on trial and falls back")
    {
        appliance.stopDaemon();
        const UpdaterBox::Result mark = box.runUpdate({ "mark-good" });
        INFO(mark.output);
        CHECK(mark.exitStatus == 1);
        CHECK_THAT(mark.output, ContainsSubstring("meldpuntd"));
        CHECK_THAT(mark.output, ContainsSubstring("is not ready"));
        CHECK(triesLeftOfB(box) == 2u);
        CHECK(SecurityEpochStore(box.config()).read() == 0);
        CHECK(simulateBoot(box.esp()) == Slot::B);
        CHECK(simulateBoot(box.esp()) == Slot::B);
        CHECK(simulateBoot(box.esp()) == Slot::A);
    }
    SECTION("a slot whose meldpuntd cannot open its database stays on trial")
    {
        // A changed PCR 7 stops the TPM from releasing the database key:
        // meldpuntd runs and responds to /healthz, but stays locked.
        appliance.stopDaemon();
        meldpunt::tpm::Tpm(appliance.tpm().tcti()).extendPcr(7, "a changed boot");
        appliance.startDaemon();
        REQUIRE(appliance.waitForNotification("STATUS=Locked: PCR mismatch"));
        const UpdaterBox::Result mark = box.runUpdate({ "mark-good" });
        INFO(mark.output);
        CHECK(mark.exitStatus == 1);
        CHECK_THAT(mark.output, ContainsSubstring("meldpuntd has not opened its database"));
        CHECK_THAT(mark.output, ContainsSubstring("HTTP status 503"));
        CHECK_THAT(mark.output, !ContainsSubstring("is not ready"));
        CHECK(triesLeftOfB(box) == 2u);
        CHECK(SecurityEpochStore(box.config()).read() == 0);
    }
    SECTION("a slot whose public form does not answer stays on trial")
    {
        appliance.stopPublic();
        const UpdaterBox::Result mark = box.runUpdate({ "mark-good" });
        INFO(mark.output);
        CHECK(mark.exitStatus == 1);
        CHECK_THAT(mark.output, ContainsSubstring("does not serve the report form"));
        CHECK(triesLeftOfB(box) == 2u);
    }
    SECTION("a box without any network is healthy")
    {
        if (::geteuid() != 0)
            SKIP("a network namespace without interfaces needs root");
        // unshare --net gives the check a network namespace whose only
        // interface, loopback, is down: as if the cable were unplugged.
        std::vector<std::string> argv = { "unshare", "--net",
            (fs::path(MELDPUNT_BINARY_DIR) / "updater" / "meldpunt-update").string(), "--config",
            box.configFile().string(), "health" };
        Process process(argv, Process::Options({}, box.root() / "health-offline.log"));
        const auto status = process.wait(std::chrono::seconds(60));
        INFO(process.log());
        REQUIRE(status);
        CHECK(WEXITSTATUS(*status) == 0);
        // The output is exactly the verdict: "unhealthy" or any failure
        // line on standard error must not pass.
        CHECK_THAT(process.log(), Equals("healthy\n"));
    }
}
