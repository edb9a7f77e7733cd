#include "StaffApp.h"
#include "StaffAppFixture.h"
#include "TestData.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>

using namespace meldpunt::staff;
using Catch::Matchers::ContainsSubstring;
using meldpunt::test::header;
using meldpunt::test::StaffAppFixture;
using meldpunt::test::StaffClient;

namespace {

bool audited(StaffAppFixture& fixture, const std::string& action, const std::string& objectId = "*")
{
    const auto entries = fixture.auditEntries();
    return std::any_of(entries.begin(), entries.end(), [&](const AuditEntry& entry) {
        return entry.action == action && (objectId == "*" || entry.objectId == objectId);
    });
}

std::int64_t addReport(StaffAppFixture& fixture, const std::string& text, const std::string& receivedAt,
    bool anonymous = false)
{
    std::lock_guard lock(fixture.mutex);
    return fixture.db.addReport(text, receivedAt, anonymous);
}

} // namespace

TEST_CASE("Account administration", "[staff]")
{
    StaffAppFixture fixture("staff-admin");
    const auto admin = fixture.addMember("root", Role::Admin);
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    StaffClient adminClient(*fixture.app);
    StaffClient annaClient(*fixture.app);
    fixture.logIn(adminClient, admin);
    fixture.logIn(annaClient, anna);
    const std::string annaId = std::to_string(anna.id);

    SECTION("disabling a staff member ends their sessions at once")
    {
        REQUIRE(annaClient.get("/inbox").status == 200);
        adminClient.get("/accounts");
        CHECK(adminClient.post("/accounts/" + annaId + "/disable", {}).status == 303);
        CHECK(annaClient.get("/inbox").status == 303);
        CHECK(audited(fixture, "account.disabled", annaId));
        StaffClient again(*fixture.app);
        again.get("/login");
        CHECK(again.post("/login", {{"username", "anna"}, {"password", anna.password}}).status == 403);
    }

    SECTION("resetting a lost second factor is audited and enrols anew")
    {
        adminClient.get("/accounts");
        CHECK(adminClient.post("/accounts/" + annaId + "/reset-second-factor", {}).status == 303);
        CHECK(audited(fixture, "account.second_factor_reset", annaId));
        CHECK(annaClient.get("/inbox").status == 303);
        StaffClient again(*fixture.app);
        again.get("/login");
        const auto response = again.post("/login", {{"username", "anna"}, {"password", anna.password}});
        CHECK(header(response, "Location") == "/enrol");
    }

    SECTION("an admin cannot disable their own account")
    {
        adminClient.get("/accounts");
        CHECK(adminClient.post("/accounts/" + std::to_string(admin.id) + "/disable", {}).status == 400);
        CHECK(adminClient.get("/accounts").status == 200);
    }

    SECTION("a new account gets its role and enrols at its first login")
    {
        adminClient.get("/accounts");
        CHECK(adminClient.post("/accounts", {{"username", "carla"}, {"role", "auditor"},
                  {"password", "carla's first password"}}).status == 303);
        CHECK(audited(fixture, "account.created.auditor"));
        StaffClient carla(*fixture.app);
        carla.get("/login");
        const auto response = carla.post("/login", {{"username", "carla"}, {"password", "carla's first password"}});
        CHECK(header(response, "Location") == "/enrol");
    }

    SECTION("an invalid new account is explained and the name kept")
    {
        adminClient.get("/accounts");
        const auto response = adminClient.post("/accounts", {{"username", "carla"}, {"role", "auditor"},
            {"password", "short"}});
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("at least 12"));
        CHECK_THAT(response.body, ContainsSubstring("value=\"carla\""));
    }
}

