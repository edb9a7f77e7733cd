// Every staff route for every role and without a session, against an
// expected table written out here rather than derived from routeTable(),
// so that a change to a route's roles fails this test until the table
// below agrees. Each request runs through StaffApp with a fresh session
// and, for a POST, that session's CSRF token, so an allowed POST reaches
// its handler and the test checks the handler's own response.

#include "AttachmentStore.h"
#include "Crypto.h"
#include "PartnerRegistry.h"
#include "ReferralFixture.h"
#include "Referrals.h"
#include "Routes.h"
#include "SecretBytes.h"
#include "SiteContent.h"
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
    // The path requested: {case}, {account}, {partner}, {attachment} and
    // {category} are replaced by the ids of the objects that the test
    // creates or that the database starts with.
    std::string target;
    Fields fields;
    std::array<Outcome, kColumns> expected; // in the order of Column
};

// Each row: admin, coordinator, caseworker, auditor, no session.
std::vector<Expectation> expectedTable()
{
    const Outcome loginPage = expect(200, "<h1>Log in</h1>");
    const Outcome setupPage = expect(200, "<h1>Set up this box</h1>");
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
    const Outcome photo = expect(200, "pixels of the route test photo");
    const Outcome revealedPhoto
        = expect(200, "<img src=\"/attachments/{attachment}/image\" alt=\"photo.png\" class=\"attachment-image\">");
    const Outcome emptyReply = expect(400, "The reply is empty. Write the reply, then send it.");
    const Outcome unknownStep = expect(400, "A step you ticked is not on this");
    const Outcome certificates = expect(200, "<h1>TLS certificates</h1>");
    const Outcome siteTexts = expect(200, "<h1>Texts of the public site</h1>");
    const Outcome backToCategories = expect(303, "/categories");
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
        {"POST", "/cases/{id}/replies", "/cases/{case}/replies", {{"reply", ""}},
            {rejected, emptyReply, emptyReply, rejected, noSession}},
        {"POST", "/cases/{id}/protocol", "/cases/{case}/protocol", {{"step", "999999"}},
            {rejected, unknownStep, unknownStep, rejected, noSession}},
        {"POST", "/cases/{id}/attachments/reveal", "/cases/{case}/attachments/reveal",
            {{"attachment", "{attachment}"}}, {rejected, revealedPhoto, revealedPhoto, rejected, noSession}},
        {"GET", "/attachments/{id}", "/attachments/{attachment}", {}, {rejected, photo, photo, rejected, login}},
        {"GET", "/attachments/{id}/image", "/attachments/{attachment}/image", {},
            {rejected, photo, photo, rejected, login}},
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

        // The public site's texts, the form's categories and their
        // checklists: coordinators.
        {"GET", "/site", "/site", {}, {rejected, siteTexts, rejected, rejected, login}},
        {"GET", "/site/text", "/site/text?page=home&language=en", {},
            {rejected, expect(200, "<h1>Text of <code>home</code> (English)</h1>"), rejected, rejected, login}},
        {"POST", "/site/text", "/site/text", {{"page", "home"}, {"language", "en"}, {"markdown", ""}},
            {rejected, expect(400, "The text is empty."), rejected, rejected, noSession}},
        {"POST", "/site/text/restore", "/site/text/restore", {{"page", "home"}, {"language", "en"}},
            {rejected, expect(303, "/site/text?page=home&language=en"), rejected, rejected, noSession}},
        {"GET", "/categories", "/categories", {},
            {rejected, expect(200, "<h1>Report categories</h1>"), rejected, rejected, login}},
        {"POST", "/categories", "/categories", {{"code", ""}, {"label_en", "Grooming online"}},
            {rejected, expect(400, "The code must have 2 to 32 characters"), rejected, rejected, noSession}},
        {"GET", "/categories/{id}", "/categories/{category}", {},
            {rejected, expect(200, "<h1>Category <code>online_material</code></h1>"), rejected, rejected, login}},
        {"POST", "/categories/{id}", "/categories/{category}", {{"label_en", "Material found online"}},
            {rejected, expect(303, "/categories/{category}"), rejected, rejected, noSession}},
        {"POST", "/categories/{id}/disable", "/categories/{category}/disable", {},
            {rejected, backToCategories, rejected, rejected, noSession}},
        {"POST", "/categories/{id}/enable", "/categories/{category}/enable", {},
            {rejected, backToCategories, rejected, rejected, noSession}},
        {"POST", "/categories/{id}/steps", "/categories/{category}/steps", {{"text", "Ask where the file was seen."}},
            {rejected, expect(303, "/categories/{category}#protocol"), rejected, rejected, noSession}},
        {"POST", "/categories/{id}/steps/remove", "/categories/{category}/steps/remove", {{"step", "999999"}},
            {rejected, expect(400, "This checklist has no such step."), rejected, rejected, noSession}},

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
        {"POST", "/accounts/{id}/notice-email", "/accounts/{account}/notice-email", {{"email", "target.example.org"}},
            {expect(400, "The e-mail address needs exactly one @"), rejected, rejected, rejected, noSession}},

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

        // TLS certificates: admins. The handler rejects an empty form
        // before it calls the updater.
        {"GET", "/certificates", "/certificates", {}, {certificates, rejected, rejected, rejected, login}},
        {"POST", "/certificates", "/certificates", {{"edge", ""}, {"certificate", ""}, {"key", ""}},
            {expect(400, "Choose whether the certificate is for the public site or the staff site."), rejected,
                rejected, rejected, noSession}},

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
        {"GET", "/attachments/{id}", "/attachments/999999", {},
            {rejected, expect(404, "No attachment has this number."), expect(404, "No attachment has this number."),
                rejected, login}},
        {"GET", "/categories/{id}", "/categories/999999", {},
            {rejected, expect(404, "No category has this number."), rejected, rejected, login}},
    };
}

