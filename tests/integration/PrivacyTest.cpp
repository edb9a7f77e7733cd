// No log, temporary file or journal may hold a reporter's address or what
// they wrote, and no stored file may be readable without the keys.

#include "Appliance.h"
#include "Reports.h"
#include "StoredReports.h"

#include <catch2/catch_test_macros.hpp>

#include <fstream>

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

using namespace meldpunt::test;
namespace fs = std::filesystem;

namespace {

constexpr const char* kSourceAddress = "127.45.67.89";
constexpr const char* kMarker = "MARKER-7f3a9c-zeebries";

// Returns the files under `folder` whose bytes contain `needle`.
std::vector<fs::path> filesContaining(const fs::path& folder, const std::string& needle)
{
    std::vector<fs::path> found;
    std::error_code error;
    for (auto item = fs::recursive_directory_iterator(folder, fs::directory_options::skip_permission_denied, error);
         item != fs::recursive_directory_iterator(); item.increment(error)) {
        if (error || !item->is_regular_file(error) || item->file_size(error) > 64 * 1024 * 1024)
            continue;
        if (readFile(item->path()).find(needle) != std::string::npos)
            found.push_back(item->path());
    }
    return found;
}

// Returns the files under `folder` changed since `since` whose bytes
// contain `needle`, leaving out this project's source and build trees,
// which hold the marker in the test's own code.
std::vector<fs::path> recentFilesContaining(const fs::path& folder, const std::string& needle, fs::file_time_type since)
{
    std::vector<fs::path> found;
    const std::string source = MELDPUNT_SOURCE_DIR;
    const std::string binary = MELDPUNT_BINARY_DIR;
    std::error_code error;
    for (auto item = fs::recursive_directory_iterator(folder, fs::directory_options::skip_permission_denied, error);
         item != fs::recursive_directory_iterator(); item.increment(error)) {
        const std::string path = item->path().string();
        if (error || path.starts_with(source) || path.starts_with(binary) || !item->is_regular_file(error))
            continue;
        if (item->last_write_time(error) < since || item->file_size(error) > 64 * 1024 * 1024)
            continue;
        if (readFile(item->path()).find(needle) != std::string::npos)
            found.push_back(item->path());
    }
    return found;
}

// Sends raw bytes over plain TCP from the marked source address: a
// request nginx rejects before TLS, which nginx would log with the client
// address at "info" level.
void sendPlainGarbage(unsigned short port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, kSourceAddress, &local.sin_addr);
    ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local);
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) == 0) {
        const char garbage[] = "GET /\x01\x02 HTTP/9.9\r\n\r\n";
        [[maybe_unused]] auto sent = ::write(fd, garbage, sizeof garbage - 1);
        char buffer[512];
        [[maybe_unused]] auto got = ::read(fd, buffer, sizeof buffer);
    }
    ::close(fd);
}

// Sends a report, a form with a problem, a malformed body, a request for a
// missing page, an oversized body and plain garbage, all from the marked
// address and carrying the marker, then stops everything.
void sendMarkedTraffic(Appliance& appliance)
{
    const auto client = appliance.publicClient(kSourceAddress);
    auto fields = withField(validReport(std::string("What: ") + kMarker), "place", kMarker);
    fields = withField(withField(fields, "contact", "contact"), "email", std::string(kMarker) + "@example.org");
    fields = withField(fields, "name", kMarker);
    const auto receipt = client.post("/nl/report", formBody(fields));
    REQUIRE(receipt.status == 200);
    CHECK(client.post("/nl/report", formBody(withField(fields, "what", ""))).status == 422);
    CHECK(client.post("/nl/report", std::string("what=%ZZ") + kMarker).status == 400);
    CHECK(client.get(std::string("/nl/") + kMarker).status == 404);
    CHECK(client.post("/nl/report", "what=" + std::string(1100 * 1024, 'a')).status == 413);
    sendPlainGarbage(appliance.publicPort());
    REQUIRE(appliance.waitForEmptySpool());
    appliance.stopDaemon();
    appliance.stopPublic();
    appliance.stopEdges();
}

} // namespace

TEST_CASE("Reporter address and text reach no log", "[site]")
{
    const auto testStart = fs::file_time_type::clock::now();
    Appliance appliance("privacy");
    appliance.startAll();
    sendMarkedTraffic(appliance);

    const std::string logs = appliance.daemonLog() + appliance.publicLog() + appliance.edgeLog();
    CHECK(logs.find(kSourceAddress) == std::string::npos);
    CHECK(logs.find(kMarker) == std::string::npos);

    // The database, its WAL and the edges' temporary folders: nothing in
    // the clear anywhere under the appliance's folders.
    CHECK(filesContaining(appliance.root(), kMarker).empty());
    CHECK(filesContaining(appliance.root(), kSourceAddress).empty());
    for (const char* temporary : {"client_body", "proxy"}) {
        for (const char* edge : {"edge-public", "edge-staff"}) {
            const fs::path folder = appliance.root() / edge / temporary;
            CHECK((!fs::exists(folder) || fs::is_empty(folder)));
        }
    }
    CHECK(fs::is_empty(appliance.temporaryFolder()));
    CHECK(recentFilesContaining(fs::temp_directory_path(), kMarker, testStart).empty());
}