TEST_CASE("Inbox by triage deadline", "[staff]")
{
    StaffAppFixture fixture("staff-inbox");
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    // The fixture's clock is at Wednesday 2 December 2026, 10:00 UTC.
    const auto old = addReport(fixture, "old report", "2026-11-27T10:00:00Z");     // due Mon 30 Nov
    const auto recent = addReport(fixture, "recent report", "2026-12-02T09:00:00Z"); // due Fri 4 Dec
    const auto soon = addReport(fixture, "soon report", "2026-11-30T14:00:00Z");   // due Wed 2 Dec 14:00
    StaffClient client(*fixture.app);
    fixture.logIn(client, anna);

    SECTION("cases come in deadline order with overdue and due soon marked")
    {
        const auto response = client.get("/inbox");
        REQUIRE(response.status == 200);
        const auto oldAt = response.body.find("/cases/" + std::to_string(old) + "\"");
        const auto soonAt = response.body.find("/cases/" + std::to_string(soon) + "\"");
        const auto recentAt = response.body.find("/cases/" + std::to_string(recent) + "\"");
        REQUIRE(oldAt != std::string::npos);
        REQUIRE(soonAt != std::string::npos);
        REQUIRE(recentAt != std::string::npos);
        CHECK(oldAt < soonAt);
        CHECK(soonAt < recentAt);
        CHECK_THAT(response.body, ContainsSubstring("class=\"overdue\""));
        CHECK_THAT(response.body, ContainsSubstring("class=\"due-soon\""));
        CHECK(audited(fixture, "inbox.view"));
    }

    SECTION("an acknowledgement meets the deadline and moves the case down")
    {
        client.get("/cases/" + std::to_string(old));
        CHECK(client.post("/cases/" + std::to_string(old) + "/status", {{"status", "acknowledged"}}).status == 303);
        const auto response = client.get("/inbox");
        CHECK(response.body.find("/cases/" + std::to_string(old) + "\"")
            > response.body.find("/cases/" + std::to_string(recent) + "\""));
        CHECK(audited(fixture, "case.status.acknowledged", std::to_string(old)));
    }

    SECTION("closed cases leave the inbox but stay findable")
    {
        const std::string path = "/cases/" + std::to_string(old);
        client.get(path);
        CHECK(client.post(path + "/status", {{"status", "closed"}}).status == 400);
        CHECK(client.post(path + "/status", {{"status", "closed"}, {"outcome", "referred_to_police"}}).status == 303);
        CHECK(client.get("/inbox").body.find(path + "\"") == std::string::npos);
        CHECK(client.get("/inbox?status=all").body.find(path + "\"") != std::string::npos);
        CHECK_THAT(client.get(path).body, ContainsSubstring("Referred to the police"));
    }

    SECTION("search finds words and records no search term")
    {
        const auto response = client.get("/inbox?q=recent");
        CHECK(response.body.find("/cases/" + std::to_string(recent) + "\"") != std::string::npos);
        CHECK(response.body.find("/cases/" + std::to_string(old) + "\"") == std::string::npos);
        CHECK(audited(fixture, "inbox.search"));
        for (const auto& entry : fixture.auditEntries()) {
            CHECK_THAT(entry.action, !ContainsSubstring("recent"));
            CHECK_THAT(entry.objectId, !ContainsSubstring("recent"));
        }
    }

    SECTION("search operators are searched as text")
    {
        CHECK(client.get("/inbox?q=%22OR%20*%20NEAR(").status == 200);
    }

    SECTION("control characters in a search separate words")
    {
        const auto response = client.get("/inbox?q=%00recent%01%00");
        CHECK(response.status == 200);
        CHECK(response.body.find("/cases/" + std::to_string(recent) + "\"") != std::string::npos);
        CHECK(response.body.find("/cases/" + std::to_string(old) + "\"") == std::string::npos);
    }

    SECTION("filters by assignee and date")
    {
        const std::string path = "/cases/" + std::to_string(recent);
        client.get(path);
        client.post(path + "/assign", {{"assignee", std::to_string(anna.id)}});
        auto response = client.get("/inbox?assignee=" + std::to_string(anna.id));
        CHECK(response.body.find(path + "\"") != std::string::npos);
        CHECK(response.body.find("/cases/" + std::to_string(old) + "\"") == std::string::npos);
        response = client.get("/inbox?from=2026-12-01&to=2026-12-02");
        CHECK(response.body.find(path + "\"") != std::string::npos);
        CHECK(response.body.find("/cases/" + std::to_string(old) + "\"") == std::string::npos);
        CHECK(client.get("/inbox?from=yesterday").status == 400);
        CHECK(client.get("/inbox?from=2026-13-45").status == 400);
        CHECK(client.get("/inbox?to=2026-02-29").status == 400);
        CHECK(client.get("/inbox?to=2028-02-29").status == 200);
    }
}

