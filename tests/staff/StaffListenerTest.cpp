// The staff interface as staff reach it: through the staff nginx over
// TLS, with meldpuntd on swtpm and a report sent through the public site.

#include "Appliance.h"
#include "Reports.h"
#include "StoredReports.h"
#include "TestData.h"
#include "Totp.h"

#include "Crypto.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <regex>

using Catch::Matchers::ContainsSubstring;
using namespace meldpunt::test;
namespace totp = meldpunt::staff::totp;

namespace {

// Keeps the cookies that the staff listener sets, like a browser.
class Browser {
public:
    explicit Browser(const Appliance& appliance)
        : client_(appliance.staffClient())
    {
    }

    HttpResponse get(const std::string& path) { return keep(client_.get(path, cookieHeader())); }

    HttpResponse post(const std::string& path, Fields fields)
    {
        fields.emplace_back("csrf", csrf_);
        return keep(client_.post(path, formBody(fields), cookieHeader()));
    }

    std::vector<std::string> lastSetCookies;

private:
    std::vector<std::string> cookieHeader() const
    {
        std::string header;
        for (const auto& [name, value] : cookies_)
            header += (header.empty() ? "" : "; ") + name + "=" + value;
        return header.empty() ? std::vector<std::string>{} : std::vector<std::string>{"Cookie: " + header};
    }

    HttpResponse keep(HttpResponse response)
    {
        lastSetCookies = response.setCookies;
        for (const auto& cookie : response.setCookies) {
            const auto equals = cookie.find('=');
            const std::string name = cookie.substr(0, equals);
            const std::string value = cookie.substr(equals + 1, cookie.find(';') - equals - 1);
            if (cookie.find("Max-Age=0") != std::string::npos)
                cookies_.erase(name);
            else
                cookies_[name] = value;
        }
        std::smatch match;
        static const std::regex token("name=\"csrf\" value=\"([^\"]+)\"");
        if (std::regex_search(response.body, match, token))
            csrf_ = match[1];
        return response;
    }

    HttpsClient client_;
    std::map<std::string, std::string> cookies_;
    std::string csrf_;
};

std::vector<std::uint8_t> fromBase32(const std::string& text)
{
    static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    std::vector<std::uint8_t> bytes;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : text) {
        buffer = (buffer << 5) | static_cast<unsigned>(alphabet.find(c));
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            bytes.push_back(static_cast<std::uint8_t>(buffer >> bits));
        }
    }
    return bytes;
}

// Logs in with the password and enrols TOTP at the first login; returns
// the TOTP secret that the enrolment page showed.
std::vector<std::uint8_t> logInAndEnrol(Browser& browser, const std::string& username, const std::string& password)
{
    browser.get("/login");
    const auto login = browser.post("/login", {{"username", username}, {"password", password}});
    REQUIRE(login.status == 303);
    REQUIRE(login.header("location") == "/enrol");
    const auto enrol = browser.get("/enrol");
    std::smatch match;
    const std::regex secretPattern("<code class=\"secret\">([A-Z2-7]+)</code>");
    REQUIRE(std::regex_search(enrol.body, match, secretPattern));
    const auto secret = fromBase32(match[1]);
    const auto confirmed = browser.post("/enrol", {{"code", totp::generate(secret, std::chrono::system_clock::now())}});
    REQUIRE(confirmed.status == 200);
    return secret;
}

} // namespace

