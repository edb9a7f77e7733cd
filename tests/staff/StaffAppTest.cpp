#include "StaffApp.h"
#include "StaffAppFixture.h"
#include "TestData.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <regex>

using namespace meldpunt::staff;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::StartsWith;
using meldpunt::test::header;
using meldpunt::test::headers;
using meldpunt::test::StaffAppFixture;
using meldpunt::test::StaffClient;

namespace {

std::string firstMatch(const std::string& text, const std::string& pattern)
{
    std::smatch match;
    const std::regex expression(pattern);
    return std::regex_search(text, match, expression) ? std::string(match[1]) : std::string();
}

bool audited(StaffAppFixture& fixture, const std::string& action, const std::string& objectId = "*")
{
    const auto entries = fixture.auditEntries();
    return std::any_of(entries.begin(), entries.end(), [&](const AuditEntry& entry) {
        return entry.action == action && (objectId == "*" || entry.objectId == objectId);
    });
}

} // namespace

TEST_CASE("First admin from the setup code", "[staff]")
{
    StaffAppFixture fixture("staff-setup");
    const std::string code = fixture.app->prepareFirstSetup();
    const auto codeFile = fixture.db.scratch.path() / "setup-code";
    StaffClient client(*fixture.app);

    SECTION("the code is written only to a file of mode 0600")
    {
        REQUIRE(std::filesystem::exists(codeFile));
        struct stat info {};
        REQUIRE(::stat(codeFile.c_str(), &info) == 0);
        CHECK((info.st_mode & 0777) == 0600);
        CHECK(meldpunt::test::readFile(codeFile) == code + "\n");
    }

    SECTION("the login page points to the setup page while no account exists")
    {
        CHECK_THAT(client.get("/login").body, ContainsSubstring("href=\"/setup\""));
    }

    SECTION("a wrong code creates nothing and is audited")
    {
        client.get("/setup");
        const auto response = client.post("/setup", {{"setup_code", "AAAA-BBBB-CCCC-DDDD-EEEE"}, {"username", "root"},
            {"password", "correct horse battery"}, {"password_again", "correct horse battery"}});
        CHECK(response.status == 403);
        CHECK_THAT(response.body, ContainsSubstring("setup code is wrong"));
        CHECK(audited(fixture, "setup.failed"));
        CHECK(std::filesystem::exists(codeFile));
    }

    SECTION("a short password keeps the code valid and the name typed")
    {
        client.get("/setup");
        const auto response = client.post("/setup", {{"setup_code", code}, {"username", "root"},
            {"password", "short"}, {"password_again", "short"}});
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("at least 12"));
        CHECK_THAT(response.body, ContainsSubstring("value=\"root\""));
        client.get("/setup");
        CHECK(client.post("/setup", {{"setup_code", code}, {"username", "root"}, {"password", "correct horse battery"},
                  {"password_again", "correct horse battery"}}).status == 200);
    }

    SECTION("the right code creates an admin once and the file goes")
    {
        client.get("/setup");
        const auto response = client.post("/setup", {{"setup_code", code}, {"username", "root"},
            {"password", "correct horse battery"}, {"password_again", "correct horse battery"}});
        CHECK(response.status == 200);
        CHECK_FALSE(std::filesystem::exists(codeFile));
        CHECK(audited(fixture, "account.created_with_setup_code"));
        client.get("/setup");
        CHECK(client.post("/setup", {{"setup_code", code}, {"username", "root2"}, {"password", "correct horse battery"},
                  {"password_again", "correct horse battery"}}).status == 403);
    }

    SECTION("no second setup code is made once an account exists")
    {
        fixture.addMember("anna", Role::Admin);
        CHECK(fixture.app->prepareFirstSetup().empty());
    }
}