TEST_CASE("Case page", "[staff]")
{
    StaffAppFixture fixture("staff-case");
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    const auto report = addReport(fixture, "Seen at the hotel bar", "2026-12-01T09:00:00Z");
    const auto anonymous = addReport(fixture, "anonymous report", "2026-12-01T09:00:00Z", true);
    StaffClient client(*fixture.app);
    fixture.logIn(client, anna);
    const std::string path = "/cases/" + std::to_string(report);

    SECTION("the case page shows the report and hides the contact details")
    {
        const auto response = client.get(path);
        REQUIRE(response.status == 200);
        CHECK_THAT(response.body, ContainsSubstring("Seen at the hotel bar"));
        CHECK_THAT(response.body, !ContainsSubstring("reporter@example.org"));
        CHECK(audited(fixture, "case.view", std::to_string(report)));
    }

    SECTION("revealing the contact details shows them and is audited")
    {
        client.get(path);
        const auto response = client.post(path + "/reveal", {});
        CHECK(response.status == 200);
        CHECK_THAT(response.body, ContainsSubstring("reporter@example.org"));
        CHECK(audited(fixture, "case.reveal_contact", std::to_string(report)));
    }

    SECTION("an anonymous report has nothing to reveal")
    {
        const auto response = client.get("/cases/" + std::to_string(anonymous));
        CHECK_THAT(response.body, ContainsSubstring("chose to stay anonymous"));
        CHECK_THAT(response.body, !ContainsSubstring("()"));
        CHECK_THAT(response.body, !ContainsSubstring("/reveal"));
    }

    SECTION("notes are kept with their author")
    {
        client.get(path);
        CHECK(client.post(path + "/notes", {{"note", "Called the partner hotline."}}).status == 303);
        const auto response = client.get(path);
        CHECK_THAT(response.body, ContainsSubstring("Called the partner hotline."));
        CHECK_THAT(response.body, ContainsSubstring("anna, 2026-"));
        CHECK(audited(fixture, "case.note_added", std::to_string(report)));
    }

    SECTION("an empty note is explained")
    {
        client.get(path);
        const auto response = client.post(path + "/notes", {{"note", "   "}});
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("The note is empty"));
    }

    SECTION("the acknowledgement e-mail's state is shown, a failure with its cause")
    {
        auto addMail = [&](const std::string& state, int attempts, const std::string& error) {
            std::lock_guard lock(fixture.mutex);
            fixture.db.database
                ->prepare("INSERT INTO email_outbox (report_id, recipient, language, reference, state, attempts, "
                          "next_attempt_at, last_error) VALUES (?, 'reporter@example.org', 'en', 'MP-1', ?, ?, "
                          "'2026-12-01T10:00:00Z', ?)")
                .bind(1, report)
                .bind(2, state)
                .bind(3, std::int64_t{attempts})
                .bind(4, error)
                .run();
        };
        CHECK_THAT(client.get(path).body, !ContainsSubstring("Acknowledgement e-mail"));

        addMail("pending", 2, "Connection refused");
        const auto pending = client.get(path).body;
        CHECK_THAT(pending, ContainsSubstring("Not sent yet. Failed attempts: 2. Next attempt at 2026-12-01T10:00:00Z"));
        CHECK_THAT(pending, ContainsSubstring("Last error: Connection refused"));

        addMail("failed", 8, "STARTTLS failed: the relay replied 454 &lt;b&gt;");
        const auto failed = client.get(path).body;
        CHECK_THAT(failed, ContainsSubstring("<strong>Failed. Attempts: 8.</strong>"));
        CHECK_THAT(failed, ContainsSubstring("Last error: STARTTLS failed: the relay replied 454 &amp;lt;b&amp;gt;"));
        CHECK_THAT(failed, !ContainsSubstring("Not sent yet"));
        CHECK_THAT(failed, !ContainsSubstring("reporter@example.org"));
    }

    SECTION("a case that does not exist is 404")
    {
        CHECK(client.get("/cases/999999").status == 404);
    }

    SECTION("cases are assigned only to caseworkers and coordinators")
    {
        const auto auditor = fixture.addMember("ida", Role::Auditor);
        client.get(path);
        CHECK(client.post(path + "/assign", {{"assignee", std::to_string(auditor.id)}}).status == 400);
        CHECK(client.post(path + "/assign", {{"assignee", std::to_string(anna.id)}}).status == 303);
        CHECK(audited(fixture, "case.assigned", std::to_string(report)));
    }
}