TEST_CASE("Staff listener through the staff edge", "[staff][appliance]")
{
    Appliance appliance("staff-listener");
    const std::string recoveryKey = appliance.initializeKeys();
    appliance.startAll();
    REQUIRE(appliance.publicClient().post("/en/report", formBody(validReport("seen near the pier"))).status == 200);
    REQUIRE(appliance.waitForEmptySpool());
    REQUIRE(std::filesystem::exists(appliance.setupCodeFile()));
    std::string setupCode = readFile(appliance.setupCodeFile());
    setupCode.pop_back();

    Browser admin(appliance);
    admin.get("/setup");
    const auto created = admin.post("/setup", {{"setup_code", setupCode}, {"username", "root"},
        {"password", "correct horse battery"}, {"password_again", "correct horse battery"}});
    REQUIRE(created.status == 200);
    CHECK_FALSE(std::filesystem::exists(appliance.setupCodeFile()));
    logInAndEnrol(admin, "root", "correct horse battery");

    SECTION("the session cookie and the page headers survive the edge")
    {
        REQUIRE_FALSE(admin.lastSetCookies.empty());
        const std::string& cookie = admin.lastSetCookies.front();
        CHECK(cookie.starts_with("__Host-meldpunt-staff="));
        CHECK_THAT(cookie, ContainsSubstring("Secure"));
        CHECK_THAT(cookie, ContainsSubstring("HttpOnly"));
        CHECK_THAT(cookie, ContainsSubstring("SameSite=Strict"));
        const auto page = admin.get("/accounts");
        CHECK(page.status == 200);
        CHECK(page.header("cache-control") == "no-store");
        CHECK_THAT(page.header("content-security-policy"), ContainsSubstring("frame-ancestors 'none'"));
    }

    SECTION("a form over the size limit gets the staff answer every time")
    {
        // Well over meldpuntd's form limit and under the edge's, so the
        // daemon answers while the rest of the body is still arriving.
        const std::string password(600 * 1024, 'p');
        for (int attempt = 0; attempt < 5; ++attempt) {
            const auto answer = admin.post("/login", {{"username", "root"}, {"password", password}});
            CHECK(answer.status == 413);
            CHECK_THAT(answer.body, ContainsSubstring("The form is too large"));
        }
    }

    SECTION("a caseworker created by the admin logs in and reads the report")
    {
        admin.get("/accounts");
        REQUIRE(admin.post("/accounts", {{"username", "anna"}, {"role", "caseworker"},
                    {"password", "anna's first password"}}).status == 303);
        Browser anna(appliance);
        logInAndEnrol(anna, "anna", "anna's first password");
        const auto inbox = anna.get("/inbox");
        REQUIRE(inbox.status == 200);
        CHECK_THAT(inbox.body, ContainsSubstring("href=\"/cases/1\""));
        const auto page = anna.get("/cases/1");
        CHECK(page.status == 200);
        CHECK_THAT(page.body, ContainsSubstring("seen near the pier"));
        CHECK(anna.post("/cases/1/status", {{"status", "acknowledged"}}).status == 303);
    }

    SECTION("the audit chain verifies on the console and records the staff address")
    {
        const auto result = appliance.runKeysTool("verify-audit");
        CHECK(result.exitStatus == 0);
        CHECK_THAT(result.output, ContainsSubstring("The audit log verifies"));
    }

    SECTION("the recovery key makes a code for a new admin on the console")
    {
        const auto result = appliance.runKeysTool("new-admin-code", recoveryKey + "\n");
        REQUIRE(result.exitStatus == 0);
        std::smatch match;
        const std::regex codePattern("([A-Z2-7]{4}(-[A-Z2-7]{4}){4})");
        REQUIRE(std::regex_search(result.output, match, codePattern));
        Browser second(appliance);
        second.get("/setup");
        CHECK(second.post("/setup", {{"setup_code", match[1]}, {"username", "second-admin"},
                  {"password", "another long password"}, {"password_again", "another long password"}}).status == 200);
        CHECK_THAT(appliance.daemonLog(), !ContainsSubstring(std::string(match[1])));
    }

    SECTION("a wrong recovery key makes no code")
    {
        const auto result = appliance.runKeysTool("new-admin-code", "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA\n");
        CHECK(result.exitStatus != 0);
    }

    CHECK_THAT(appliance.daemonLog(), !ContainsSubstring(setupCode));
}