TEST_CASE("Login with a TOTP second factor", "[staff]")
{
    StaffAppFixture fixture("staff-login");
    StaffClient client(*fixture.app);
    {
        std::lock_guard lock(fixture.mutex);
        Accounts(*fixture.db.database, fixture.db.clock()).create("anna", Role::Caseworker, "anna's long password");
    }

    SECTION("the first login enrols TOTP with a QR code and shows recovery codes")
    {
        client.get("/login");
        auto response = client.post("/login", {{"username", "anna"}, {"password", "anna's long password"}});
        REQUIRE(response.status == 303);
        CHECK(header(response, "Location") == "/enrol");
        response = client.get("/enrol");
        REQUIRE(response.status == 200);
        const std::string secretText = firstMatch(response.body, "<code class=\"secret\">([A-Z2-7]+)</code>");
        REQUIRE(secretText.size() == 32);
        const auto qr = client.get("/enrol/qr.svg");
        CHECK(qr.status == 200);
        CHECK(qr.contentType == "image/svg+xml");
        CHECK_THAT(qr.body, StartsWith("<svg"));

        std::vector<std::uint8_t> secret;
        {
            std::lock_guard lock(fixture.mutex);
            secret = Accounts(*fixture.db.database, fixture.db.clock()).findByName("anna")->totpSecret;
        }
        CHECK(totp::base32(secret) == secretText);
        response = client.post("/enrol", {{"code", totp::generate(secret, fixture.db.now)}});
        CHECK(response.status == 200);
        CHECK_THAT(response.body, ContainsSubstring("recovery codes"));
        CHECK(std::count(response.body.begin(), response.body.end(), '\n') > 0);
        CHECK(client.get("/inbox").status == 200);
        CHECK(audited(fixture, "second_factor.enrolled"));
        CHECK(audited(fixture, "login"));
    }

    SECTION("a wrong password is rejected and audited as a failed login")
    {
        client.get("/login");
        const auto response = client.post("/login", {{"username", "anna"}, {"password", "not her password"}});
        CHECK(response.status == 403);
        CHECK_THAT(response.body, ContainsSubstring("value=\"anna\""));
        CHECK(audited(fixture, "login.failed"));
        CHECK(client.get("/inbox").status == 303);
    }

    SECTION("an unknown user name is audited without the name typed")
    {
        client.get("/login");
        client.post("/login", {{"username", "my-password-by-mistake"}, {"password", "x"}});
        for (const auto& entry : fixture.auditEntries()) {
            CHECK_THAT(entry.username, !ContainsSubstring("my-password-by-mistake"));
            CHECK_THAT(entry.objectId, !ContainsSubstring("my-password-by-mistake"));
        }
    }

    SECTION("the login form needs its own CSRF token")
    {
        client.get("/login");
        const auto response = client.post("/login", {{"csrf", "forged"}, {"username", "anna"},
            {"password", "anna's long password"}});
        CHECK(response.status == 403);
    }
}

