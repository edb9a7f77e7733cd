// The data key over the box's life: rotated to a new key, and backed up
// so that a new box with the recovery key has the same reports.

#include "Appliance.h"
#include "KeySealer.h"
#include "RecoveryKey.h"
#include "Reports.h"
#include "StoredReports.h"

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <fstream>
#include <random>
#include <thread>

using namespace meldpunt::test;
namespace fs = std::filesystem;

namespace {

// Sets up a box with a recovery key and `count` stored reports, then stops
// meldpuntd. Returns the recovery key.
std::string setUpWithReports(Appliance& appliance, int count)
{
    const std::string recoveryKey = appliance.initializeKeys();
    appliance.startAll();
    for (int i = 0; i < count; ++i)
        REQUIRE(appliance.publicClient().post("/en/report", formBody(validReport("report " + std::to_string(i)))).status == 200);
    REQUIRE(appliance.waitForEmptySpool());
    appliance.stopDaemon();
    return recoveryKey;
}

std::vector<std::string> whatOf(const std::vector<StoredReport>& reports)
{
    std::vector<std::string> texts;
    for (const auto& report : reports)
        texts.push_back(report.at("reference") + " " + report.at("what"));
    return texts;
}

bool hasEvent(const std::vector<std::string>& events, const std::string& event)
{
    return std::find(events.begin(), events.end(), event) != events.end();
}

} // namespace

TEST_CASE("Rotation re-encrypts under a new key", "[keys]")
{
    Appliance appliance("rotation");
    const std::string recoveryKey = setUpWithReports(appliance, 3);
    const auto before = whatOf(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()));
    const std::string sealedBefore = readFile(appliance.sealedKeyFile());

    const auto rotated = appliance.runKeysTool("rotate");
    CAPTURE(rotated.output);
    REQUIRE(rotated.exitStatus == 0);
    CHECK(readFile(appliance.sealedKeyFile()) != sealedBefore);
    for (const char* leftover : {"meldpunt.db.next", "sealed-key.json.next", "recovery-wrap.json.next"})
        CHECK_FALSE(fs::exists(appliance.stateFolder() / leftover));
    CHECK(whatOf(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti())) == before);
    CHECK(hasEvent(readKeyEvents(appliance.stateFolder(), appliance.tpm().tcti()), "rotated"));

    SECTION("the recovery key still unlocks the rotated database")
    {
        meldpunt::tpm::Tpm(appliance.tpm().tcti()).extendPcr(7, "a changed boot");
        appliance.startDaemon();
        REQUIRE(appliance.waitForNotification("STATUS=Locked: PCR mismatch"));
        CHECK(appliance.staffClient().post("/recovery", formBody({{"recovery_key", recoveryKey}})).status == 303);
        CHECK(appliance.waitForNotification("STATUS=Database open"));
    }
}

TEST_CASE("Key commands respect a running daemon", "[keys]")
{
    Appliance appliance("keys-running");
    setUpWithReports(appliance, 1);
    appliance.startDaemon();
    const std::string sealedBefore = readFile(appliance.sealedKeyFile());

    const auto rotate = appliance.runKeysTool("rotate");
    CHECK(rotate.exitStatus == 1);
    CHECK(rotate.output.find("stop it first") != std::string::npos);
    CHECK(readFile(appliance.sealedKeyFile()) == sealedBefore);

    // Reports keep arriving and staying while the command was refused.
    CHECK(appliance.publicClient().post("/en/report", formBody(validReport("after the refusal"))).status == 200);
    REQUIRE(appliance.waitForEmptySpool());
    CHECK(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()).size() == 2);

    SECTION("a backup never replaces a file")
    {
        const auto intoState = appliance.runKeysTool("backup", {}, appliance.sealedKeyFile().string());
        CHECK(intoState.exitStatus == 1);
        CHECK(readFile(appliance.sealedKeyFile()) == sealedBefore);
        const fs::path existing = appliance.backupFolder() / "existing.backup";
        std::ofstream(existing) << "an older backup";
        if (Appliance::runsAsSeparateUsers())
            REQUIRE(::chown(existing.c_str(), Appliance::kDaemonUid, Appliance::kDaemonUid) == 0);
        const auto overwrite = appliance.runKeysTool("backup", {}, existing.string());
        CHECK(overwrite.exitStatus == 1);
        CHECK(readFile(existing) == "an older backup");
        const auto fresh = appliance.runKeysTool("backup", {}, (appliance.backupFolder() / "new.backup").string());
        CHECK(fresh.exitStatus == 0);
    }
    SECTION("a second meldpuntd does not start")
    {
        CHECK(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()).size() == 2);
    }
}