std::string replaceAll(std::string text, const std::string& from, const std::string& to)
{
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

// A StaffApp with a member of each role, a report with an image
// attachment, a partner and a target account for the account routes. The
// update pages get a bundle folder and the referral form a signing
// identity, so that neither responds that it is not set up. The category
// routes use a built-in category, which every database starts with.
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
        const auto attachment = addImage(report);
        const auto category = storage::findCategoryByCode(*fixture.db.database, "online_material");
        REQUIRE(category);
        objects = {{"{case}", std::to_string(report)}, {"{account}", std::to_string(target.id)},
            {"{partner}", std::to_string(partner)}, {"{attachment}", std::to_string(attachment)},
            {"{category}", std::to_string(category->id)}};
    }

    // Stores a PNG for the report as the ingester does: encrypted in the
    // attachment store under its own key, which the report's key wraps.
    // The caller holds the fixture's mutex.
    std::int64_t addImage(std::int64_t reportId)
    {
        const std::string content = std::string("\x89PNG\r\n\x1a\n", 8) + "pixels of the route test photo";
        storage::AttachmentStore store(attachments.path());
        auto writer = store.create();
        writer->write(crypto::asBytes(content));
        writer->finish();
        store.syncFolder();
        const auto sha = writer->sha256();
        const SecretBytes reportKey = SecretBytes::random(32);
        auto& database = *fixture.db.database;
        database.prepare("INSERT INTO report_keys (report_id, key) VALUES (?, ?)")
            .bind(1, reportId)
            .bind(2, reportKey.span())
            .run();
        database
            .prepare("INSERT INTO attachments (report_id, position, file_id, name, media_type, size, sha256, "
                     "wrapped_key, uploaded_at) VALUES (?, 0, ?, 'photo.png', 'image/png', ?, ?, ?, "
                     "'2026-12-01T09:00:00Z')")
            .bind(1, reportId)
            .bind(2, writer->fileId())
            .bind(3, static_cast<std::int64_t>(content.size()))
            .bind(4, std::span<const std::uint8_t>(sha))
            .bind(5, storage::wrapFileKey(reportKey.span(), writer->fileKey().span(), writer->fileId()))
            .run();
        return database.lastInsertId();
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

    Fields resolve(Fields fields) const
    {
        for (auto& field : fields)
            field.second = resolve(field.second);
        return fields;
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
                response = client.post(target, world.resolve(row.fields));
            } else {
                Fields fields = world.resolve(row.fields);
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
        Fields fields = world.resolve(row.fields);
        fields.emplace_back("csrf", other.csrfToken);
        const auto response = client.post(world.resolve(row.target), fields);
        INFO(row.method << " " << row.target << " as " << kColumnNames[column]);
        CHECK(response.status == 403);
        CHECK_THAT(response.body, ContainsSubstring("The form has expired"));
    }
}
