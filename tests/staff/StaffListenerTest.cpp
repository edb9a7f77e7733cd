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
