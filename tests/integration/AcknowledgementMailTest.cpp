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

    enum class Tls { Offered, NotOffered };

    // Without TLS the relay offers no STARTTLS, which meldpuntd must refuse
    // to send through.
    MailSink(const Appliance& appliance, unsigned short port, Tls tls = Tls::Offered)
        : maildir(appliance.root() / "maildir")
    {
        const fs::path pki = appliance.root() / "pki";
        std::vector<std::string> command = {kAiosmtpdPython, "-m", "aiosmtpd", "-n", "-l",
            "127.0.0.1:" + std::to_string(port)};
        if (tls == Tls::Offered) {
            for (const auto& argument : {std::string("--tlscert"), (pki / "server.pem").string(), std::string("--tlskey"),
                     (pki / "server.key").string()})
                command.push_back(argument);
        }
        for (const auto& argument : {std::string("-c"), std::string("aiosmtpd.handlers.Mailbox"), maildir.string()})
            command.push_back(argument);
        process = std::make_unique<Process>(command, Process::Options({}, appliance.root() / "smtp.log"));
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

TEST_CASE("Acknowledgement e-mail ends failed", "[site]")
{
    if (!hasAiosmtpd())
        SKIP("python3-aiosmtpd (Debian) is not installed; tools/install-deps installs it");
    Appliance::Options options;
    options.mailRelayPort = freeLoopbackPort();
    options.mailMaxAttempts = 3;
    Appliance appliance("ack-mail-failed", options);
    const auto client = appliance.publicClient();
    auto report = withField(validReport("nobody takes this mail"), "contact", "contact");
    report = withField(report, "email", "unlucky@example.org");

    // Each failure is retried after a delay that doubles (1 s, then 2 s).
    // The third failed attempt gives up, and the row stays for staff to
    // see, with the cause and no address.
    auto sendAndWaitForGivingUp = [&] {
        REQUIRE(client.post("/en/report", formBody(report)).status == 200);
        REQUIRE(waitFor([&] { return appliance.daemonLog().find("; giving up") != std::string::npos; },
            std::chrono::seconds(60)));
        const std::string log = appliance.daemonLog();
        CHECK(log.find("(attempt 1)") != std::string::npos);
        CHECK(log.find("(attempt 2)") != std::string::npos);
        CHECK(log.find("(attempt 3)") != std::string::npos);
        CHECK(log.find("(attempt 4)") == std::string::npos);
        CHECK(log.find("unlucky@example.org") == std::string::npos);
        appliance.stopDaemon();
        const auto outbox = readOutbox(appliance.stateFolder(), appliance.tpm().tcti());
        REQUIRE(outbox.size() == 1);
        CHECK(outbox[0].at("state") == "failed");
        CHECK(outbox[0].at("attempts") == "3");
        return outbox[0].at("last_error");
    };

    SECTION("a relay that refuses STARTTLS")
    {
        MailSink sink(appliance, options.mailRelayPort, MailSink::Tls::NotOffered);
        appliance.startAll();
        const std::string error = sendAndWaitForGivingUp();
        CHECK(error.find("STARTTLS") != std::string::npos);
        CHECK(sink.messages().empty());
    }
    SECTION("a relay that nobody answers")
    {
        appliance.startAll();
        const std::string error = sendAndWaitForGivingUp();
        CHECK(error != "(null)");
        CHECK_FALSE(error.empty());
    }
}
