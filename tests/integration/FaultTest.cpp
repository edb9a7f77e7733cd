// Faults that a box meets in the field: a daemon killed at any moment while
// reports come in, a data partition that fills up, and clients that are
// slow or abusive on purpose. A reporter who saw a
// reference must find the report stored once, and the database must stay
// sound.

#include "Appliance.h"
#include "Reports.h"
#include "StoredReports.h"

#include <catch2/catch_test_macros.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

using namespace meldpunt::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// Reports whose receipt showed a reference, as reference to text.
class ShownReferences {
public:
    void add(const std::string& reference, const std::string& what)
    {
        std::lock_guard lock(mutex_);
        shown_.emplace(reference, what);
        ++receipts_;
    }
    std::map<std::string, std::string> all() const
    {
        std::lock_guard lock(mutex_);
        return shown_;
    }
    int receipts() const
    {
        std::lock_guard lock(mutex_);
        return receipts_;
    }

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::string> shown_;
    int receipts_ = 0;
};

// A small file that libmagic reads as a PNG, different for each report.
std::string attachmentFor(const std::string& what)
{
    const std::string header("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\x08\x06\0\0\0\x1f\x15\xc4\x89", 33);
    std::string content = header;
    while (content.size() < 20000)
        content += what + "; ";
    return content;
}

// The report form with one file, as a browser posts it.
std::vector<FormPart> reportWithFile(const std::string& what)
{
    std::vector<FormPart> parts;
    for (const auto& [name, value] : validReport(what)) {
        if (name != "form_end")
            parts.push_back({name, value, std::nullopt, {}});
    }
    parts.push_back({"files", attachmentFor(what), std::string("bewijs.png"), "image/png"});
    parts.push_back({"form_end", "1", std::nullopt, {}});
    return parts;
}

int countFiles(const fs::path& folder)
{
    int count = 0;
    for (const auto& item : fs::directory_iterator(folder))
        count += item.is_regular_file();
    return count;
}

} // namespace

TEST_CASE("Reports survive kill -9 of either daemon mid-stream", "[core]")
{
    Appliance appliance("kill-while-streaming");
    appliance.startAll();

    const auto seed = std::random_device{}();
    CAPTURE(seed);
    std::mt19937 random(seed);

    ShownReferences shown;
    ShownReferences shownWithFile;
    std::atomic<bool> stop{false};
    std::atomic<int> refused{0};
    std::vector<std::thread> senders;
    for (int sender = 0; sender < 3; ++sender) {
        senders.emplace_back([&, sender] {
            const auto client = appliance.publicClient("127.0.0." + std::to_string(10 + sender));
            for (int i = 0; i < 400 && !stop; ++i) {
                const std::string what = "stream " + std::to_string(sender) + "-" + std::to_string(i);
                try {
                    const auto page = client.post("/en/report", formBody(validReport(what)));
                    const auto reference = referenceOnReceipt(page.body);
                    if (page.status == 200 && !reference.empty())
                        shown.add(reference, what);
                    else
                        ++refused;
                } catch (const std::exception&) {
                    ++refused;
                }
            }
        });
    }

    // A fourth sender attaches a file to each report, so that kills also
    // land while a held file moves beside its entry or meldpuntd reads it.
    senders.emplace_back([&] {
        const auto client = appliance.publicClient("127.0.0.13");
        for (int i = 0; i < 200 && !stop; ++i) {
            const std::string what = "stream with a file " + std::to_string(i);
            try {
                const auto page = client.postMultipart("/en/report", reportWithFile(what));
                const auto reference = referenceOnReceipt(page.body);
                if (page.status == 200 && !reference.empty()) {
                    shown.add(reference, what);
                    shownWithFile.add(reference, what);
                } else {
                    ++refused;
                }
            } catch (const std::exception&) {
                ++refused;
            }
        }
    });

    // Kills at random moments: between two reports, while meldpunt-public
    // writes a spool entry, or while meldpuntd ingests one.
    std::uniform_int_distribution<int> pause(100, 900);
    std::uniform_int_distribution<int> which(0, 1);
    int daemonKills = 0;
    int publicKills = 0;
    for (int round = 0; round < 12; ++round) {
        std::this_thread::sleep_for(std::chrono::milliseconds(pause(random)));
        if (which(random) == 0) {
            appliance.killDaemon();
            ++daemonKills;
            std::this_thread::sleep_for(std::chrono::milliseconds(pause(random) / 4));
            appliance.startDaemon();
        } else {
            appliance.killPublic();
            ++publicKills;
            std::this_thread::sleep_for(std::chrono::milliseconds(pause(random) / 4));
            appliance.startPublic();
        }
    }
    std::this_thread::sleep_for(500ms);
    stop = true;
    for (auto& sender : senders)
        sender.join();
    CAPTURE(daemonKills, publicKills, refused.load());
    REQUIRE(shown.receipts() > 20);

    // meldpuntd hashes each report's receipt secret with Argon2id as it
    // ingests, so the bound grows with the number of reports sent.
    REQUIRE(appliance.waitForEmptySpool(std::chrono::seconds(60 + shown.receipts())));
    appliance.stopDaemon();
    const auto stored = readStoredReports(appliance.stateFolder(), appliance.tpm().tcti());
    std::map<std::string, int> timesStored;
    std::map<std::string, std::string> storedText;
    for (const auto& report : stored) {
        ++timesStored[report.at("reference")];
        storedText[report.at("reference")] = report.at("what");
    }
    const auto references = shown.all();
    CHECK(references.size() == static_cast<std::size_t>(shown.receipts()));
    for (const auto& [reference, what] : references) {
        CAPTURE(reference, what);
        CHECK(timesStored[reference] == 1);
        CHECK(storedText[reference] == what);
    }
    // Each report sent with a file has it, byte for byte, once.
    REQUIRE(shownWithFile.receipts() > 0);
    const auto attachments = readStoredAttachments(appliance.stateFolder(), appliance.tpm().tcti());
    std::map<std::string, int> filesStored;
    for (const auto& attachment : attachments) {
        ++filesStored[attachment.reference];
        CHECK(attachment.content == attachmentFor(storedText[attachment.reference]));
    }
    for (const auto& [reference, what] : shownWithFile.all()) {
        CAPTURE(reference, what);
        CHECK(filesStored[reference] == 1);
    }
    // No piece is left in the spool.
    for (const auto& item : fs::directory_iterator(appliance.spoolFolder()))
        CHECK_FALSE(item.path().filename().string().ends_with(".piece"));
    // A report cut off before its receipt may be stored, but only once.
    for (const auto& [reference, times] : timesStored) {
        CAPTURE(reference);
        CHECK(times == 1);
    }
    CHECK(countFiles(appliance.quarantineFolder()) == 0);
    CHECK(checkDatabaseIntegrity(appliance.stateFolder(), appliance.tpm().tcti()) == "ok");
}

