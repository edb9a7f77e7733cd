// The acknowledgement e-mail: a reporter who left an e-mail address gets
// one from meldpuntd through an SMTP relay with STARTTLS. The relay is
// Debian's aiosmtpd on loopback with a certificate from the test PKI; it
// requires STARTTLS before it takes a message.

#include "Appliance.h"
#include "Reports.h"
#include "StoredReports.h"

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <thread>

using namespace meldpunt::test;
namespace fs = std::filesystem;

namespace {

constexpr const char* kAiosmtpdPython = "/usr/bin/python3";

bool hasAiosmtpd()
{
    return fs::exists(kAiosmtpdPython)
        && std::system("/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1") == 0;
}

// A loopback SMTP relay that stores every message in a Maildir.
struct MailSink {
    fs::path maildir;
    std::unique_ptr<Process> process;

    MailSink(const Appliance& appliance, unsigned short port)
        : maildir(appliance.root() / "maildir")
    {
        const fs::path pki = appliance.root() / "pki";
        process = std::make_unique<Process>(std::vector<std::string>{kAiosmtpdPython, "-m", "aiosmtpd", "-n", "-l",
                                                "127.0.0.1:" + std::to_string(port), "--tlscert",
                                                (pki / "server.pem").string(), "--tlskey", (pki / "server.key").string(),
                                                "-c", "aiosmtpd.handlers.Mailbox", maildir.string()},
            Process::Options({}, appliance.root() / "smtp.log"));
        std::this_thread::sleep_for(std::chrono::milliseconds(800));
    }

    std::vector<std::string> messages() const
    {
        std::vector<std::string> found;
        std::error_code error;
        for (const auto& item : fs::directory_iterator(maildir / "new", error))
            found.push_back(readFile(item.path()));
        return found;
    }

    bool waitForMessages(std::size_t count) const
    {
        return waitFor([&] { return messages().size() >= count; }, std::chrono::seconds(30));
    }
};

} // namespace

TEST_CASE("Acknowledgement e-mail carries only the reference", "[site]")
{
    if (!hasAiosmtpd())
        SKIP("python3-aiosmtpd (Debian) is not installed; tools/install-deps installs it");
    Appliance::Options options;
    options.mailRelayPort = freeLoopbackPort();
    Appliance appliance("ack-mail", options);
    const auto client = appliance.publicClient();

    SECTION("delivered over STARTTLS in the reporter's language")
    {
        MailSink sink(appliance, options.mailRelayPort);
        appliance.startAll();
        auto report = withField(validReport("Secret detail about the pool bar"), "contact", "contact");
        report = withField(report, "email", "melder@example.org");
        report = withField(report, "name", "Anna Jansen");
        const auto receipt = client.post("/nl/report", formBody(report));
        REQUIRE(receipt.status == 200);
        const std::string reference = referenceOnReceipt(receipt.body);
        REQUIRE_FALSE(reference.empty());
        REQUIRE(sink.waitForMessages(1));
        const std::string mail = sink.messages().front();
        CHECK(mail.find("melder@example.org") != std::string::npos);
        CHECK(mail.find(reference) != std::string::npos);
        CHECK(mail.find("Content-Language: nl") != std::string::npos);
        CHECK(mail.find("Secret detail") == std::string::npos);
        CHECK(mail.find("pool bar") == std::string::npos);
        CHECK(mail.find("Pattaya") == std::string::npos);
        CHECK(mail.find("Anna") == std::string::npos);
        const auto outbox = readOutbox(appliance.stateFolder(), appliance.tpm().tcti());
        REQUIRE(outbox.size() == 1);
        CHECK(outbox[0].at("state") == "sent");
        CHECK(outbox[0].at("recipient").empty());
        CHECK(appliance.daemonLog().find("melder@example.org") == std::string::npos);
    }
    SECTION("an anonymous reporter gets none")
    {
        MailSink sink(appliance, options.mailRelayPort);
        appliance.startAll();
        REQUIRE(client.post("/en/report", formBody(validReport("anonymous"))).status == 200);
        REQUIRE(appliance.waitForEmptySpool());
        std::this_thread::sleep_for(std::chrono::seconds(2));
        CHECK(sink.messages().empty());
        CHECK(readOutbox(appliance.stateFolder(), appliance.tpm().tcti()).empty());
    }
    SECTION("a relay that is down is retried and the failure is visible")
    {
        appliance.startAll();
        auto report = withField(validReport("retry me"), "contact", "contact");
        report = withField(report, "email", "later@example.org");
        REQUIRE(client.post("/en/report", formBody(report)).status == 200);
        REQUIRE(waitFor([&] { return appliance.daemonLog().find("Failed to send the acknowledgement") != std::string::npos; },
            std::chrono::seconds(20)));
        CHECK(appliance.daemonLog().find("later@example.org") == std::string::npos);
        appliance.stopDaemon();
        const auto pending = readOutbox(appliance.stateFolder(), appliance.tpm().tcti());
        REQUIRE(pending.size() == 1);
        CHECK(pending[0].at("state") == "pending");
        CHECK(pending[0].at("attempts") != "0");
        CHECK(pending[0].at("last_error") != "(null)");
        MailSink sink(appliance, options.mailRelayPort);
        appliance.startDaemon();
        REQUIRE(sink.waitForMessages(1));
        CHECK(sink.messages().front().find("later@example.org") != std::string::npos);
    }
}
