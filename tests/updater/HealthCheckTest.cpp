#include "UpdaterFixture.h"

#include "Appliance.h"
#include "SecurityEpoch.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <unistd.h>

namespace fs = std::filesystem;
using namespace meldpunt::test;
using namespace meldpunt::updater;
using Catch::Matchers::ContainsSubstring;

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
    box.setHealthSockets(appliance.root() / "sockets/staff/meldpuntd.sock",
        appliance.root() / "sockets/public/public.sock");
    bootIntoNewSlot(box);

    SECTION("a healthy slot is marked good and survives power cuts")
    {
        const UpdaterBox::Result mark = box.runUpdate({ "mark-good" });
        INFO(mark.output);
        REQUIRE(mark.exitStatus == 0);
        CHECK_THAT(mark.output, ContainsSubstring("marked good"));
        CHECK(triesLeftOfB(box) == std::nullopt);
        CHECK(fs::exists(box.esp() / "loader" / "entries" / "meldpunt-000002-b.conf"));
        CHECK(SecurityEpochStore(box.tpm().tcti(), box.config().epochNvIndex).read() == 2);
        // Each boot after a power cut picks the good slot without counting.
        for (int boot = 0; boot < 5; ++boot)
            CHECK(simulateBoot(box.esp()) == Slot::B);
        CHECK(
            box.runUpdate({ "mark-good" }).output.find("already marked good") != std::string::npos);
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
        CHECK(SecurityEpochStore(box.tpm().tcti(), box.config().epochNvIndex).read() == 0);
        CHECK(simulateBoot(box.esp()) == Slot::B);
        CHECK(simulateBoot(box.esp()) == Slot::B);
        CHECK(simulateBoot(box.esp()) == Slot::A);
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
        CHECK_THAT(process.log(), ContainsSubstring("healthy"));
    }
}