TEST_CASE("Site content reaches the public site", "[staff][appliance]")
{
    Appliance appliance("site-content");
    appliance.initializeKeys();
    appliance.startAll();
    REQUIRE(std::filesystem::exists(appliance.setupCodeFile()));
    std::string setupCode = readFile(appliance.setupCodeFile());
    setupCode.pop_back();
    Browser admin(appliance);
    admin.get("/setup");
    REQUIRE(admin.post("/setup", {{"setup_code", setupCode}, {"username", "root"},
                {"password", "correct horse battery"}, {"password_again", "correct horse battery"}}).status == 200);
    logInAndEnrol(admin, "root", "correct horse battery");
    admin.get("/accounts");
    for (const auto& [name, role] : {std::pair{"cora", "coordinator"}, std::pair{"anna", "caseworker"},
             std::pair{"audra", "auditor"}})
        REQUIRE(admin.post("/accounts", {{"username", name}, {"role", role}, {"password", std::string(name) + "'s first password"}})
                    .status == 303);
    Browser cora(appliance);
    logInAndEnrol(cora, "cora", "cora's first password");
    const auto site = appliance.publicClient();

    // A text with every hostile value, as text and as a link's label.
    std::string markdown = "# Veilig melden\n\nEen **nieuwe** tekst.\n\n";
    for (const auto& value : hostileInputs()) {
        if (std::any_of(value.begin(), value.end(),
                [](char c) { return static_cast<unsigned char>(c) < 0x20 && c != '\r' && c != '\n'; }))
            continue;
        markdown += "- " + value + "\n- [" + value + "](/nl/report)\n";
    }
    cora.get("/site/text?page=info-anonymity&language=nl");
    REQUIRE(cora.post("/site/text", {{"page", "info-anonymity"}, {"language", "nl"}, {"markdown", markdown}}).status == 303);
    auto page = site.get("/nl/info/anonymity");
    REQUIRE(page.status == 200);
    CHECK_THAT(page.body, ContainsSubstring("<h1>Veilig melden</h1>"));
    CHECK_THAT(page.body, ContainsSubstring("<strong>nieuwe</strong>"));
    CHECK_THAT(page.body, ContainsSubstring("<li>&lt;script&gt;alert(1)&lt;/script&gt;</li>"));
    // Template syntax in a text is shown, never evaluated.
    CHECK_THAT(page.body, ContainsSubstring("<li>{{7"));
    CHECK(page.body.find("<li>49") == std::string::npos);
    CHECK(page.body.find("<script>alert") == std::string::npos);
    CHECK(page.body.find("<img") == std::string::npos);
    CHECK(page.body.find("href=\"javascript:") == std::string::npos);
    CHECK_THAT(site.get("/en/info/anonymity").body, ContainsSubstring("<h1>Reporting anonymously</h1>"));
    // A link the public site would not show is refused in the staff page.
    CHECK(cora.post("/site/text", {{"page", "info-anonymity"}, {"language", "nl"},
                                      {"markdown", "[klik](javascript:alert(1))"}}).status == 400);
    REQUIRE(cora.post("/site/text/restore", {{"page", "info-anonymity"}, {"language", "nl"}}).status == 303);
    CHECK(site.get("/nl/info/anonymity").body.find("Veilig melden") == std::string::npos);

    // A new category reaches the form and its reports are stored.
    cora.get("/categories");
    const auto created = cora.post("/categories", {{"code", "grooming_online"}, {"label_en", "Online grooming"},
        {"label_nl", "Online grooming van kinderen"}});
    REQUIRE(created.status == 303);
    const std::string categoryPath = created.header("location");
    CHECK_THAT(site.get("/nl/report").body, ContainsSubstring(
        "value=\"grooming_online\"><label for=\"category-added-grooming_online\">Online grooming van kinderen</label>"));
    CHECK_THAT(site.get("/fr/report").body, ContainsSubstring(">Online grooming</label>"));
    cora.get(categoryPath);
    REQUIRE(cora.post(categoryPath + "/steps", {{"text", "Note the profile names"}}).status == 303);
    const auto sent = site.post("/en/report",
        formBody(withField(validReport("messages from a stranger"), "category", "grooming_online")));
    REQUIRE(sent.status == 200);
    REQUIRE(appliance.waitForEmptySpool());
    const auto stored = readStoredReports(appliance.stateFolder(), appliance.tpm().tcti());
    REQUIRE(stored.size() == 1);
    CHECK(stored.front().at("category") == "grooming_online");

    // A disabled category leaves the form and is refused in the reporter's language.
    REQUIRE(cora.post(categoryPath + "/disable", {}).status == 303);
    CHECK(site.get("/en/report").body.find("grooming_online") == std::string::npos);
    const auto refused = site.post("/en/report",
        formBody(withField(validReport("another stranger"), "category", "grooming_online")));
    CHECK(refused.status == 422);
    CHECK_THAT(refused.body, ContainsSubstring("We no longer offer the choice you made."));

    // The case page shows the category's checklist; ticking is stored and audited.
    Browser anna(appliance);
    logInAndEnrol(anna, "anna", "anna's first password");
    page = anna.get("/cases/1");
    REQUIRE(page.status == 200);
    CHECK_THAT(page.body, ContainsSubstring("<label for=\"step-1\">Note the profile names</label>"));
    REQUIRE(anna.post("/cases/1/protocol", {{"step", "1"}}).status == 303);
    CHECK_THAT(anna.get("/cases/1").body, ContainsSubstring("value=\"1\" checked"));
    Browser audra(appliance);
    logInAndEnrol(audra, "audra", "audra's first password");
    const auto audit = audra.get("/audit");
    CHECK_THAT(audit.body, ContainsSubstring("case.protocol_step_ticked"));
    CHECK_THAT(audit.body, ContainsSubstring("category.created"));
    CHECK_THAT(audit.body, ContainsSubstring("site_text.saved"));
    CHECK(audit.body.find("Veilig melden") == std::string::npos);
}

