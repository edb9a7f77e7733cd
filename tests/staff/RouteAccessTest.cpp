// Every staff route for every role and without a session, against an
// expected table written out here rather than derived from routeTable(),
// so that a change to a route's roles fails this test until the table
// below agrees. Each request runs through StaffApp with a fresh session
// and, for a POST, that session's CSRF token, so an allowed POST reaches
// its handler and the test checks the handler's own response.

#include "PartnerRegistry.h"
#include "ReferralFixture.h"
#include "Referrals.h"
#include "Routes.h"
#include "StaffAppFixture.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <array>
#include <map>
#include <set>

using namespace meldpunt;
using namespace meldpunt::staff;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::StartsWith;
using meldpunt::test::header;
using meldpunt::test::StaffAppFixture;
using meldpunt::test::StaffClient;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

// The expected response: the status and, for a redirect, the start of the
// Location header, or otherwise a text the body contains.
struct Outcome {
    int status;
    std::string marker;
};

Outcome expect(int status, std::string marker)
{
    return {status, std::move(marker)};
}

// The responses that come before any handler runs.
const Outcome kRoleRejected{403, "Your role does not give access to this page."};
const Outcome kToLogin{303, "/login"};
const Outcome kPostWithoutSession{403, "Your session has ended. Log in again."};
const Outcome kLoginStepRejected{403, "Your login has expired. Log in again."};
const Outcome kNoPage{404, "This page does not exist."};

enum Column { kAdmin, kCoordinator, kCaseworker, kAuditor, kNoSession, kColumns };
constexpr std::array<const char*, kColumns> kColumnNames = {"admin", "coordinator", "caseworker", "auditor", "no session"};
constexpr std::array<Role, 4> kColumnRoles = {Role::Admin, Role::Coordinator, Role::Caseworker, Role::Auditor};

struct Expectation {
    std::string method;
    // The route's pattern as routeTable() spells it, or empty for a path
    // that is no route.
    std::string pattern;
    // The path requested: {case}, {account} and {partner} are replaced by
    // the ids of the objects that the test creates.
    std::string target;
    Fields fields;
    std::array<Outcome, kColumns> expected; // in the order of Column
};