TEST_CASE("Rotation survives kill -9 anywhere", "[keys]")
{
    Appliance appliance("rotation-kill");
    setUpWithReports(appliance, 2);
    const auto before = whatOf(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()));
    std::mt19937 random(std::random_device{}());
    std::uniform_int_distribution<int> delay(0, 900);

    for (int round = 0; round < 10; ++round) {
        CAPTURE(round);
        auto tool = appliance.startKeysTool("rotate");
        std::this_thread::sleep_for(std::chrono::milliseconds(delay(random)));
        tool->kill();
        // swtpm has no resource manager: a TPM restart flushes what the
        // killed process left loaded, as /dev/tpmrm0 does on the appliance.
        appliance.tpm().stop();
        appliance.tpm().start();

        appliance.startDaemon();
        REQUIRE(appliance.waitForNotification("STATUS=Database open"));
        appliance.stopDaemon();
        for (const char* leftover : {"meldpunt.db.next", "sealed-key.json.next", "recovery-wrap.json.next"})
            CHECK_FALSE(fs::exists(appliance.stateFolder() / leftover));
        CHECK(whatOf(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti())) == before);
    }
}

TEST_CASE("Backup restores onto a new box", "[keys]")
{
    Appliance original("backup-original");
    const std::string recoveryKey = setUpWithReports(original, 3);
    const auto reports = whatOf(readStoredReports(original.stateFolder(), original.tpm().tcti()));
    const fs::path backup = original.backupFolder() / "manual.backup";
    const auto written = original.runKeysTool("backup", {}, backup.string());
    CAPTURE(written.output);
    REQUIRE(written.exitStatus == 0);
    REQUIRE(fs::exists(backup));
    CHECK(readFile(backup).find("report 1") == std::string::npos);

    // A new box: its own swtpm, nothing set up.
    Appliance replacement("backup-replacement");
    const fs::path copy = replacement.backupFolder() / "manual.backup";
    fs::copy_file(backup, copy);
    if (Appliance::runsAsSeparateUsers())
        REQUIRE(::chown(copy.c_str(), Appliance::kDaemonUid, Appliance::kDaemonUid) == 0);

    SECTION("the right recovery key restores every report")
    {
        const auto restored = replacement.runKeysTool("restore", recoveryKey + "\n", copy.string());
        CAPTURE(restored.output);
        REQUIRE(restored.exitStatus == 0);
        replacement.startAll();
        CHECK(replacement.waitForNotification("STATUS=Database open"));
        CHECK(whatOf(readStoredReports(replacement.stateFolder(), replacement.tpm().tcti())) == reports);
        CHECK(hasEvent(readKeyEvents(replacement.stateFolder(), replacement.tpm().tcti()), "restored"));
        CHECK(replacement.publicClient().post("/en/report", formBody(validReport("on the new box"))).status == 200);
        CHECK(replacement.waitForEmptySpool());
    }
    SECTION("another recovery key restores nothing")
    {
        const auto other = meldpunt::keys::RecoveryKey::generate().toString();
        const auto refused = replacement.runKeysTool("restore", other + "\n", copy.string());
        CHECK(refused.exitStatus == 1);
        CHECK_FALSE(fs::exists(replacement.databaseFile()));
        CHECK_FALSE(fs::exists(replacement.sealedKeyFile()));
    }
}

TEST_CASE("Scheduled backups are written", "[keys]")
{
    Appliance::Options options;
    options.scheduledBackups = true;
    Appliance appliance("scheduled-backup", options);
    appliance.initializeKeys();
    appliance.startAll();
    const bool written = waitFor(
        [&] {
            for (const auto& item : fs::directory_iterator(appliance.backupFolder())) {
                if (item.path().extension() == ".backup")
                    return true;
            }
            return false;
        },
        std::chrono::seconds(20));
    CHECK(written);
    CHECK(appliance.daemonLog().find("Wrote the scheduled backup") != std::string::npos);
}