namespace {

// Debian's aiosmtpd on loopback with a certificate from the test PKI,
// storing every message in a Maildir.
struct MailSink {
    std::filesystem::path maildir;
    std::unique_ptr<Process> process;

    MailSink(const Appliance& appliance, unsigned short port)
        : maildir(appliance.root() / "maildir")
    {
        const auto pki = appliance.root() / "pki";
        process = std::make_unique<Process>(
            std::vector<std::string>{"/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l",
                "127.0.0.1:" + std::to_string(port), "--tlscert", (pki / "server.pem").string(),
                "--tlskey", (pki / "server.key").string(), "-c", "aiosmtpd.handlers.Mailbox",
                maildir.string()},
            Process::Options({}, appliance.root() / "smtp.log"));
        waitFor([&] { return std::filesystem::exists(maildir / "new"); }, std::chrono::seconds(10));
    }

    // The messages to `recipient`, oldest first, with quoted-printable
    // soft line breaks and escapes decoded.
    std::vector<std::string> messagesTo(const std::string& recipient) const
    {
        std::vector<std::pair<std::filesystem::file_time_type, std::string>> found;
        std::error_code error;
        for (const auto& item : std::filesystem::directory_iterator(maildir / "new", error)) {
            const std::string message = decodeQuotedPrintable(readFile(item.path()));
            if (message.find("To: " + recipient) != std::string::npos)
                found.emplace_back(item.last_write_time(), message);
        }
        std::sort(found.begin(), found.end());
        std::vector<std::string> messages;
        for (auto& [time, message] : found)
            messages.push_back(std::move(message));
        return messages;
    }

    static std::string decodeQuotedPrintable(const std::string& text)
    {
        std::string decoded;
        for (std::size_t at = 0; at < text.size(); ++at) {
            if (text[at] != '=' || at + 2 >= text.size()) {
                decoded += text[at];
            } else if (text[at + 1] == '\r' || text[at + 1] == '\n') {
                at += text[at + 1] == '\r' ? 2 : 1;
            } else if (std::isxdigit(static_cast<unsigned char>(text[at + 1]))
                && std::isxdigit(static_cast<unsigned char>(text[at + 2]))) {
                decoded += static_cast<char>(std::stoi(text.substr(at + 1, 2), nullptr, 16));
                at += 2;
            } else {
                decoded += text[at]; // an encoded word in a header, such as =?utf-8?q?...
            }
        }
        return decoded;
    }
};

bool hasAiosmtpd()
{
    return std::system("/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1") == 0;
}

// Creates the first admin with the setup code and logs it in.
void setUpAdmin(Appliance& appliance, Browser& admin)
{
    REQUIRE(waitFor([&] { return std::filesystem::exists(appliance.setupCodeFile()); }, std::chrono::seconds(15)));
    std::string setupCode = readFile(appliance.setupCodeFile());
    setupCode.pop_back();
    admin.get("/setup");
    REQUIRE(admin.post("/setup", {{"setup_code", setupCode}, {"username", "root"},
                {"password", "correct horse battery"}, {"password_again", "correct horse battery"}}).status == 200);
    logInAndEnrol(admin, "root", "correct horse battery");
}

} // namespace