// Each row: admin, coordinator, caseworker, auditor, no session.
std::vector<Expectation> expectedTable()
{
    const Outcome loginPage = expect(200, "<h1>Log in</h1>");
    const Outcome setupPage = expect(200, "<h1>Create an admin account</h1>");
    const Outcome ownAccount = expect(200, "<h1>My account</h1>");
    const Outcome recoveryCodes = expect(200, "<h1>Your recovery codes</h1>");
    const Outcome inbox = expect(200, "<h1>Inbox</h1>");
    const Outcome intakePage = expect(200, "<h1>Report by phone or e-mail</h1>");
    const Outcome casePage = expect(200, "<h1>Case MP-");
    const Outcome backToCase = expect(303, "/cases/{case}");
    const Outcome partners = expect(200, "<h1>Partners</h1>");
    const Outcome backToPartners = expect(303, "/partners");
    const Outcome partnerInvalid = expect(400, "must have 1 to 100 bytes; type the partner");
    const Outcome accounts = expect(200, "<h1>Staff accounts</h1>");
    const Outcome backToAccounts = expect(303, "/accounts");
    const Outcome updates = expect(200, "<h1>Software updates</h1>");
    const Outcome statistics = expect(200, "<h1>Statistics 2026</h1>");
    const Outcome pdf = expect(200, "%PDF-");
    const Outcome figures = expect(200, "year,section,title,label,column,count");
    const Outcome audit = expect(200, "<h1>Audit log</h1>");
    const Outcome auditCsv = expect(200, "id,at,account_id,username,address,action,object_type,object_id");
    const Outcome rejected = kRoleRejected;
    const Outcome login = kToLogin;
    const Outcome noSession = kPostWithoutSession;

    return {
        // The open pages.
        {"GET", "/", "/", {},
            {expect(303, "/accounts"), expect(303, "/inbox"), expect(303, "/inbox"), expect(303, "/audit"), loginPage}},
        {"GET", "/login", "/login", {}, {loginPage, loginPage, loginPage, loginPage, loginPage}},
        {"POST", "/login", "/login", {{"username", "probe"}, {"password", "password of probe 123"}},
            {expect(303, "/second-factor"), expect(303, "/second-factor"), expect(303, "/second-factor"),
                expect(303, "/second-factor"), expect(303, "/second-factor")}},
        {"GET", "/setup", "/setup", {}, {setupPage, setupPage, setupPage, setupPage, setupPage}},
        {"POST", "/setup", "/setup",
            {{"setup_code", "AAAA-AAAA-AAAA-AAAA-AAAA"}, {"username", "another"},
                {"password", "one long password"}, {"password_again", "another long password"}},
            {expect(400, "The two passwords differ."), expect(400, "The two passwords differ."),
                expect(400, "The two passwords differ."), expect(400, "The two passwords differ."),
                expect(400, "The two passwords differ.")}},

        // The login steps take only a login that is in that step; a full
        // session is not one.
        {"GET", "/second-factor", "/second-factor", {}, {login, login, login, login, login}},
        {"POST", "/second-factor", "/second-factor", {{"code", "123456"}},
            {kLoginStepRejected, kLoginStepRejected, kLoginStepRejected, kLoginStepRejected, kLoginStepRejected}},
        {"GET", "/enrol", "/enrol", {}, {login, login, login, login, login}},
        {"GET", "/enrol/qr.svg", "/enrol/qr.svg", {}, {login, login, login, login, login}},
        {"POST", "/enrol", "/enrol", {{"code", "123456"}},
            {kLoginStepRejected, kLoginStepRejected, kLoginStepRejected, kLoginStepRejected, kLoginStepRejected}},

        // Every role.
        {"POST", "/logout", "/logout", {}, {login, login, login, login, noSession}},
        {"POST", "/logout-everywhere", "/logout-everywhere", {}, {login, login, login, login, noSession}},
        {"GET", "/account", "/account", {}, {ownAccount, ownAccount, ownAccount, ownAccount, login}},
        {"POST", "/account/recovery-codes", "/account/recovery-codes", {},
            {recoveryCodes, recoveryCodes, recoveryCodes, recoveryCodes, noSession}},

        // Case work: coordinators and caseworkers.
        {"GET", "/inbox", "/inbox", {}, {rejected, inbox, inbox, rejected, login}},
        {"GET", "/intake", "/intake", {}, {rejected, intakePage, intakePage, rejected, login}},
        {"POST", "/intake", "/intake", {{"channel", "phone"}, {"what", "A caller saw a boy at a hostel"}},
            {rejected, expect(303, "/cases/"), expect(303, "/cases/"), rejected, noSession}},
        {"GET", "/cases/{id}", "/cases/{case}", {}, {rejected, casePage, casePage, rejected, login}},
        {"POST", "/cases/{id}/status", "/cases/{case}/status", {{"status", "acknowledged"}},
            {rejected, backToCase, backToCase, rejected, noSession}},
        {"POST", "/cases/{id}/assign", "/cases/{case}/assign", {{"assignee", "0"}},
            {rejected, backToCase, backToCase, rejected, noSession}},
        {"POST", "/cases/{id}/notes", "/cases/{case}/notes", {{"note", "Called back."}},
            {rejected, backToCase, backToCase, rejected, noSession}},
        {"POST", "/cases/{id}/reveal", "/cases/{case}/reveal", {}, {rejected, casePage, casePage, rejected, noSession}},
        {"POST", "/cases/{id}/referrals", "/cases/{case}/referrals", {{"partner", ""}},
            {rejected, expect(400, "Choose a partner"), expect(400, "Choose a partner"), rejected, noSession}},
        {"POST", "/cases/{id}/retract", "/cases/{case}/retract", {{"referral", "999"}},
            {rejected, expect(404, "This case has no such referral."), expect(404, "This case has no such referral."),
                rejected, noSession}},
        {"POST", "/cases/{id}/links", "/cases/{case}/links", {{"reference", ""}},
            {rejected, expect(400, "Type the reference of the other report"),
                expect(400, "Type the reference of the other report"), rejected, noSession}},
        {"POST", "/cases/{id}/unlink", "/cases/{case}/unlink", {{"report", "999999"}},
            {rejected, expect(400, "These reports are not linked."), expect(400, "These reports are not linked."),
                rejected, noSession}},
        {"POST", "/cases/{id}/merge", "/cases/{case}/merge", {{"primary", ""}},
            {rejected, expect(400, "Tick the box to confirm"), expect(400, "Tick the box to confirm"), rejected,
                noSession}},
        // The legal hold is the coordinator's alone.
        {"POST", "/cases/{id}/legal-hold", "/cases/{case}/legal-hold", {{"hold", "set"}},
            {rejected, backToCase, rejected, rejected, noSession}},

        // The partner registry: coordinators.
        {"GET", "/partners", "/partners", {}, {rejected, partners, rejected, rejected, login}},
        {"POST", "/partners", "/partners", {{"kind", "police"}}, {rejected, partnerInvalid, rejected, rejected, noSession}},
        {"GET", "/partners/new", "/partners/new", {},
            {rejected, expect(200, "<h1>New partner</h1>"), rejected, rejected, login}},
        {"GET", "/partners/{id}", "/partners/{partner}", {},
            {rejected, expect(200, "<h1>Partner Politie Eenheid Test</h1>"), rejected, rejected, login}},
        {"POST", "/partners/{id}", "/partners/{partner}", {{"kind", "police"}},
            {rejected, partnerInvalid, rejected, rejected, noSession}},
        {"POST", "/partners/{id}/disable", "/partners/{partner}/disable", {},
            {rejected, backToPartners, rejected, rejected, noSession}},
        {"POST", "/partners/{id}/enable", "/partners/{partner}/enable", {},
            {rejected, backToPartners, rejected, rejected, noSession}},

        // Staff accounts: admins.
        {"GET", "/accounts", "/accounts", {}, {accounts, rejected, rejected, rejected, login}},
        {"POST", "/accounts", "/accounts", {{"username", "newcomer"}, {"role", "janitor"}},
            {expect(400, "Choose a role from the list."), rejected, rejected, rejected, noSession}},
        {"POST", "/accounts/{id}/disable", "/accounts/{account}/disable", {},
            {backToAccounts, rejected, rejected, rejected, noSession}},
        {"POST", "/accounts/{id}/enable", "/accounts/{account}/enable", {},
            {backToAccounts, rejected, rejected, rejected, noSession}},
        {"POST", "/accounts/{id}/reset-second-factor", "/accounts/{account}/reset-second-factor", {},
            {backToAccounts, rejected, rejected, rejected, noSession}},

        // The audit log: auditors.
        {"GET", "/audit", "/audit", {}, {rejected, rejected, rejected, audit, login}},
        {"GET", "/audit/export", "/audit/export", {}, {rejected, rejected, rejected, auditCsv, login}},

        // Software updates: admins.
        {"GET", "/updates", "/updates", {}, {updates, rejected, rejected, rejected, login}},
        {"POST", "/updates/upload", "/updates/upload", {},
            {expect(400, "The upload could not be read."), rejected, rejected, rejected, noSession}},
        {"POST", "/updates/install", "/updates/install", {},
            {expect(409, "There is no uploaded bundle to install."), rejected, rejected, rejected, noSession}},
        {"POST", "/updates/discard", "/updates/discard", {}, {expect(303, "/updates"), rejected, rejected, rejected, noSession}},

        // Statistics: coordinators and auditors read, coordinators write.
        {"GET", "/statistics", "/statistics?year=2026", {}, {rejected, statistics, rejected, statistics, login}},
        {"POST", "/statistics/text", "/statistics/text", {{"year", "2026"}, {"text", "A quiet year."}},
            {rejected, expect(303, "/statistics?year=2026"), rejected, rejected, noSession}},
        {"GET", "/statistics/annual-report.pdf", "/statistics/annual-report.pdf?year=2026", {},
            {rejected, pdf, rejected, pdf, login}},
        {"GET", "/statistics/annual-report.csv", "/statistics/annual-report.csv?year=2026", {},
            {rejected, figures, rejected, figures, login}},

        // Paths that are no route, and a route's id that names nothing.
        {"GET", "", "/nothing-here", {}, {kNoPage, kNoPage, kNoPage, kNoPage, kNoPage}},
        {"GET", "", "/cases/0", {}, {kNoPage, kNoPage, kNoPage, kNoPage, kNoPage}},
        {"GET", "", "/cases/{case}/../../accounts", {}, {kNoPage, kNoPage, kNoPage, kNoPage, kNoPage}},
        {"GET", "/cases/{id}", "/cases/999999", {},
            {rejected, expect(404, "No case has this number."), expect(404, "No case has this number."), rejected, login}},
        {"GET", "/partners/{id}", "/partners/999999", {},
            {rejected, expect(404, "No partner has this number."), rejected, rejected, login}},
        {"POST", "/accounts/{id}/disable", "/accounts/999999/disable", {},
            {expect(404, "No staff account has this number."), rejected, rejected, rejected, noSession}},
    };
}

