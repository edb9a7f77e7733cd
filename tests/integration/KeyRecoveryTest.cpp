// The recovery key unlocks the box when the TPM will not release the data
// key (a changed boot, a cleared TPM, a new board). The data key is then
// sealed again, so the next start no longer needs the recovery key.

#include "Appliance.h"
#include "KeySealer.h"
#include "RawEsys.h"
#include "RecoveryKey.h"
#include "Reports.h"
#include "StoredReports.h"

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <random>
#include <thread>

using namespace meldpunt::test;
namespace fs = std::filesystem;

namespace {

// Sets up a box with a recovery key, stores one report and stops
// meldpuntd. Returns the recovery key.
std::string setUpWithOneReport(Appliance& appliance)
{
    const std::string recoveryKey = appliance.initializeKeys();
    appliance.startAll();
    REQUIRE(appliance.publicClient().post("/en/report", formBody(validReport("before the change"))).status == 200);
    REQUIRE(appliance.waitForEmptySpool());
    appliance.stopDaemon();
    return recoveryKey;
}

HttpResponse postRecoveryKey(Appliance& appliance, const std::string& key)
{
    return appliance.staffClient().post("/recovery", formBody({{"recovery_key", key}}));
}

bool hasEvent(const std::vector<std::string>& events, const std::string& event)
{
    return std::find(events.begin(), events.end(), event) != events.end();
}

} // namespace

TEST_CASE("Init shows a recovery key once", "[keys]")
{
    Appliance appliance("keys-init");
    const std::string recoveryKey = appliance.initializeKeys();
    CHECK(recoveryKey.size() == 47);
    CHECK_NOTHROW(meldpunt::keys::RecoveryKey::parse(recoveryKey));
    for (const char* file : {"meldpunt.db", "sealed-key.json", "recovery-public.json", "recovery-wrap.json"})
        CHECK(fs::exists(appliance.stateFolder() / file));

    // No file on the box contains the recovery key, in any form typed.
    std::string compact = recoveryKey;
    std::erase(compact, '-');
    for (const auto& item : fs::recursive_directory_iterator(appliance.root())) {
        if (!item.is_regular_file() || item.path().filename() == "keys-tool.output")
            continue;
        const std::string bytes = readFile(item.path());
        CHECK(bytes.find(recoveryKey) == std::string::npos);
        CHECK(bytes.find(compact) == std::string::npos);
    }

    SECTION("a second init changes nothing")
    {
        const std::string sealedBefore = readFile(appliance.sealedKeyFile());
        const auto again = appliance.runKeysTool("init");
        CHECK(again.exitStatus == 1);
        CHECK(again.output.find("already exists") != std::string::npos);
        CHECK(readFile(appliance.sealedKeyFile()) == sealedBefore);
    }
    SECTION("meldpuntd opens the database it made")
    {
        appliance.startAll();
        CHECK(appliance.waitForNotification("STATUS=Database open"));
        CHECK(appliance.daemonLog().find("No recovery key is set up") == std::string::npos);
        CHECK(hasEvent(readKeyEvents(appliance.stateFolder(), appliance.tpm().tcti()), "created"));
    }
}

TEST_CASE("Recovery key unlocks after a PCR change", "[keys]")
{
    Appliance appliance("recovery-pcr");
    const std::string recoveryKey = setUpWithOneReport(appliance);
    meldpunt::tpm::Tpm(appliance.tpm().tcti()).extendPcr(7, "a firmware update");
    appliance.startDaemon();
    REQUIRE(appliance.waitForNotification("STATUS=Locked: PCR mismatch"));

    // Reports keep arriving in the spool while the box is locked.
    REQUIRE(appliance.publicClient().post("/en/report", formBody(validReport("while locked"))).status == 200);
    const auto page = appliance.staffClient().get("/");
    CHECK(page.status == 503);
    CHECK(page.body.find("name=\"recovery_key\"") != std::string::npos);

    const auto unlocked = postRecoveryKey(appliance, recoveryKey);
    CHECK(unlocked.status == 303);
    REQUIRE(appliance.waitForNotification("STATUS=Database open"));
    REQUIRE(appliance.waitForEmptySpool());
    CHECK(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()).size() == 2);
    CHECK(hasEvent(readKeyEvents(appliance.stateFolder(), appliance.tpm().tcti()), "recovered"));
    CHECK(appliance.daemonLog().find(recoveryKey) == std::string::npos);

    SECTION("the next start unseals without the recovery key")
    {
        appliance.stopDaemon();
        appliance.startDaemon();
        CHECK(appliance.waitForNotification("STATUS=Database open"));
    }
}

TEST_CASE("Recovery after the TPM was cleared", "[keys]")
{
    Appliance appliance("recovery-cleared");
    const std::string recoveryKey = setUpWithOneReport(appliance);
    appliance.tpm().stop();
    for (const auto& item : fs::directory_iterator(appliance.tpm().stateDir()))
        fs::remove_all(item.path());
    appliance.tpm().start();

    appliance.startDaemon();
    REQUIRE(appliance.waitForNotification("STATUS=Locked: sealed key rejected by the TPM"));

    SECTION("with the command on the console, pasted over two lines")
    {
        const auto typo = appliance.runKeysTool("recover", "00000-00000\n");
        CHECK(typo.exitStatus == 1);
        const auto recovered = appliance.runKeysTool("recover",
            recoveryKey.substr(0, 23) + "\n" + recoveryKey.substr(24) + "\n");
        CAPTURE(recovered.output);
        REQUIRE(recovered.exitStatus == 0);
        // The locked daemon tries the TPM again by itself.
        REQUIRE(appliance.waitForNotification("STATUS=Database open"));
        CHECK(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()).size() == 1);
    }
    SECTION("with the recovery page")
    {
        CHECK(postRecoveryKey(appliance, recoveryKey).status == 303);
        REQUIRE(appliance.waitForNotification("STATUS=Database open"));
    }
}

