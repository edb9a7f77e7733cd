// Start-up of meldpuntd against the TPM: the key it seals on the first
// start, the same key on every later start, and a locked daemon, with the
// database untouched, whenever the key cannot be released.

#include "Appliance.h"
#include "KeySealer.h"
#include "RawEsys.h"
#include "Reports.h"
#include "StoredReports.h"

#include <catch2/catch_test_macros.hpp>

using namespace meldpunt::test;
namespace fs = std::filesystem;

namespace {

// Returns every file of the state folder with its bytes.
std::map<std::string, std::string> snapshot(const fs::path& folder)
{
    std::map<std::string, std::string> files;
    for (const auto& item : fs::directory_iterator(folder))
        files[item.path().filename().string()] = readFile(item.path());
    return files;
}

// Starts a fresh appliance, stores one report and stops meldpuntd.
void storeOneReport(Appliance& appliance)
{
    appliance.startAll();
    REQUIRE(appliance.publicClient().post("/en/report", formBody(validReport("kept safe"))).status == 200);
    REQUIRE(appliance.waitForEmptySpool());
    appliance.stopDaemon();
}

} // namespace

TEST_CASE("First start seals a new key", "[keys]")
{
    Appliance appliance("first-start");
    appliance.startAll();
    CHECK(fs::exists(appliance.sealedKeyFile()));
    CHECK(fs::exists(appliance.databaseFile()));
    CHECK((fs::status(appliance.sealedKeyFile()).permissions() & fs::perms::all) == fs::perms(0600));
    CHECK(appliance.waitForNotification("READY=1"));
    CHECK(appliance.waitForNotification("STATUS=Database open"));
    CHECK(appliance.daemonLog().find("Created a new data key") != std::string::npos);
    CHECK(appliance.daemonLog().find("SQLCipher 4.") != std::string::npos);

    SECTION("the next start unseals the same key")
    {
        REQUIRE(appliance.publicClient().post("/en/report", formBody(validReport("kept safe"))).status == 200);
        REQUIRE(appliance.waitForEmptySpool());
        appliance.stopDaemon();
        const auto before = snapshot(appliance.stateFolder());
        appliance.startDaemon();
        REQUIRE(appliance.waitForIntakeKey());
        CHECK(appliance.waitForNotification("STATUS=Database open"));
        CHECK(readFile(appliance.sealedKeyFile()) == before.at("sealed-key.json"));
        CHECK(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()).size() == 1);
    }
}

TEST_CASE("Unreleased key locks without touching data", "[keys]")
{
    Appliance appliance("locked");
    storeOneReport(appliance);
    const auto before = snapshot(appliance.stateFolder());

    SECTION("TPM not reachable")
    {
        const std::string missing = "swtpm:host=127.0.0.1,port=" + std::to_string(freeLoopbackPort(2));
        appliance.setDaemonTcti(missing);
        appliance.startDaemon();
        REQUIRE(appliance.waitForNotification("STATUS=Locked: TPM not reachable"));
        CHECK(appliance.daemonLog().find(missing) != std::string::npos);
        CHECK(appliance.daemonRunning());
        const auto status = appliance.staffClient().get("/");
        CHECK(status.status == 503);
        CHECK(status.body.find("TPM not reachable") != std::string::npos);

        // The public site keeps taking reports into the spool meanwhile.
        const auto receipt = appliance.publicClient().post("/en/report", formBody(validReport("while locked")));
        CHECK(receipt.status == 200);
        appliance.stopDaemon();
        CHECK(snapshot(appliance.stateFolder()) == before);

        appliance.setDaemonTcti(appliance.tpm().tcti());
        appliance.startDaemon();
        REQUIRE(appliance.waitForEmptySpool());
        CHECK(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()).size() == 2);
    }
    SECTION("PCR mismatch")
    {
        meldpunt::tpm::Tpm(appliance.tpm().tcti()).extendPcr(7, "a changed boot");
        appliance.startDaemon();
        REQUIRE(appliance.waitForNotification("STATUS=Locked: PCR mismatch"));
        appliance.stopDaemon();
        CHECK(snapshot(appliance.stateFolder()) == before);
    }
    SECTION("sealed key missing beside the database")
    {
        fs::rename(appliance.sealedKeyFile(), appliance.root() / "sealed-key.aside");
        const auto withoutKey = snapshot(appliance.stateFolder());
        appliance.startDaemon();
        REQUIRE(appliance.waitForNotification("STATUS=Locked: the database exists but its sealed key"));
        appliance.stopDaemon();
        CHECK(snapshot(appliance.stateFolder()) == withoutKey);
        CHECK(!fs::exists(appliance.sealedKeyFile()));
    }
    SECTION("sealed key from another TPM")
    {
        Appliance other("locked-other");
        other.startAll();
        other.stopDaemon();
        fs::copy_file(other.sealedKeyFile(), appliance.sealedKeyFile(), fs::copy_options::overwrite_existing);
        const auto withForeignKey = snapshot(appliance.stateFolder());
        appliance.startDaemon();
        REQUIRE(appliance.waitForNotification("STATUS=Locked: sealed key rejected by the TPM"));
        appliance.stopDaemon();
        CHECK(snapshot(appliance.stateFolder()) == withForeignKey);
    }
    SECTION("sealed key of another database on the same TPM")
    {
        fs::rename(appliance.databaseFile(), appliance.root() / "first.db");
        for (const char* suffix : {"-wal", "-shm"})
            fs::remove(appliance.stateFolder() / (std::string("meldpunt.db") + suffix));
        fs::remove(appliance.sealedKeyFile());
        appliance.startDaemon();
        REQUIRE(appliance.waitForIntakeKey());
        appliance.stopDaemon();
        for (const char* suffix : {"", "-wal", "-shm"})
            fs::remove(appliance.stateFolder() / (std::string("meldpunt.db") + suffix));
        fs::rename(appliance.root() / "first.db", appliance.databaseFile());
        const auto mixed = snapshot(appliance.stateFolder());

        appliance.startDaemon();
        REQUIRE(appliance.waitForNotification("does not open"));
        appliance.stopDaemon();
        CHECK(snapshot(appliance.stateFolder()) == mixed);
    }
}

TEST_CASE("TPM lockout is reported, not fatal", "[keys]")
{
    Appliance appliance("lockout");
    storeOneReport(appliance);
    forceLockout(appliance.tpm().tcti());

    // The data key is sealed with noDA, so the database still opens; the
    // lockout is named as such, apart from a PCR mismatch or a missing TPM.
    appliance.startDaemon();
    REQUIRE(appliance.waitForNotification("STATUS=Database open; ingesting the spool; TPM in dictionary-attack lockout"));
    CHECK(appliance.daemonLog().find("TPM in dictionary-attack lockout") != std::string::npos);
    CHECK(appliance.publicClient().post("/en/report", formBody(validReport("during lockout"))).status == 200);
    REQUIRE(appliance.waitForEmptySpool());
    CHECK(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()).size() == 2);
}