TEST_CASE("Second factor at each login", "[staff]")
{
    StaffAppFixture fixture("staff-second-factor");
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    StaffClient client(*fixture.app);

    SECTION("a password alone gives no access")
    {
        client.get("/login");
        client.post("/login", {{"username", "anna"}, {"password", anna.password}});
        CHECK(client.get("/inbox").status == 303);
        CHECK(header(client.get("/inbox"), "Location") == "/login");
    }

    SECTION("a wrong code is rejected and audited")
    {
        client.get("/login");
        client.post("/login", {{"username", "anna"}, {"password", anna.password}});
        client.get("/second-factor");
        const auto response = client.post("/second-factor", {{"code", "000000"}});
        CHECK(response.status == 403);
        CHECK(audited(fixture, "login.second_factor_failed"));
    }

    SECTION("a code works once")
    {
        fixture.logIn(client, anna);
        StaffClient other(*fixture.app);
        other.get("/login");
        other.post("/login", {{"username", "anna"}, {"password", anna.password}});
        other.get("/second-factor");
        CHECK(other.post("/second-factor", {{"code", totp::generate(anna.secret, fixture.db.now)}}).status == 403);
    }

    SECTION("a recovery code logs in once in place of the app")
    {
        std::vector<std::string> codes;
        {
            std::lock_guard lock(fixture.mutex);
            codes = Accounts(*fixture.db.database, fixture.db.clock()).newRecoveryCodes(anna.id);
        }
        client.get("/login");
        client.post("/login", {{"username", "anna"}, {"password", anna.password}});
        client.get("/second-factor");
        CHECK(client.post("/second-factor", {{"code", codes[0]}}).status == 303);
        CHECK(audited(fixture, "login.recovery_code_used"));
        StaffClient other(*fixture.app);
        other.get("/login");
        other.post("/login", {{"username", "anna"}, {"password", anna.password}});
        other.get("/second-factor");
        CHECK(other.post("/second-factor", {{"code", codes[0]}}).status == 403);
    }

    SECTION("repeated failures of one account are rate limited")
    {
        // Five failures are free; the sixth makes the account wait.
        for (int attempt = 0; attempt < 6; ++attempt) {
            client.get("/login");
            client.post("/login", {{"username", "anna"}, {"password", "wrong password"}});
        }
        client.get("/login");
        const auto limited = client.post("/login", {{"username", "anna"}, {"password", anna.password}});
        CHECK(limited.status == 429);
        CHECK_FALSE(header(limited, "Retry-After").empty());
        fixture.db.advance(std::chrono::minutes(1));
        client.get("/login");
        CHECK(client.post("/login", {{"username", "anna"}, {"password", anna.password}}).status == 303);
    }
}

TEST_CASE("Session cookies and fixation", "[staff]")
{
    StaffAppFixture fixture("staff-session");
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    StaffClient client(*fixture.app);

    SECTION("the session cookie is __Host-, Secure, HttpOnly and SameSite=Strict")
    {
        client.get("/login");
        const auto response = client.post("/login", {{"username", "anna"}, {"password", anna.password}});
        const auto cookies = headers(response, "Set-Cookie");
        const auto session = std::find_if(cookies.begin(), cookies.end(),
            [](const std::string& cookie) { return cookie.starts_with("__Host-meldpunt-staff="); });
        REQUIRE(session != cookies.end());
        CHECK_THAT(*session, ContainsSubstring("; Path=/"));
        CHECK_THAT(*session, ContainsSubstring("; Secure"));
        CHECK_THAT(*session, ContainsSubstring("; HttpOnly"));
        CHECK_THAT(*session, ContainsSubstring("; SameSite=Strict"));
        CHECK_THAT(*session, !ContainsSubstring("Domain"));
    }

    SECTION("a planted session cookie is replaced at login and never logged in")
    {
        client.setCookie(StaffApp::kSessionCookie, "planted-by-an-attacker");
        fixture.logIn(client, anna);
        CHECK(client.cookie(StaffApp::kSessionCookie) != "planted-by-an-attacker");
        StaffClient attacker(*fixture.app);
        attacker.setCookie(StaffApp::kSessionCookie, "planted-by-an-attacker");
        CHECK(attacker.get("/inbox").status == 303);
    }

    SECTION("the id from before the second factor stops working after it")
    {
        client.get("/login");
        client.post("/login", {{"username", "anna"}, {"password", anna.password}});
        const std::string pending = client.cookie(StaffApp::kSessionCookie);
        client.get("/second-factor");
        fixture.db.advance(std::chrono::seconds(30));
        client.post("/second-factor", {{"code", totp::generate(anna.secret, fixture.db.now)}});
        const std::string full = client.cookie(StaffApp::kSessionCookie);
        CHECK(full != pending);
        CHECK(client.get("/inbox").status == 200);
        StaffClient attacker(*fixture.app);
        attacker.setCookie(StaffApp::kSessionCookie, pending);
        CHECK(attacker.get("/inbox").status == 303);
        CHECK(attacker.get("/second-factor").status == 303);
    }

    SECTION("the session ends after the idle timeout")
    {
        fixture.logIn(client, anna);
        fixture.db.advance(std::chrono::minutes(31));
        CHECK(client.get("/inbox").status == 303);
    }

    SECTION("the session ends at the absolute timeout despite use")
    {
        fixture.logIn(client, anna);
        for (int step = 0; step < 24; ++step) {
            fixture.db.advance(std::chrono::minutes(29));
            REQUIRE(client.get("/inbox").status == 200);
        }
        fixture.db.advance(std::chrono::minutes(29));
        CHECK(client.get("/inbox").status == 303);
    }

    SECTION("logout ends the session and clears the cookie")
    {
        fixture.logIn(client, anna);
        const std::string session = client.cookie(StaffApp::kSessionCookie);
        const auto response = client.post("/logout", {});
        CHECK(response.status == 303);
        CHECK(client.cookie(StaffApp::kSessionCookie).empty());
        client.setCookie(StaffApp::kSessionCookie, session);
        CHECK(client.get("/inbox").status == 303);
    }

    SECTION("logout everywhere ends the other sessions too")
    {
        StaffClient phone(*fixture.app);
        fixture.logIn(client, anna);
        fixture.logIn(phone, anna);
        client.get("/account");
        CHECK(client.post("/logout-everywhere", {}).status == 303);
        CHECK(phone.get("/inbox").status == 303);
        CHECK(audited(fixture, "logout.everywhere"));
    }

    SECTION("every page is no-store with a strict CSP")
    {
        const auto response = client.get("/login");
        CHECK(header(response, "Cache-Control") == "no-store");
        CHECK_THAT(header(response, "Content-Security-Policy"), ContainsSubstring("default-src 'none'"));
        CHECK_THAT(header(response, "Content-Security-Policy"), ContainsSubstring("frame-ancestors 'none'"));
        CHECK(header(response, "X-Frame-Options") == "DENY");
    }
}