std::string replaceAll(std::string text, const std::string& from, const std::string& to)
{
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

// A StaffApp with a member of each role, a report, a partner and a target
// account for the account routes. The update pages get a bundle folder
// and the referral form a signing identity, so that neither responds
// that it is not set up.
struct RouteWorld {
    RouteWorld()
        : updates("staff-route-updates")
        , attachments("staff-route-attachments")
        , fixture("staff-route-access", settingsFor(updates.path()))
        , referrals(*fixture.db.database, fixture.mutex, test::testSigner())
    {
        fixture.app->attachReferrals(&referrals, attachments.path());
        for (Role role : kColumnRoles)
            members.emplace(role, fixture.addMember(std::string(roleName(role)) + "-member", role));
        fixture.addMember("probe", Role::Caseworker);
        const auto target = fixture.addMember("target", Role::Caseworker);
        std::lock_guard lock(fixture.mutex);
        const auto report = fixture.db.addReport("a report", "2026-12-01T09:00:00Z");
        referral::Partner stored;
        stored.name = "Politie Eenheid Test";
        stored.kind = referral::PartnerKind::Police;
        stored.countries = {"NL"};
        stored.endpoint = "https://localhost:4433/v1/referrals";
        stored.serverTrustPem = test::pkiText("partner-ca.pem");
        stored.clientCertificatePem = test::pkiText("hotline-client.pem");
        stored.clientKeyPem = test::pkiText("hotline-client.key");
        stored.encryptionCertificatePem = test::pkiText("partner-encryption.pem");
        stored.receiptCertificatePem = test::pkiText("partner-receipt.pem");
        stored.outcomeCertificateSha256 = std::string(64, 'a');
        const auto partner = referral::savePartner(*fixture.db.database, stored, "2026-12-01T09:00:00Z");
        objects = {{"{case}", std::to_string(report)}, {"{account}", std::to_string(target.id)},
            {"{partner}", std::to_string(partner)}};
    }

    static StaffSettings settingsFor(const std::filesystem::path& updateFolder)
    {
        StaffSettings settings;
        settings.updateFolder = updateFolder;
        return settings;
    }

    std::string resolve(std::string text) const
    {
        for (const auto& [placeholder, id] : objects)
            text = replaceAll(text, placeholder, id);
        return text;
    }

    // A new full session of the column's member.
    Session sessionFor(int column)
    {
        std::lock_guard lock(fixture.mutex);
        return Sessions(*fixture.db.database, fixture.db.clock())
            .create(members.at(kColumnRoles[column]).id, SessionStage::Full);
    }

    test::ScratchFolder updates;
    test::ScratchFolder attachments;
    StaffAppFixture fixture;
    referral::Referrals referrals;
    std::map<Role, StaffAppFixture::Member> members;
    std::map<std::string, std::string> objects;
};

} // namespace