TEST_CASE("Report notice mail without content", "[staff][appliance]")
{
    if (!hasAiosmtpd())
        SKIP("python3-aiosmtpd (Debian) is not installed; tools/install-deps installs it");
    Appliance::Options options;
    options.mailRelayPort = freeLoopbackPort();
    Appliance appliance("staff-notice-mail", options);
    std::ofstream(appliance.root() / "synchronized") << "";
    appliance.setDaemonExtraConfiguration("[health]\ninterval_seconds = 1\ntime_sync_file = "
        + (appliance.root() / "synchronized").string() + "\n[staff]\nurl = https://staff.example.org/\n");
    MailSink sink(appliance, options.mailRelayPort);
    appliance.startAll();

    Browser admin(appliance);
    setUpAdmin(appliance, admin);
    admin.get("/accounts");
    REQUIRE(admin.post("/accounts", {{"username", "anna"}, {"role", "caseworker"},
                {"password", "anna's first password"}}).status == 303);
    REQUIRE(admin.post("/accounts", {{"username", "bert"}, {"role", "caseworker"},
                {"password", "bert's first password"}}).status == 303);
    // The admin is account 1, anna 2 and bert 3; only anna has an address.
    REQUIRE(admin.post("/accounts/2/notice-email", {{"email", "anna@example.org"}}).status == 303);

    auto report = validReport("A glass-bottom boat near the jetty");
    report = withField(report, "country", "KH");
    report = withField(report, "place", "Sihanoukville pier");
    report = withField(report, "category", "online_material");
    const auto receipt = appliance.publicClient().post("/en/report", formBody(report));
    REQUIRE(receipt.status == 200);
    const std::string reference = referenceOnReceipt(receipt.body);
    REQUIRE_FALSE(reference.empty());

    REQUIRE(waitFor([&] { return !sink.messagesTo("anna@example.org").empty(); }, std::chrono::seconds(30)));
    const std::string message = sink.messagesTo("anna@example.org").front();
    // The subject and the body: the headers' ids and boundaries are random
    // text that may hold a two-letter country code by chance.
    const auto subjectAt = message.find("Subject: ");
    REQUIRE(subjectAt != std::string::npos);
    const auto bodyAt = message.find("\n\n");
    REQUIRE(bodyAt != std::string::npos);
    const std::string mail = message.substr(subjectAt, message.find('\n', subjectAt) - subjectAt) + message.substr(bodyAt);
    CHECK_THAT(mail, ContainsSubstring("1 new report waits"));
    CHECK_THAT(mail, ContainsSubstring("https://staff.example.org/"));
    for (const auto& [field, value] : report) {
        if (field == "form_end" || field == "consent" || field == "contact")
            continue;
        CHECK_THAT(mail, !ContainsSubstring(value));
    }
    CHECK_THAT(mail, !ContainsSubstring(reference));
    CHECK_THAT(mail, !ContainsSubstring("Cambodia"));
    CHECK_THAT(appliance.daemonLog(), !ContainsSubstring("anna@example.org"));

    Browser anna(appliance);
    logInAndEnrol(anna, "anna", "anna's first password");
    CHECK_THAT(anna.get("/inbox").body, ContainsSubstring("<span class=\"notice-waiting\">1</span>"));

    // A second report gets a mail of its own, which counts only the new
    // one: the first report's event was mailed once.
    REQUIRE(appliance.publicClient().post("/en/report", formBody(validReport("a second report"))).status == 200);
    REQUIRE(waitFor([&] { return sink.messagesTo("anna@example.org").size() >= 2; }, std::chrono::seconds(30)));
    const auto mails = sink.messagesTo("anna@example.org");
    CHECK(mails.size() == 2);
    CHECK_THAT(mails.back(), ContainsSubstring("1 new report waits"));
    CHECK(sink.messagesTo("bert").empty());
    CHECK_THAT(anna.get("/inbox").body, ContainsSubstring("<span class=\"notice-waiting\">2</span>"));
}

