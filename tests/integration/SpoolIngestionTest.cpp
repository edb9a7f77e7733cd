// The spool between the two daemons: no report whose receipt was shown
// may be lost or stored twice, whichever process stops and when.

#include "Appliance.h"
#include "Reports.h"
#include "StoredReports.h"

#include <catch2/catch_test_macros.hpp>

#include <sys/wait.h>

#include <fstream>
#include <set>

using namespace meldpunt::test;
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> spoolEntries(const Appliance& appliance)
{
    std::vector<fs::path> entries;
    for (const auto& item : fs::directory_iterator(appliance.spoolFolder())) {
        if (item.path().extension() == ".entry")
            entries.push_back(item.path());
    }
    return entries;
}

std::set<std::string> storedReferences(Appliance& appliance)
{
    std::set<std::string> references;
    for (const auto& report : readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()))
        references.insert(report.at("reference"));
    return references;
}

} // namespace

TEST_CASE("Reports sent while meldpuntd is down", "[core]")
{
    Appliance appliance("daemon-down");
    appliance.startAll();
    appliance.stopDaemon();

    std::set<std::string> references;
    for (int i = 0; i < 5; ++i) {
        const auto receipt = appliance.publicClient().post("/en/report", formBody(validReport("report " + std::to_string(i))));
        REQUIRE(receipt.status == 200);
        references.insert(referenceOnReceipt(receipt.body));
    }
    CHECK(spoolEntries(appliance).size() == 5);

    appliance.startDaemon();
    REQUIRE(appliance.waitForEmptySpool());
    const auto stored = readStoredReports(appliance.stateFolder(), appliance.tpm().tcti());
    CHECK(stored.size() == 5);
    CHECK(storedReferences(appliance) == references);
}

TEST_CASE("Crash between commit and unlink", "[core]")
{
    Appliance appliance("crash-window");
    appliance.startAll();
    appliance.stopDaemon();
    const auto receipt = appliance.publicClient().post("/en/report", formBody(validReport("exactly once")));
    REQUIRE(receipt.status == 200);

    appliance.startDaemon({"MELDPUNT_FAULT_POINT=ingest-after-commit"});
    REQUIRE(appliance.waitForDaemonExit(std::chrono::seconds(15)));
    REQUIRE(spoolEntries(appliance).size() == 1);
    CHECK(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()).size() == 1);

    appliance.startDaemon();
    REQUIRE(appliance.waitForEmptySpool());
    // The pass logs its counts after the unlink that empties the spool.
    CHECK(waitFor([&] { return appliance.daemonLog().find("removed 1 already stored") != std::string::npos; },
        std::chrono::seconds(10)));
    const auto stored = readStoredReports(appliance.stateFolder(), appliance.tpm().tcti());
    REQUIRE(stored.size() == 1);
    CHECK(stored.front().at("reference") == referenceOnReceipt(receipt.body));
}

TEST_CASE("Damaged spool entries are quarantined", "[core]")
{
    Appliance appliance("quarantine");
    appliance.startAll();
    appliance.stopDaemon();
    for (int i = 0; i < 4; ++i)
        REQUIRE(appliance.publicClient().post("/en/report", formBody(validReport("entry " + std::to_string(i)))).status == 200);
    auto entries = spoolEntries(appliance);
    REQUIRE(entries.size() == 4);

    // One flipped byte, one truncated, one overwritten after its header,
    // and a stranger's file with a valid-looking name; the fourth entry
    // stays intact.
    {
        std::string bytes = readFile(entries[0]);
        bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
        std::ofstream(entries[0], std::ios::binary | std::ios::trunc) << bytes;
    }
    fs::resize_file(entries[1], fs::file_size(entries[1]) - 7);
    {
        std::string bytes = readFile(entries[2]);
        std::ofstream(entries[2], std::ios::binary | std::ios::trunc) << bytes.substr(0, 80) + std::string(bytes.size() - 80, '\x5a');
    }
    const fs::path stranger = appliance.spoolFolder() / "00000000-0000-4000-8000-000000000000.entry";
    std::ofstream(stranger, std::ios::binary) << std::string(500, '\x42');

    appliance.startDaemon();
    REQUIRE(waitFor([&] { return spoolEntries(appliance).empty(); }, std::chrono::seconds(15)));
    std::set<std::string> quarantined;
    for (const auto& item : fs::directory_iterator(appliance.quarantineFolder()))
        quarantined.insert(item.path().filename().string());
    CHECK(quarantined.size() == 4);
    CHECK(quarantined.count(entries[0].filename().string()) == 1);
    CHECK(quarantined.count(stranger.filename().string()) == 1);
    CHECK(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()).size() == 1);
    CHECK(appliance.daemonRunning());
    CHECK(appliance.daemonLog().find("Quarantined spool entry") != std::string::npos);
}