TEST_CASE("Route table matches expected table", "[staff][routes]")
{
    std::set<std::pair<std::string, std::string>> expected;
    for (const auto& row : expectedTable()) {
        if (!row.pattern.empty())
            expected.emplace(row.method, row.pattern);
    }
    std::set<std::pair<std::string, std::string>> served;
    for (const Route& route : routeTable())
        served.emplace(route.method, route.pattern);

    for (const auto& [method, pattern] : served) {
        INFO(method << " " << pattern << " is in routeTable(); add its row to expectedTable() in this test");
        CHECK(expected.contains({method, pattern}));
    }
    for (const auto& [method, pattern] : expected) {
        INFO(method << " " << pattern << " is in this test's table but not in routeTable()");
        CHECK(served.contains({method, pattern}));
    }
}

TEST_CASE("Each route for each role", "[staff][routes]")
{
    RouteWorld world;
    for (const auto& row : expectedTable()) {
        for (int column = 0; column < kColumns; ++column) {
            StaffClient client(*world.fixture.app);
            Session session;
            if (column != kNoSession) {
                // A fresh session for each request, so that a logout or a
                // change to the target account does not affect the next.
                session = world.sessionFor(column);
                client.setCookie(StaffApp::kSessionCookie, session.cookieValue);
            }
            const std::string target = world.resolve(row.target);
            StaffResponse response;
            if (row.method == "GET") {
                response = client.get(target);
            } else if (row.pattern == "/login" || row.pattern == "/setup") {
                // The forms before a login carry the token of their page's
                // cookie.
                client.get(row.pattern);
                response = client.post(target, row.fields);
            } else {
                Fields fields = row.fields;
                fields.emplace_back("csrf", session.csrfToken);
                response = client.post(target, fields);
            }
            const Outcome& expected = row.expected[column];
            const std::string marker = world.resolve(expected.marker);
            INFO(row.method << " " << target << " as " << kColumnNames[column] << ": " << response.status << " "
                            << header(response, "Location"));
            CHECK(response.status == expected.status);
            if (expected.status == 303)
                CHECK_THAT(header(response, "Location"), StartsWith(marker));
            else
                CHECK_THAT(response.body, ContainsSubstring(marker));
        }
    }
}

