// Both daemons as systemd sees them: readiness, watchdog pings that depend
// on their own sockets answering, and restarts after kill -9.

#include "Appliance.h"
#include "Reports.h"

#include <catch2/catch_test_macros.hpp>

using namespace meldpunt::test;
namespace fs = std::filesystem;

TEST_CASE("meldpuntd reports readiness and feeds the watchdog", "[core]")
{
    Appliance appliance("lifecycle");
    appliance.startAll();
    CHECK(appliance.waitForNotification("READY=1"));
    CHECK(appliance.waitForNotification("WATCHDOG=1"));
    appliance.stopDaemon();
    CHECK(appliance.waitForNotification("STOPPING=1"));
}

TEST_CASE("Sockets survive a kill -9 restart", "[core]")
{
    Appliance appliance("kill-restart");
    appliance.startAll();
    appliance.killPublic();
    appliance.killDaemon();
    CHECK(fs::exists(appliance.publicSocket()));
    CHECK(fs::exists(appliance.staffSocket()));

    appliance.startDaemon();
    appliance.startPublic();
    REQUIRE(appliance.waitForIntakeKey());
    CHECK(appliance.publicClient().get("/en/").status == 200);
    CHECK(appliance.staffClient().get("/").status == 200);
    CHECK(appliance.publicClient().post("/en/report", formBody(validReport("after kill -9"))).status == 200);
    CHECK(appliance.waitForEmptySpool());
}