TEST_CASE("Hostile report text in staff views", "[staff][xss]")
{
    StaffAppFixture fixture("staff-xss");
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    std::vector<std::int64_t> reports;
    const auto inputs = meldpunt::test::hostileInputs();
    for (const auto& input : inputs)
        reports.push_back(addReport(fixture, input, "2026-12-01T09:00:00Z"));
    StaffClient client(*fixture.app);
    fixture.logIn(client, anna);

    auto checkEscaped = [&](const std::string& body) {
        CHECK_THAT(body, !ContainsSubstring("<script>alert(1)</script>"));
        CHECK_THAT(body, !ContainsSubstring("<img src=x onerror"));
        CHECK_THAT(body, ContainsSubstring("&lt;script&gt;alert(1)&lt;/script&gt;"));
    };

    SECTION("the inbox escapes every report field")
    {
        const auto response = client.get("/inbox?status=all");
        REQUIRE(response.status == 200);
        // The inbox shows no free text, so nothing hostile appears at all.
        CHECK_THAT(response.body, !ContainsSubstring("alert(1)"));
    }

    SECTION("the inbox search escapes the words searched for")
    {
        const auto response = client.get("/inbox?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E");
        CHECK(response.status == 200);
        checkEscaped(response.body);
    }

    SECTION("the case page escapes every field, revealed or not")
    {
        for (std::size_t index = 0; index < reports.size(); ++index) {
            INFO(inputs[index]);
            const std::string path = "/cases/" + std::to_string(reports[index]);
            const auto page = client.get(path);
            REQUIRE(page.status == 200);
            const auto revealed = client.post(path + "/reveal", {});
            REQUIRE(revealed.status == 200);
            if (inputs[index] == "<script>alert(1)</script>") {
                checkEscaped(page.body);
                checkEscaped(revealed.body);
            }
            CHECK_THAT(revealed.body, !ContainsSubstring("<img src=x"));
            for (const auto& [name, value] : revealed.headers)
                CHECK_THAT(value, !ContainsSubstring("injected"));
        }
    }

    SECTION("a hostile note is escaped too")
    {
        const std::string path = "/cases/" + std::to_string(reports.front());
        client.get(path);
        client.post(path + "/notes", {{"note", "<script>alert(1)</script>"}});
        checkEscaped(client.get(path).body);
    }
}

TEST_CASE("Full-text index", "[staff]")
{
    StaffAppFixture fixture("staff-fts");
    const auto report = addReport(fixture, "zanzibar harbour", "2026-12-01T09:00:00Z");
    std::lock_guard lock(fixture.mutex);
    auto& database = *fixture.db.database;

    SECTION("secure-delete is on")
    {
        auto query = database.prepare("SELECT v FROM report_search_config WHERE k = 'secure-delete'");
        REQUIRE(query.step());
        CHECK(query.columnInt(0) == 1);
    }

    SECTION("a deleted report leaves the index")
    {
        CaseQueries cases(database, fixture.db.clock());
        CaseFilter filter;
        filter.search = "zanzibar";
        CHECK(cases.list(filter).size() == 1);
        database.prepare("DELETE FROM reports WHERE id = ?").bind(1, report).run();
        auto query = database.prepare("SELECT count(*) FROM report_search WHERE report_search MATCH 'zanzibar'");
        REQUIRE(query.step());
        CHECK(query.columnInt(0) == 0);
    }
}