TEST_CASE("CSRF tokens on state-changing requests", "[staff]")
{
    StaffAppFixture fixture("staff-csrf");
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    std::int64_t report = 0;
    {
        std::lock_guard lock(fixture.mutex);
        report = fixture.db.addReport("a report", "2026-12-01T09:00:00Z");
    }
    StaffClient client(*fixture.app);
    fixture.logIn(client, anna);
    const std::string path = "/cases/" + std::to_string(report) + "/notes";

    auto noteCount = [&] {
        std::lock_guard lock(fixture.mutex);
        auto query = fixture.db.database->prepare("SELECT count(*) FROM case_notes");
        query.step();
        return query.columnInt(0);
    };

    SECTION("a request without a token is rejected and changes nothing")
    {
        CHECK(client.postWithoutToken(path, {{"note", "a note"}}).status == 403);
        CHECK(noteCount() == 0);
    }

    SECTION("a wrong token is rejected and changes nothing")
    {
        CHECK(client.post(path, {{"csrf", "wrong-token"}, {"note", "a note"}}).status == 403);
        CHECK(noteCount() == 0);
    }

    SECTION("another session's token is rejected")
    {
        StaffClient other(*fixture.app);
        fixture.logIn(other, anna);
        CHECK(client.post(path, {{"csrf", other.csrfToken()}, {"note", "a note"}}).status == 403);
        CHECK(noteCount() == 0);
    }

    SECTION("the session's own token is accepted")
    {
        CHECK(client.post(path, {{"note", "a note"}}).status == 303);
        CHECK(noteCount() == 1);
    }
}