TEST_CASE("Wrong recovery keys are rate limited", "[keys]")
{
    Appliance appliance("recovery-wrong");
    const std::string recoveryKey = setUpWithOneReport(appliance);
    meldpunt::tpm::Tpm(appliance.tpm().tcti()).extendPcr(7, "a changed boot");
    appliance.startDaemon();
    REQUIRE(appliance.waitForNotification("STATUS=Locked: PCR mismatch"));
    const std::string sealedBefore = readFile(appliance.sealedKeyFile());

    const std::string otherKey = meldpunt::keys::RecoveryKey::generate().toString();
    const auto wrong = postRecoveryKey(appliance, otherKey);
    CHECK(wrong.status == 403);
    CHECK(wrong.header("retry-after") == "1");
    CHECK(wrong.body.find("does not unlock this box") != std::string::npos);

    // A second key right away is not even tried, and wrong keys change
    // nothing on disk.
    const auto tooSoon = postRecoveryKey(appliance, recoveryKey);
    CHECK(tooSoon.status == 429);
    CHECK(readFile(appliance.sealedKeyFile()) == sealedBefore);

    // The wait doubles with each wrong key.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    CHECK(postRecoveryKey(appliance, otherKey).header("retry-after") == "2");

    SECTION("another staff client is not held up by these failures")
    {
        std::this_thread::sleep_for(std::chrono::milliseconds(1100));
        const auto other = appliance.staffClient("127.0.0.2").post("/recovery", formBody({{"recovery_key", recoveryKey}}));
        CHECK(other.status == 303);
    }
    SECTION("a form posted from another site is not tried")
    {
        std::this_thread::sleep_for(std::chrono::milliseconds(4100));
        const auto page = appliance.staffClient().post("/recovery", formBody({{"recovery_key", recoveryKey}}),
            {"Sec-Fetch-Site: cross-site"});
        CHECK(page.status == 403);
        CHECK(appliance.waitForNotification("STATUS=Locked"));
    }
    SECTION("a typo is named by its group and costs no wait")
    {
        std::string typo = recoveryKey;
        typo[7] = typo[7] == 'A' ? 'B' : 'A';
        // A typo is reported at once, even while a wait runs.
        const auto page = postRecoveryKey(appliance, typo);
        CHECK(page.status == 400);
        CHECK(page.body.find("group 2") != std::string::npos);
        std::this_thread::sleep_for(std::chrono::milliseconds(2100));
        CHECK(postRecoveryKey(appliance, recoveryKey).status == 303);
    }
    CHECK(appliance.daemonLog().find(otherKey) == std::string::npos);
}

TEST_CASE("Concurrent unlocks open the database once", "[keys]")
{
    Appliance appliance("recovery-race");
    const std::string recoveryKey = setUpWithOneReport(appliance);
    meldpunt::tpm::Tpm(appliance.tpm().tcti()).extendPcr(7, "a changed boot");
    // The pause keeps the recovery inside its open. Meanwhile the retry
    // thread (every second in tests) unseals the key that the recovery
    // sealed again, and tries to open the database too.
    appliance.startDaemon({"MELDPUNT_PAUSE_POINT=open-after-locked-check", "MELDPUNT_PAUSE_MILLISECONDS=2500"});
    REQUIRE(appliance.waitForNotification("STATUS=Locked: PCR mismatch"));

    const auto unlocked = postRecoveryKey(appliance, recoveryKey);
    CHECK(unlocked.status == 303);
    REQUIRE(appliance.waitForNotification("STATUS=Database open"));
    std::this_thread::sleep_for(std::chrono::seconds(3));
    CHECK(appliance.daemonRunning());
    const std::string log = appliance.daemonLog();
    const std::string unlockedLine = "Unlocked the database with the recovery key";
    REQUIRE(log.find(unlockedLine) != std::string::npos);
    std::size_t opens = 0;
    for (auto at = log.find("Opened the database", log.find(unlockedLine)); at != std::string::npos;
         at = log.find("Opened the database", at + 1))
        ++opens;
    CHECK(opens == 1);
    CHECK(appliance.staffClient().get("/").status == 200);
}

TEST_CASE("Unclean stops never lock out the TPM", "[keys]")
{
    Appliance appliance("unclean-stops");
    appliance.initializeKeys();
    appliance.startAll();
    appliance.stopDaemon();
    std::mt19937 random(std::random_device{}());
    std::uniform_int_distribution<int> delay(0, 250);
    // Killed at random moments from start-up on: some while unsealing.
    for (int stop = 0; stop < 30; ++stop) {
        appliance.startDaemon({}, Appliance::Wait::No);
        std::this_thread::sleep_for(std::chrono::milliseconds(delay(random)));
        appliance.killDaemon();
    }
    CHECK_FALSE(meldpunt::tpm::Tpm(appliance.tpm().tcti()).inLockout());
    CHECK(RawEsys(appliance.tpm().tcti()).property(TPM2_PT_LOCKOUT_COUNTER) == 0);

    // swtpm has no resource manager, so objects of a process killed while
    // unsealing stay loaded until the TPM restarts. On the appliance the
    // kernel's /dev/tpmrm0 flushes them when the process dies, and a
    // restart does the same here.
    appliance.tpm().stop();
    appliance.tpm().start();
    appliance.startDaemon();
    CHECK(appliance.waitForNotification("STATUS=Database open"));
}