TEST_CASE("Health alert mailed once per onset", "[staff][appliance]")
{
    if (!hasAiosmtpd())
        SKIP("python3-aiosmtpd (Debian) is not installed; tools/install-deps installs it");
    Appliance::Options options;
    options.mailRelayPort = freeLoopbackPort();
    Appliance appliance("staff-health-mail", options);
    // The clock counts as synchronised while this file exists, as
    // systemd-timesyncd's marker does; it is missing at the start.
    const auto synchronised = appliance.root() / "synchronized";
    appliance.setDaemonExtraConfiguration("[health]\ninterval_seconds = 1\nalert_email = tech@example.org\n"
                                          "time_sync_file = " + synchronised.string() + "\n");
    MailSink sink(appliance, options.mailRelayPort);
    appliance.startAll();
    const std::string clockTitle = "The clock is not synchronised";
    const std::string uncleanTitle = "meldpuntd did not stop cleanly";

    REQUIRE(waitFor([&] { return !sink.messagesTo("tech@example.org").empty(); }, std::chrono::seconds(30)));
    CHECK_THAT(sink.messagesTo("tech@example.org").front(), ContainsSubstring(clockTitle));

    Browser admin(appliance);
    setUpAdmin(appliance, admin);
    CHECK_THAT(admin.get("/accounts").body, ContainsSubstring(clockTitle));
    REQUIRE(admin.post("/accounts", {{"username", "anna"}, {"role", "caseworker"},
                {"password", "anna's first password"}}).status == 303);
    Browser anna(appliance);
    logInAndEnrol(anna, "anna", "anna's first password");
    CHECK_THAT(anna.get("/inbox").body, !ContainsSubstring(clockTitle));

    // A kill leaves the running marker, a new condition; the clock, still
    // unsynchronised, is not mailed again after the restart.
    appliance.killDaemon();
    appliance.startDaemon();
    REQUIRE(waitFor([&] { return sink.messagesTo("tech@example.org").size() >= 2; }, std::chrono::seconds(30)));
    const std::string second = sink.messagesTo("tech@example.org").back();
    CHECK_THAT(second, ContainsSubstring(uncleanTitle));
    CHECK_THAT(second, !ContainsSubstring(clockTitle));

    // meldpunt-public killed and started again: its own alert, once.
    appliance.killPublic();
    appliance.startPublic();
    REQUIRE(waitFor([&] { return sink.messagesTo("tech@example.org").size() >= 3; }, std::chrono::seconds(30)));
    const std::string third = sink.messagesTo("tech@example.org").back();
    CHECK_THAT(third, ContainsSubstring("meldpunt-public did not stop cleanly"));
    CHECK_THAT(third, !ContainsSubstring(uncleanTitle));
    CHECK_THAT(admin.get("/accounts").body, ContainsSubstring("meldpunt-public did not stop cleanly"));

    // Cleared and back: mailed again, and only the clock.
    std::ofstream(synchronised) << "";
    REQUIRE(waitFor([&] { return appliance.daemonLog().find("'clock_unsynchronised' has cleared") != std::string::npos; },
        std::chrono::seconds(30)));
    std::filesystem::remove(synchronised);
    REQUIRE(waitFor([&] { return sink.messagesTo("tech@example.org").size() >= 4; }, std::chrono::seconds(30)));
    auto mails = sink.messagesTo("tech@example.org");
    CHECK(mails.size() == 4);
    CHECK_THAT(mails.back(), ContainsSubstring(clockTitle));
    CHECK_THAT(mails.back(), !ContainsSubstring(uncleanTitle));

    // While locked the database is closed, and the alert still goes out.
    appliance.stopDaemon();
    appliance.setDaemonTcti("swtpm:host=127.0.0.1,port=" + std::to_string(freeLoopbackPort(2)));
    appliance.startDaemon();
    REQUIRE(appliance.waitForNotification("STATUS=Locked: TPM not reachable"));
    REQUIRE(waitFor([&] { return sink.messagesTo("tech@example.org").size() >= 5; }, std::chrono::seconds(30)));
    mails = sink.messagesTo("tech@example.org");
    CHECK(mails.size() == 5);
    CHECK_THAT(mails.back(), ContainsSubstring("The database is locked"));
    CHECK_THAT(mails.back(), ContainsSubstring("TPM not reachable"));
    CHECK_THAT(mails.back(), !ContainsSubstring(clockTitle));
}

