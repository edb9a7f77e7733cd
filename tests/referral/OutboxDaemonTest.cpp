// The outbox inside the real meldpuntd, against swtpm and the real
// meldpunt-receive: a report sent through the public site is referred and
// delivered from meldpuntd's own outbox thread.

#include "Appliance.h"
#include "Database.h"
#include "KeySealer.h"
#include "Outbox.h"
#include "ReferralFixture.h"
#include "Referrals.h"
#include "Reports.h"
#include "SealedKeyFile.h"

#include <catch2/catch_test_macros.hpp>

#include <cstdlib>
#include <thread>

#include <unistd.h>

using namespace meldpunt;
using namespace meldpunt::test;
namespace fs = std::filesystem;

namespace {

// Runs `work` on the appliance's database while meldpuntd is stopped,
// with the key unsealed from the TPM as meldpuntd does.
template <typename Work> void withDatabase(Appliance& appliance, Work work)
{
    const auto file = tpm::SealedKeyFile::read(appliance.sealedKeyFile());
    tpm::Tpm tpm(appliance.tpm().tcti());
    const SecretBytes key = tpm.unseal(file.key);
    storage::Database database(appliance.databaseFile(), key.span(), storage::OpenMode::MustExist);
    work(database);
}

// Copies the hotline's signing identity and a partner file into a folder
// that meldpuntd's user may read, and configures meldpuntd to use them.
void configureReferrals(Appliance& appliance, unsigned short receiverPort, const std::string& extra = {},
    const std::string& kind = "police", const std::string& website = {})
{
    const fs::path folder = appliance.root() / "referral";
    fs::create_directories(folder);
    for (const auto& name :
        {"hotline-sign.pem", "hotline-sign.key", "hotline-client.pem", "hotline-client.key",
            "partner-ca.pem", "partner-encrypt.pem", "partner-receipt.pem", "partner-client.pem"})
        fs::copy_file(pkiFile(name), folder / name, fs::copy_options::overwrite_existing);
    PartnerOverrides overrides;
    overrides.pemFolder = folder;
    overrides.kind = kind;
    overrides.website = website;
    const auto partners = writePartnerFile(folder, "Politie", receiverPort, overrides);
    if (Appliance::runsAsSeparateUsers()) {
        REQUIRE(::chown(folder.c_str(), Appliance::kDaemonUid, Appliance::kDaemonUid) == 0);
        for (const auto& item : fs::directory_iterator(folder))
            REQUIRE(
                ::chown(item.path().c_str(), Appliance::kDaemonUid, Appliance::kDaemonUid) == 0);
    }
    appliance.setDaemonExtraConfiguration("[referral]\nsigning_certificate = "
        + (folder / "hotline-sign.pem").string() + "\nsigning_key = "
        + (folder / "hotline-sign.key").string() + "\npartners = " + partners.string()
        + "\norganisation = Meldpunt test\ninterval_ms = 200\nfirst_retry_seconds = "
          "1\nmax_retry_seconds = 2\n"
        + extra);
}

// Sends one report through the public site and queues a referral of it.
std::string referOneReport(Appliance& appliance)
{
    const auto receipt = appliance.publicClient().post(
        "/en/report", formBody(validReport("seen at the hotel bar")));
    REQUIRE(receipt.status == 200);
    REQUIRE(appliance.waitForEmptySpool());
    appliance.stopDaemon();
    std::string uuid;
    withDatabase(appliance, [&](storage::Database& database) {
        std::mutex mutex;
        referral::Referrals referrals(database, mutex, testSigner());
        auto ids = database.prepare(
            "SELECT (SELECT id FROM reports), (SELECT id FROM partners WHERE name = 'Politie')");
        REQUIRE(ids.step());
        referral::ReferralRequest request;
        request.reportId = ids.columnInt(0);
        request.partnerId = ids.columnInt(1);
        request.fields = {"country", "what"};
        uuid = referrals.refer(request, referral::formatUtc(referral::Clock::now())).uuid;
    });
    return uuid;
}

std::string referralState(Appliance& appliance, const std::string& uuid)
{
    std::string state;
    withDatabase(appliance, [&](storage::Database& database) {
        auto row
            = database.prepare("SELECT state, attempts, EXISTS (SELECT 1 FROM referral_receipts "
                               "WHERE referral_id = referrals.id) FROM referrals WHERE uuid = ?1");
        row.bind(1, uuid);
        REQUIRE(row.step());
        state = row.columnText(0) + " after " + std::to_string(row.columnInt(1)) + " attempts"
            + (row.columnInt(2) != 0 ? ", receipt stored" : "");
    });
    return state;
}

// Debian's aiosmtpd on loopback, storing every message in a Maildir.
struct MailSink {
    fs::path maildir;
    std::unique_ptr<Process> process;