TEST_CASE("Forged CSRF token rejected everywhere", "[staff][routes]")
{
    RouteWorld world;
    for (const auto& row : expectedTable()) {
        // The login forms check their own cookie's token, and the upload
        // carries its token in the multipart body.
        if (row.method != "POST" || row.pattern.empty() || row.pattern == "/login" || row.pattern == "/setup"
            || row.pattern == "/second-factor" || row.pattern == "/enrol" || row.pattern == "/updates/upload")
            continue;
        // The first role that the table allows, with another session's
        // token.
        int column = kNoSession;
        for (int each = 0; each < kNoSession && column == kNoSession; ++each) {
            if (row.expected[each].status != 403)
                column = each;
        }
        REQUIRE(column != kNoSession);
        const Session session = world.sessionFor(column);
        const Session other = world.sessionFor(column);
        StaffClient client(*world.fixture.app);
        client.setCookie(StaffApp::kSessionCookie, session.cookieValue);
        Fields fields = row.fields;
        fields.emplace_back("csrf", other.csrfToken);
        const auto response = client.post(world.resolve(row.target), fields);
        INFO(row.method << " " << row.target << " as " << kColumnNames[column]);
        CHECK(response.status == 403);
        CHECK_THAT(response.body, ContainsSubstring("The form has expired"));
    }
}