TEST_CASE("Every route against every role", "[staff][routes]")
{
    StaffAppFixture fixture("staff-routes");
    std::map<Role, StaffAppFixture::Member> members;
    for (Role role : allRoles())
        members.emplace(role, fixture.addMember(std::string(roleName(role)) + "-member", role));
    const auto target = fixture.addMember("target", Role::Caseworker);
    std::int64_t report = 0;
    {
        std::lock_guard lock(fixture.mutex);
        report = fixture.db.addReport("a report", "2026-12-01T09:00:00Z");
    }

    auto pathFor = [&](const Route& route) {
        std::string path = route.pattern;
        const auto slot = path.find("{id}");
        if (slot != std::string::npos)
            path.replace(slot, 4, std::to_string(path.starts_with("/cases") ? report : target.id));
        return path;
    };
    // Each request gets a fresh session, so that logout or a change to the
    // target account does not affect the next one.
    auto sessionFor = [&](Role role) {
        std::lock_guard lock(fixture.mutex);
        return Sessions(*fixture.db.database, fixture.db.clock()).create(members.at(role).id, SessionStage::Full);
    };
    auto request = [&](const Route& route, const std::optional<Session>& session) {
        StaffRequest sent;
        sent.method = route.method;
        sent.path = pathFor(route);
        sent.address = "192.0.2.30";
        if (session) {
            sent.headers["cookie"] = std::string(StaffApp::kSessionCookie) + "=" + session->cookieValue;
            sent.body = "csrf=" + session->csrfToken + "&status=acknowledged&note=x&assignee=0";
        }
        return fixture.app->handle(sent);
    };

    SECTION("a logged-in role reaches its routes and is refused the others")
    {
        for (const Route& route : routeTable()) {
            if (route.access != Access::Roles)
                continue;
            for (Role role : allRoles()) {
                const auto response = request(route, sessionFor(role));
                INFO(route.method << " " << route.pattern << " as " << roleName(role) << ": " << response.status);
                if (roleMay(route, role)) {
                    CHECK(response.status != 403);
                    // Logging out sends to the login page on purpose.
                    if (route.method == "GET")
                        CHECK(header(response, "Location") != "/login");
                } else {
                    CHECK(response.status == 403);
                }
            }
        }
    }

    SECTION("without a session every role route sends to the login")
    {
        for (const Route& route : routeTable()) {
            if (route.access != Access::Roles)
                continue;
            const auto response = request(route, std::nullopt);
            INFO(route.method << " " << route.pattern << ": " << response.status);
            if (route.method == "GET") {
                CHECK(response.status == 303);
                CHECK(header(response, "Location") == "/login");
            } else {
                CHECK(response.status == 403);
            }
        }
    }

    SECTION("login steps need a login in that step")
    {
        for (const Route& route : routeTable()) {
            if (route.access != Access::PendingLogin)
                continue;
            for (const std::optional<Session>& session : {std::optional<Session>(), std::optional(sessionFor(Role::Admin))}) {
                const auto response = request(route, session);
                INFO(route.method << " " << route.pattern << ": " << response.status);
                CHECK((response.status == 403 || header(response, "Location") == "/login"));
            }
        }
    }

    SECTION("the open pages need no session")
    {
        for (const Route& route : routeTable()) {
            if (route.access != Access::Anyone || route.method != "GET")
                continue;
            const auto response = request(route, std::nullopt);
            INFO(route.pattern);
            CHECK((response.status == 200 || header(response, "Location") == "/login"));
        }
    }

    SECTION("a refused request is audited with the route")
    {
        request(*findRoute("GET", "/audit").match->route, sessionFor(Role::Caseworker));
        CHECK(audited(fixture, "access.denied", "/audit"));
    }

    SECTION("unknown paths are 404 and wrong methods 405")
    {
        StaffRequest unknown{"GET", "/nothing-here", "", {}, "", "192.0.2.30"};
        CHECK(fixture.app->handle(unknown).status == 404);
        StaffRequest wrongMethod{"POST", "/inbox", "", {}, "", "192.0.2.30"};
        CHECK(fixture.app->handle(wrongMethod).status == 405);
    }
}