TEST_CASE("Failed backup raises health alert", "[staff][appliance]")
{
    if (!hasAiosmtpd())
        SKIP("python3-aiosmtpd (Debian) is not installed; tools/install-deps installs it");
    Appliance::Options options;
    options.mailRelayPort = freeLoopbackPort();
    options.scheduledBackups = true;
    Appliance appliance("staff-backup-alert", options);
    // A file where the backup folder should be makes the first scheduled
    // backup, written when the database opens, fail.
    std::filesystem::remove_all(appliance.backupFolder());
    std::ofstream(appliance.backupFolder()) << "not a folder";
    std::ofstream(appliance.root() / "synchronized") << "";
    appliance.setDaemonExtraConfiguration("[health]\ninterval_seconds = 1\nalert_email = tech@example.org\n"
                                          "time_sync_file = " + (appliance.root() / "synchronized").string() + "\n");
    MailSink sink(appliance, options.mailRelayPort);
    appliance.startAll();

    REQUIRE(waitFor([&] { return !sink.messagesTo("tech@example.org").empty(); }, std::chrono::seconds(30)));
    CHECK_THAT(sink.messagesTo("tech@example.org").front(), ContainsSubstring("The scheduled backup failed"));
    Browser admin(appliance);
    setUpAdmin(appliance, admin);
    CHECK_THAT(admin.get("/accounts").body, ContainsSubstring("The scheduled backup failed"));
}

TEST_CASE("Setup page makes the recovery key", "[staff][keys][appliance]")
{
    // As on the appliance: meldpuntd runs without a terminal, and no
    // console made a recovery key.
    Appliance::Options options;
    options.recoveryKeyOnSetupPage = true;
    Appliance appliance("setup-recovery-key", options);
    appliance.startAll();
    REQUIRE(std::filesystem::exists(appliance.setupCodeFile()));
    std::string setupCode = readFile(appliance.setupCodeFile());
    setupCode.pop_back();
    const auto wrapFile = appliance.stateFolder() / "recovery-wrap.json";
    CHECK_FALSE(std::filesystem::exists(wrapFile));

    Browser admin(appliance);
    CHECK_THAT(admin.get("/setup").body, ContainsSubstring("First: the recovery key"));
    const auto shown = admin.post("/setup", {{"step", "recovery_key"}, {"setup_code", setupCode}});
    REQUIRE(shown.status == 200);
    std::smatch match;
    REQUIRE(std::regex_search(shown.body, match, std::regex(R"re(id="recovery-key">([0-9A-Z-]{47})<)re")));
    const std::string key = match[1];
    REQUIRE(std::regex_search(shown.body, match, std::regex(R"re(name="recovery_token" value="([^"]+)")re")));
    const std::string token = match[1];
    REQUIRE(std::regex_search(shown.body, match, std::regex(R"re(for="first_group">Group ([1-8])<)re")));
    const int first = std::stoi(match[1]);
    REQUIRE(std::regex_search(shown.body, match, std::regex(R"re(for="second_group">Group ([1-8])<)re")));
    const int second = std::stoi(match[1]);
    const auto group = [&](int number) { return key.substr(static_cast<std::size_t>(number - 1) * 6, 5); };

    const auto wrong = admin.post("/setup", {{"step", "recovery_confirm"}, {"recovery_token", token},
        {"first_group", group(second)}, {"second_group", group(first)}});
    CHECK(wrong.status == 400);
    CHECK_THAT(wrong.body, ContainsSubstring(key));
    CHECK_FALSE(std::filesystem::exists(wrapFile));

    const auto stored = admin.post("/setup", {{"step", "recovery_confirm"}, {"recovery_token", token},
        {"first_group", group(first)}, {"second_group", group(second)}});
    CHECK(stored.status == 200);
    CHECK_THAT(stored.body, ContainsSubstring("The recovery key is stored"));
    CHECK(std::filesystem::exists(wrapFile));

    // The key shown unlocks the data key on the console, as after a TPM
    // change.
    const auto recovered = appliance.runKeysTool("recover", key + "\n");
    INFO(recovered.output);
    CHECK(recovered.exitStatus == 0);
    CHECK(appliance.runKeysTool("recover", "APH90-DPHWF-5THER-1DP9A-0YXNT-KBT63-HFQ0V-GR0NW\n").exitStatus != 0);

    const auto created = admin.post("/setup", {{"setup_code", setupCode}, {"username", "root"},
        {"password", "correct horse battery"}, {"password_again", "correct horse battery"}});
    CHECK(created.status == 200);
    const std::string log = appliance.daemonLog();
    CHECK_THAT(log, ContainsSubstring("Created a recovery key on the setup page"));
    for (int number = 1; number <= 8; ++number)
        CHECK_THAT(log, !ContainsSubstring(group(number)));
}