    MailSink(const Appliance& appliance, unsigned short port)
        : maildir(appliance.root() / "maildir")
    {
        const fs::path pki = appliance.root() / "pki";
        process = std::make_unique<Process>(
            std::vector<std::string>{"/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l",
                "127.0.0.1:" + std::to_string(port), "--tlscert", (pki / "server.pem").string(),
                "--tlskey", (pki / "server.key").string(), "-c", "aiosmtpd.handlers.Mailbox",
                maildir.string()},
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
};

} // namespace

TEST_CASE("Meldpuntd mails the coordinators a content-free alert", "[referral]")
{
    if (std::system("/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1") != 0)
        SKIP("python3-aiosmtpd (Debian) is not installed; tools/install-deps installs it");
    Appliance::Options options;
    options.mailRelayPort = freeLoopbackPort();
    Appliance appliance("referral-alert-mail", options);
    // Nothing listens on the partner's port, so every push fails.
    configureReferrals(appliance, freeLoopbackPort(),
        "alert_after_minutes = 0\nalert_email = coordinators@example.org\n");
    MailSink sink(appliance, options.mailRelayPort);
    appliance.startAll();
    referOneReport(appliance);
    appliance.startDaemon();
    INFO(appliance.daemonLog());
    REQUIRE(waitFor([&] { return !sink.messages().empty(); }, std::chrono::seconds(30)));
    const std::string mail = sink.messages().front();
    CHECK(mail.find("coordinators@example.org") != std::string::npos);
    CHECK(mail.find("not delivered") != std::string::npos);
    CHECK(mail.find("Politie") != std::string::npos);
    CHECK(mail.find("seen at the hotel bar") == std::string::npos);
    CHECK(waitFor(
        [&] {
            return appliance.daemonLog().find("Mailed the alert about referral") != std::string::npos;
        },
        std::chrono::seconds(10)));
    // One alert per referral, however often the push fails.
    std::this_thread::sleep_for(std::chrono::seconds(2));
    CHECK(sink.messages().size() == 1);
}

TEST_CASE("The public site shows the partners of the registry", "[referral]")
{
    Appliance appliance("referral-public-partners");
    configureReferrals(appliance, freeLoopbackPort(), {}, "hotline", "https://hotline.example.org/");
    appliance.startAll();
    const auto file = appliance.publishFolder() / "partners.json";
    REQUIRE(waitFor([&] { return fs::exists(file); }, std::chrono::seconds(20)));
    const std::string published = readFile(file);
    CHECK(published.find("\"Politie\"") != std::string::npos);
    CHECK(published.find("\"hotline\"") != std::string::npos);
    // Nothing of how meldpuntd reaches the partner is published.
    CHECK(published.find("localhost") == std::string::npos);
    CHECK(published.find("BEGIN") == std::string::npos);
    CHECK(published.find("endpoint") == std::string::npos);
    const auto client = appliance.publicClient();

    SECTION("the partner page lists them in every language")
    {
        const auto page = client.get("/nl/info/partners");
        REQUIRE(page.status == 200);
        CHECK(page.body.find("<a href=\"https://hotline.example.org/\">Politie</a>") != std::string::npos);
        CHECK(page.body.find("meldlijn") != std::string::npos);
        CHECK(page.body.find("Nederland") != std::string::npos);
        CHECK(page.body.find("ask us for it") == std::string::npos);
        for (const char* language : {"en", "fr", "de", "es", "ru"}) {
            CAPTURE(language);
            const auto translated = client.get(std::string("/") + language + "/info/partners");
            CHECK(translated.body.find(">Politie</a>") != std::string::npos);
        }
        CHECK(client.get("/en/info/partners").body.find("Netherlands") != std::string::npos);
    }

    SECTION("the form names the hotline of the country chosen")
    {
        const auto form = client.get("/en/report");
        REQUIRE(form.status == 200);
        CHECK(form.body.find("hotline of the country where the material is hosted") != std::string::npos);
        CHECK(form.body.find("href=\"/en/info/partners\"") != std::string::npos);
        const auto again = client.post(
            "/en/report", formBody(withField(withField(validReport(""), "country", "BE"), "what", "")));
        CHECK(again.status == 422);
        CHECK(again.body.find("The hotline of the country you chose is: <a href=\"https://hotline.example.org/\">Politie</a>")
            != std::string::npos);
        const auto elsewhere = client.post(
            "/en/report", formBody(withField(withField(validReport(""), "country", "FR"), "what", "")));
        CHECK(elsewhere.body.find("The hotline of the country you chose is") == std::string::npos);
    }
}

TEST_CASE("Meldpuntd delivers referrals from its outbox", "[referral]")
{
    ScratchFolder scratch("referral-daemon");
    const unsigned short receiverPort = freeLoopbackPort();
    Appliance appliance("referral-daemon");
    configureReferrals(appliance, receiverPort);
    appliance.startAll();
    const std::string uuid = referOneReport(appliance);

    SECTION("the referral is delivered once and its receipt stored")
    {
        Receiver receiver(scratch.path() / "partner", {}, receiverPort);
        appliance.startDaemon();
        INFO(appliance.daemonLog());
        REQUIRE(waitFor(
            [&] { return receiver.storedReferrals().size() == 1; }, std::chrono::seconds(20)));
        CHECK(receiver.storedReferrals()[0].filename() == uuid);
        REQUIRE(waitFor(
            [&] { return appliance.daemonLog().find("Delivered referral") != std::string::npos; },
            std::chrono::seconds(10)));
        appliance.stopDaemon();
        CHECK(referralState(appliance, uuid) == "delivered after 1 attempts, receipt stored");
    }

    SECTION("meldpuntd restarted mid-retry still delivers once")
    {
        appliance.startDaemon();
        INFO(appliance.daemonLog());
        REQUIRE(waitFor(
            [&] {
                return appliance.daemonLog().find("Failed to push referral") != std::string::npos;
            },
            std::chrono::seconds(20)));
        appliance.stopDaemon();
        CHECK(referralState(appliance, uuid).starts_with("queued after "));

        Receiver receiver(scratch.path() / "partner", {}, receiverPort);
        appliance.startDaemon();
        REQUIRE(waitFor(
            [&] { return receiver.storedReferrals().size() == 1; }, std::chrono::seconds(20)));
        REQUIRE(waitFor(
            [&] { return appliance.daemonLog().find("Delivered referral") != std::string::npos; },
            std::chrono::seconds(10)));
        appliance.stopDaemon();
        CHECK(referralState(appliance, uuid).starts_with("delivered after "));
        CHECK(receiver.storedReferrals().size() == 1);
        // The log names the referral and the partner, never the report.
        CHECK(appliance.daemonLog().find("seen at the hotel bar") == std::string::npos);
    }
}
