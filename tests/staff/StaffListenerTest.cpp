// The staff interface as staff reach it: through the staff nginx over
// TLS, with meldpuntd on swtpm and a report sent through the public site.

#include "Appliance.h"
#include "Reports.h"
#include "Totp.h"

#include "Crypto.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

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