TEST_CASE("Full data partition delays ingestion safely", "[core]")
{
    if (!Appliance::runsAsSeparateUsers())
        SKIP("mounting a small tmpfs as meldpuntd's state folder needs root");
    Appliance appliance("full-state");
    const fs::path state = appliance.stateFolder();
    REQUIRE(::mount("tmpfs", state.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=6m,mode=0700") == 0);
    REQUIRE(::chown(state.c_str(), Appliance::kDaemonUid, Appliance::kDaemonUid) == 0);
    struct Unmount {
        fs::path folder;
        ~Unmount() { ::umount2(folder.c_str(), MNT_DETACH); }
    } unmount{state};

    appliance.startAll();
    REQUIRE(appliance.publicClient().post("/en/report", formBody(validReport("before the disk filled"))).status == 200);
    REQUIRE(appliance.waitForEmptySpool());

    {
        std::ofstream filler(state / "filler", std::ios::binary);
        const std::string block(4096, 'x');
        while (filler.write(block.data(), static_cast<std::streamsize>(block.size())) && filler.flush()) {
        }
    }
    // Each report needs pages in the database and its journal, and none is left.
    std::vector<std::string> references;
    for (int i = 0; i < 3; ++i) {
        const auto page = appliance.publicClient().post("/en/report",
            formBody(validReport("while the disk is full " + std::to_string(i) + " " + std::string(2000, 'f'))));
        REQUIRE(page.status == 200);
        references.push_back(referenceOnReceipt(page.body));
    }
    CHECK_FALSE(appliance.waitForEmptySpool(std::chrono::seconds(3)));
    CHECK(appliance.daemonRunning());
    CHECK(countFiles(appliance.quarantineFolder()) == 0);
    CHECK(appliance.daemonLog().find("database or disk is full") != std::string::npos);

    // Space comes back; meldpuntd goes on by itself.
    fs::remove(state / "filler");
    REQUIRE(appliance.waitForEmptySpool(std::chrono::seconds(30)));
    CHECK(appliance.daemonRunning());
    appliance.stopDaemon();
    const auto stored = readStoredReports(state, appliance.tpm().tcti());
    REQUIRE(stored.size() == 4);
    for (const auto& reference : references) {
        CAPTURE(reference);
        CHECK(std::count_if(stored.begin(), stored.end(),
                  [&](const StoredReport& report) { return report.at("reference") == reference; })
            == 1);
    }
    CHECK(checkDatabaseIntegrity(state, appliance.tpm().tcti()) == "ok");
}

namespace {

// Opens a plain TCP connection to 127.0.0.1:`port` and sends nothing.
int openIdleConnection(unsigned short port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

} // namespace

TEST_CASE("Form answers during slow-client floods", "[core]")
{
    // The test keeps thousands of sockets open at once.
    rlimit files{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &files) == 0);
    files.rlim_cur = std::min<rlim_t>(files.rlim_max, 8192);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &files) == 0);
    REQUIRE(files.rlim_cur >= 4096);

    Appliance appliance("slow-clients");
    appliance.startAll();
    const auto others = appliance.publicClient("127.0.0.99");
    REQUIRE(others.get("/en/report").status == 200);

    // Senders that trickle a report body at a few bytes a second, each
    // well inside nginx's pause limit between two reads, from three
    // addresses: more of them than meldpunt-public has page workers.
    const fs::path body = appliance.root() / "slow-body";
    {
        std::ofstream file(body, std::ios::binary);
        file << formBody(validReport(std::string(4000, 's')));
    }
    std::vector<std::unique_ptr<Process>> slowSenders;
    for (int address = 0; address < 3; ++address) {
        for (int sender = 0; sender < 18; ++sender) {
            slowSenders.push_back(std::make_unique<Process>(
                std::vector<std::string>{"curl", "-sS", "--http1.1", "--max-time", "120", "--cacert",
                    appliance.caFile().string(), "--interface", "127.0.1." + std::to_string(address + 1),
                    "--limit-rate", "20", "-H", "Content-Type: application/x-www-form-urlencoded",
                    "--data-binary", "@" + body.string(), "-o", "/dev/null",
                    "https://localhost:" + std::to_string(appliance.publicPort()) + "/en/report"},
                Process::Options({}, appliance.root() / "logs/slow-sender.log")));
        }
    }
    // Thousands of connections that never send a byte.
    std::vector<int> idle;
    for (int i = 0; i < 2000; ++i) {
        if (const int fd = openIdleConnection(appliance.publicPort()); fd >= 0)
            idle.push_back(fd);
    }
    CHECK(idle.size() == 2000);
    std::this_thread::sleep_for(2s);
    for (auto& sender : slowSenders)
        REQUIRE(sender->running());

    SECTION("the form opens and a report goes through for everyone else")
    {
        const auto form = others.get("/en/report");
        CHECK(form.status == 200);
        CHECK(form.body.find("name=\"what\"") != std::string::npos);
        const auto sent = others.post("/en/report", formBody(validReport("sent during the flood")));
        CHECK(sent.status == 200);
        CHECK(!referenceOnReceipt(sent.body).empty());
    }
    SECTION("a huge header is refused and the form still opens")
    {
        const auto refused = others.get("/en/report", {"X-Padding: " + std::string(64 * 1024, 'h')});
        CHECK(refused.status >= 400);
        CHECK(refused.status < 500);
        CHECK(others.get("/en/report").status == 200);
    }
    SECTION("an endless chunked body is cut off at the limit and the form still opens")
    {
        // 40 MiB of chunks: more than the edge accepts for one report.
        const fs::path endless = appliance.root() / "endless";
        {
            std::ofstream file(endless, std::ios::binary);
            file << "what=";
            const std::string block(1024 * 1024, 'e');
            for (int i = 0; i < 40; ++i)
                file << block;
        }
        Process chunked({"curl", "-sS", "--http1.1", "--max-time", "60", "--cacert", appliance.caFile().string(),
                            "--interface", "127.0.0.98", "-H", "Transfer-Encoding: chunked", "-H",
                            "Content-Type: application/x-www-form-urlencoded", "--data-binary", "@-", "-o",
                            "/dev/null", "-w", "%{http_code}",
                            "https://localhost:" + std::to_string(appliance.publicPort()) + "/en/report"},
            Process::Options({}, appliance.root() / "logs/chunked.log", {}, endless));
        const auto status = chunked.wait(60s);
        REQUIRE(status);
        CHECK(chunked.log().find("413") != std::string::npos);
        CHECK(others.get("/en/report").status == 200);
    }

    for (const int fd : idle)
        ::close(fd);
    slowSenders.clear();
    CHECK(appliance.publicClient().get("/en/").status == 200);
}