TEST_CASE("Journal holds no reporter address", "[site]")
{
    if (!fs::exists("/run/systemd/journal/socket"))
        SKIP("no journald runs on this machine, so nothing can have reached a journal");
    Appliance appliance("journal");
    appliance.startAll();
    sendMarkedTraffic(appliance);
    Process journal({"journalctl", "--no-pager", "-o", "cat", "--since", "-10min"},
        {{}, appliance.root() / "journal.txt", {}});
    REQUIRE(journal.wait(std::chrono::seconds(30)));
    const std::string text = readFile(appliance.root() / "journal.txt");
    CHECK(text.find(kMarker) == std::string::npos);
    CHECK(text.find(kSourceAddress) == std::string::npos);
}

TEST_CASE("Stored files are unreadable without keys", "[site]")
{
    Appliance appliance("unreadable-files");
    appliance.startAll();
    appliance.stopDaemon();

    const auto receipt = appliance.publicClient().post("/en/report", formBody(validReport(kMarker)));
    REQUIRE(receipt.status == 200);
    std::vector<fs::path> entries;
    for (const auto& item : fs::directory_iterator(appliance.spoolFolder())) {
        if (item.path().extension() == ".entry")
            entries.push_back(item.path());
    }
    REQUIRE(entries.size() == 1);
    CHECK(readFile(entries.front()).find(kMarker) == std::string::npos);
    CHECK(readFile(entries.front()).find("Pattaya") == std::string::npos);

    appliance.startDaemon();
    REQUIRE(appliance.waitForEmptySpool());
    appliance.stopDaemon();
    CHECK(filesContaining(appliance.stateFolder(), kMarker).empty());
    CHECK(filesContaining(appliance.stateFolder(), "Pattaya").empty());
    CHECK(filesContaining(appliance.stateFolder(), "SQLite format 3").empty());
}

TEST_CASE("Visits are counted without identifying anyone", "[site]")
{
    Appliance appliance("visits");
    appliance.startAll();
    const auto client = appliance.publicClient(kSourceAddress);
    for (int i = 0; i < 3; ++i)
        REQUIRE(client.get("/nl/").status == 200);
    REQUIRE(client.get("/en/report").status == 200);
    REQUIRE(client.get("/de/info/faq").status == 200);
    CHECK(client.get("/nl/no-such-page").status == 404);
    const auto response = client.get("/en/");
    CHECK(response.header("set-cookie").empty());

    // meldpunt-public hands the counts over when it stops.
    appliance.stopPublic();
    REQUIRE(appliance.waitForEmptySpool());
    const auto counts = readVisitCounts(appliance.stateFolder(), appliance.tpm().tcti());
    long long total = 0;
    for (const auto& [key, count] : counts) {
        CAPTURE(key);
        total += count;
        CHECK(key.size() > 10);
        CHECK(key.find(kSourceAddress) == std::string::npos);
    }
    CHECK(total == 6);
    bool homeCounted = false;
    for (const auto& [key, count] : counts)
        homeCounted = homeCounted || (key.ends_with(" home nl") && count == 3);
    CHECK(homeCounted);
}

TEST_CASE("The privacy statement shows the live retention periods", "[site]")
{
    Appliance::Options options;
    options.extraDaemonConfig = "[retention]\nreports_after_closing_days = 400\nreporter_messages_days = 123\n"
                                "attachments_days = 77\naudit_log_days = 1777\noutbox_copies_days = 33\n";
    Appliance appliance("retention-page", options);
    appliance.startAll();
    const auto client = appliance.publicClient();

    SECTION("Configured periods and the defaults of the others are shown in every language")
    {
        for (const char* language : {"nl", "en", "fr", "de", "es", "ru"}) {
            CAPTURE(language);
            const auto page = client.get(std::string("/") + language + "/privacy");
            REQUIRE(page.status == 200);
            CHECK(page.body.find("<td>400</td>") != std::string::npos);
            CHECK(page.body.find("<td>123</td>") != std::string::npos);
            CHECK(page.body.find("<td>1095</td>") != std::string::npos);
            CHECK(page.body.find("<td>90</td>") != std::string::npos);
            CHECK(page.body.find("<td>77</td>") != std::string::npos);
            CHECK(page.body.find("<td>1777</td>") != std::string::npos);
            CHECK(page.body.find("<td>33</td>") != std::string::npos);
            // Every period has its row, with its text in the page's language.
            std::size_t rows = 0;
            for (auto at = page.body.find("<tr><th scope=\"row\">"); at != std::string::npos;
                 at = page.body.find("<tr><th scope=\"row\">", at + 1))
                ++rows;
            CHECK(rows == 7);
        }
        CHECK(client.get("/nl/privacy").body.find("auditlog") != std::string::npos);
        CHECK(client.get("/de/privacy").body.find("Audit-Protokoll") != std::string::npos);
        CHECK(client.get("/ru/privacy").body.find("журнал аудита") != std::string::npos);
    }

    SECTION("A changed period shows after meldpuntd restarts, without restarting the site")
    {
        appliance.stopDaemon();
        appliance.setDaemonExtraConfiguration("[retention]\nreports_after_closing_days = 200\n");
        appliance.startDaemon();
        const auto page = client.get("/en/privacy");
        CHECK(page.body.find("<td>200</td>") != std::string::npos);
        CHECK(page.body.find("<td>400</td>") == std::string::npos);
    }
}