TEST_CASE("Manual intake of phone and e-mail reports", "[staff]")
{
    StaffAppFixture fixture("staff-intake");
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    StaffClient client(*fixture.app);
    fixture.logIn(client, anna);
    client.get("/intake");

    SECTION("a phone report becomes a case with its channel and a reference")
    {
        const auto response = client.post("/intake", {{"channel", "phone"}, {"what", "A caller saw a girl at a hostel"},
            {"place", "Hanoi"}, {"when", "yesterday"}, {"category", "travel_tourism"}, {"country", "VN"}, {"language", "en"},
            {"contact_name", "Caller"}, {"contact_phone", "+31 20 000 0000"}, {"consent", "yes"}});
        REQUIRE(response.status == 303);
        const std::string path = header(response, "Location");
        const auto page = client.get(path);
        CHECK_THAT(page.body, ContainsSubstring("A caller saw a girl at a hostel"));
        CHECK_THAT(page.body, ContainsSubstring("<dd class=\"field-channel\">phone</dd>"));
        CHECK_THAT(page.body, ContainsSubstring("<dd class=\"field-consent\">Yes</dd>"));
        CHECK_THAT(page.body, ContainsSubstring("/reveal"));
        CHECK(audited(fixture, "case.created.phone", path.substr(path.rfind('/') + 1)));
        const auto inbox = client.get("/inbox?channel=phone");
        CHECK(inbox.body.find("href=\"" + path + "\"") != std::string::npos);
    }

    SECTION("a report without contact details is anonymous")
    {
        const auto response = client.post("/intake", {{"channel", "email"}, {"what", "An e-mail about a website"}});
        REQUIRE(response.status == 303);
        CHECK_THAT(client.get(header(response, "Location")).body, ContainsSubstring("chose to stay anonymous"));
    }

    SECTION("invalid input is explained and everything typed is kept")
    {
        const auto response = client.post("/intake", {{"channel", "phone"}, {"what", "kept text"},
            {"contact_email", "not an address"}});
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("is invalid"));
        CHECK_THAT(response.body, ContainsSubstring(">kept text</textarea>"));
        CHECK_THAT(response.body, ContainsSubstring("value=\"not an address\""));
        CHECK(client.post("/intake", {{"channel", "fax"}, {"what", "x"}}).status == 400);
        CHECK(client.post("/intake", {{"channel", "phone"}, {"what", " "}}).status == 400);
    }

    SECTION("the category is one of the report form's")
    {
        const auto page = client.get("/intake");
        CHECK_THAT(page.body, ContainsSubstring("<option value=\"travel_tourism\">Sexual exploitation of children in "
                                                "travel and tourism</option>"));
        CHECK_THAT(page.body, ContainsSubstring("<option value=\"not_sure\">Not sure</option>"));
        const auto unknown = client.post("/intake", {{"channel", "phone"}, {"what", "kept text"}, {"category", "travel"}});
        CHECK(unknown.status == 400);
        CHECK_THAT(unknown.body, ContainsSubstring("Choose a category from the list"));
        CHECK_THAT(unknown.body, ContainsSubstring(">kept text</textarea>"));
        client.get("/intake");
        const auto chosen = client.post("/intake", {{"channel", "phone"}, {"what", "A caller"}, {"category", "online_material"}});
        REQUIRE(chosen.status == 303);
        CHECK_THAT(client.get(header(chosen, "Location")).body, ContainsSubstring("online_material"));
    }
}

TEST_CASE("Legal hold on the case page", "[staff]")
{
    StaffAppFixture fixture("staff-legal-hold");
    const auto coordinator = fixture.addMember("carla", Role::Coordinator);
    const auto report = addReport(fixture, "Held for the court", "2026-12-01T09:00:00Z");
    const std::string path = "/cases/" + std::to_string(report);
    auto held = [&] {
        std::lock_guard lock(fixture.mutex);
        auto query = fixture.db.database->prepare("SELECT coalesce(max(legal_hold), 0) FROM case_state WHERE report_id = ?");
        query.bind(1, report);
        query.step();
        return query.columnInt(0) == 1;
    };

    SECTION("a coordinator sets and releases it, and both are audited")
    {
        StaffClient client(*fixture.app);
        fixture.logIn(client, coordinator);
        CHECK_THAT(client.get(path).body, ContainsSubstring("Set a legal hold"));
        auto response = client.post(path + "/legal-hold", {{"hold", "set"}});
        CHECK(response.status == 303);
        CHECK(held());
        CHECK(audited(fixture, "case.legal_hold_set", std::to_string(report)));
        CHECK_THAT(client.get(path).body, ContainsSubstring("Release the legal hold"));
        response = client.post(path + "/legal-hold", {{"hold", "release"}});
        CHECK(response.status == 303);
        CHECK_FALSE(held());
        CHECK(audited(fixture, "case.legal_hold_released", std::to_string(report)));
    }

    SECTION("a value other than set or release is refused with the case page")
    {
        StaffClient client(*fixture.app);
        fixture.logIn(client, coordinator);
        client.get(path);
        const auto response = client.post(path + "/legal-hold", {{"hold", "forever"}});
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("set or to release the legal hold"));
        CHECK_FALSE(held());
    }

    SECTION("caseworkers, admins and auditors may not set it")
    {
        for (Role role : {Role::Caseworker, Role::Admin, Role::Auditor}) {
            const auto member = fixture.addMember(std::string(roleName(role)) + "-hold", role);
            StaffClient client(*fixture.app);
            fixture.logIn(client, member);
            if (role == Role::Caseworker)
                CHECK_THAT(client.get(path).body, !ContainsSubstring("/legal-hold"));
            else
                client.get("/account");
            INFO(roleName(role));
            CHECK(client.post(path + "/legal-hold", {{"hold", "set"}}).status == 403);
            CHECK_FALSE(held());
        }
    }
}
