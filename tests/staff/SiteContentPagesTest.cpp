// The coordinators' pages for the public site's texts, the form's
// categories and their protocol checklists, through StaffApp with the
// real templates, a real database and a real publish folder.

#include "PublishedContent.h"
#include "StaffApp.h"
#include "StaffAppFixture.h"
#include "TestData.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>

using namespace meldpunt::staff;
using Catch::Matchers::ContainsSubstring;
using meldpunt::readPublishedSiteContent;
using meldpunt::test::header;
using meldpunt::test::StaffAppFixture;
using meldpunt::test::StaffClient;

namespace {

// Gives the fixture's StaffApp a publish folder in its scratch folder.
std::filesystem::path publishInto(StaffAppFixture& fixture)
{
    const auto folder = fixture.db.scratch.path() / "publish";
    std::filesystem::create_directories(folder);
    StaffSettings settings;
    settings.setupCodeFile = fixture.db.scratch.path() / "setup-code";
    settings.publishFolder = folder;
    fixture.app = std::make_unique<StaffApp>(*fixture.db.database, fixture.mutex, fixture.pages, settings,
        fixture.db.clock());
    return folder;
}

bool audited(StaffAppFixture& fixture, const std::string& action, const std::string& objectId = "*")
{
    const auto entries = fixture.auditEntries();
    return std::any_of(entries.begin(), entries.end(), [&](const AuditEntry& entry) {
        return entry.action == action && (objectId == "*" || entry.objectId == objectId);
    });
}

// True when any audit entry carries `text` in any of its fields.
bool auditHolds(StaffAppFixture& fixture, const std::string& text)
{
    const auto entries = fixture.auditEntries();
    return std::any_of(entries.begin(), entries.end(), [&](const AuditEntry& entry) {
        return entry.action.find(text) != std::string::npos || entry.objectType.find(text) != std::string::npos
            || entry.objectId.find(text) != std::string::npos;
    });
}

} // namespace

TEST_CASE("Coordinators edit the public texts", "[staff]")
{
    StaffAppFixture fixture("staff-site-texts");
    const auto folder = publishInto(fixture);
    const auto cora = fixture.addMember("cora", Role::Coordinator);
    StaffClient client(*fixture.app);
    fixture.logIn(client, cora);

    const auto list = client.get("/site");
    REQUIRE(list.status == 200);
    CHECK_THAT(list.body, ContainsSubstring("href=\"/site/text?page=info-faq&amp;language=nl\""));
    REQUIRE(client.get("/site/text?page=info-faq&language=nl").status == 200);

    SECTION("a saved text is published as Markdown, previewed escaped, and restored")
    {
        const std::string markdown = "# Vragen\n\nLees **dit** eerst <script>alert(1)</script>.\n\n- [Melden](/nl/report)";
        const auto saved = client.post("/site/text", {{"page", "info-faq"}, {"language", "nl"}, {"markdown", markdown}});
        REQUIRE(saved.status == 303);
        const auto content = readPublishedSiteContent(folder);
        REQUIRE(content);
        REQUIRE(content->text("info-faq", "nl") != nullptr);
        CHECK(*content->text("info-faq", "nl") == markdown);
        CHECK(content->text("info-faq", "en") == nullptr);
        const auto page = client.get(header(saved, "Location"));
        CHECK_THAT(page.body, ContainsSubstring("<h1>Vragen</h1>"));
        CHECK_THAT(page.body, ContainsSubstring("&lt;script&gt;alert(1)&lt;/script&gt;"));
        CHECK(page.body.find("<script>") == std::string::npos);
        CHECK(audited(fixture, "site_text.saved", "info-faq/nl"));
        CHECK_FALSE(auditHolds(fixture, "Vragen"));

        REQUIRE(client.post("/site/text/restore", {{"page", "info-faq"}, {"language", "nl"}}).status == 303);
        CHECK(readPublishedSiteContent(folder)->text("info-faq", "nl") == nullptr);
        CHECK(audited(fixture, "site_text.restored", "info-faq/nl"));
    }

    SECTION("invalid input is refused with what to do, and the text stays in the form")
    {
        const auto post = [&](const std::string& page, const std::string& language, const std::string& markdown) {
            return client.post("/site/text", {{"page", page}, {"language", language}, {"markdown", markdown}});
        };
        auto response = post("info-faq", "xx", "text");
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("Choose a page and a language from the table."));
        CHECK(post("privacy", "nl", "text").status == 400);
        CHECK(post("info-partners", "nl", "text").status == 400);
        response = post("info-faq", "nl", "Klik [hier](javascript:alert(1)) nu");
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("Links must start with https:, mailto: or /"));
        CHECK_THAT(response.body, ContainsSubstring("Klik [hier](javascript:alert(1)) nu"));
        response = post("info-faq", "nl", std::string(20001, 'a'));
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("at most 20000 fit"));
        CHECK(post("info-faq", "nl", "  \n ").status == 400);
        CHECK(post("info-faq", "nl", std::string("nul\0byte", 8)).status == 400);
        CHECK(client.get("/site/text?page=nothing&language=nl").status == 400);
        CHECK_FALSE(readPublishedSiteContent(folder).has_value());
    }
}

TEST_CASE("Only coordinators edit the site", "[staff]")
{
    StaffAppFixture fixture("staff-site-roles");
    std::int64_t caseId = 0;
    {
        std::lock_guard lock(fixture.mutex);
        caseId = fixture.db.addReport("seen at the pier", "2026-07-01T10:00:00Z");
    }
    for (const Role role : {Role::Caseworker, Role::Auditor, Role::Admin}) {
        const auto member = fixture.addMember(std::string("member-") + roleName(role), role);
        StaffClient client(*fixture.app);
        fixture.logIn(client, member);
        INFO(roleName(role));
        CHECK(client.get("/site").status == 403);
        CHECK(client.get("/site/text?page=home&language=en").status == 403);
        CHECK(client.post("/site/text", {{"page", "home"}, {"language", "en"}, {"markdown", "x"}}).status == 403);
        CHECK(client.post("/site/text/restore", {{"page", "home"}, {"language", "en"}}).status == 403);
        CHECK(client.get("/categories").status == 403);
        CHECK(client.post("/categories", {{"code", "added"}, {"label_en", "Added"}}).status == 403);
        CHECK(client.get("/categories/1").status == 403);
        CHECK(client.post("/categories/1", {{"label_en", "Renamed"}}).status == 403);
        CHECK(client.post("/categories/1/disable", {}).status == 403);
        CHECK(client.post("/categories/1/enable", {}).status == 403);
        CHECK(client.post("/categories/1/steps", {{"text", "Step"}}).status == 403);
        CHECK(client.post("/categories/1/steps/remove", {{"step", "1"}}).status == 403);
        // The checklist on a case is for the people who work cases.
        const int tick = client.post("/cases/" + std::to_string(caseId) + "/protocol", {}).status;
        CHECK((role == Role::Caseworker ? tick != 403 : tick == 403));
    }
    CHECK(audited(fixture, "access.denied", "/categories/{id}/disable"));
}

TEST_CASE("Coordinators keep the report categories", "[staff]")
{
    StaffAppFixture fixture("staff-categories");
    const auto folder = publishInto(fixture);
    const auto cora = fixture.addMember("cora", Role::Coordinator);
    StaffClient client(*fixture.app);
    fixture.logIn(client, cora);
    REQUIRE(client.get("/categories").status == 200);

    const auto created = client.post("/categories", {{"code", "trafficking_online"}, {"label_en", "Online grooming"},
        {"label_nl", "Online grooming (nl)"}});
    REQUIRE(created.status == 303);
    const std::string path = header(created, "Location");
    const std::string id = path.substr(path.rfind('/') + 1);
    CHECK(audited(fixture, "category.created", id));
    auto content = readPublishedSiteContent(folder);
    REQUIRE(content);
    REQUIRE(content->offersCategory("trafficking_online"));
    CHECK(content->offersCategory("travel_tourism"));
    CHECK(content->categories.back().labels.at("nl") == "Online grooming (nl)");

    SECTION("a category is renamed per language and disabled, never deleted")
    {
        REQUIRE(client.get(path).status == 200);
        REQUIRE(client.post(path, {{"label_en", "Grooming online"}, {"label_de", "Grooming im Netz"}}).status == 303);
        content = readPublishedSiteContent(folder);
        CHECK(content->categories.back().labels.at("de") == "Grooming im Netz");
        CHECK_FALSE(content->categories.back().labels.contains("nl"));
        CHECK(audited(fixture, "category.renamed", id));

        REQUIRE(client.post(path + "/disable", {}).status == 303);
        CHECK_FALSE(readPublishedSiteContent(folder)->offersCategory("trafficking_online"));
        CHECK(audited(fixture, "category.disabled", id));
        CHECK_THAT(client.get("/categories").body, ContainsSubstring("trafficking_online"));
        REQUIRE(client.post(path + "/enable", {}).status == 303);
        CHECK(readPublishedSiteContent(folder)->offersCategory("trafficking_online"));
        CHECK_FALSE(auditHolds(fixture, "grooming"));
    }

    SECTION("invalid categories are refused with what to do")
    {
        auto response = client.post("/categories", {{"code", "Bad Code"}, {"label_en", "x"}});
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("lower-case letters a to z"));
        CHECK_THAT(response.body, ContainsSubstring("value=\"Bad Code\""));
        response = client.post("/categories", {{"code", "trafficking_online"}, {"label_en", "x"}});
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("exists already"));
        response = client.post("/categories", {{"code", "no_label"}, {"label_nl", "alleen nl"}});
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("needs an English label"));
        CHECK(client.post("/categories", {{"code", "long_label"}, {"label_en", std::string(121, 'x')}}).status == 400);
        CHECK(client.post(path, {{"label_en", ""}}).status == 400);
        CHECK(client.post("/categories/999", {{"label_en", "x"}}).status == 404);
    }

    SECTION("the last category on the form cannot be disabled")
    {
        int disabled = 0;
        for (int each = 1; each <= 5; ++each)
            disabled += client.post("/categories/" + std::to_string(each) + "/disable", {}).status == 303 ? 1 : 0;
        CHECK(disabled == 4);
        const auto refused = client.post("/categories/5/disable", {});
        CHECK(refused.status == 400);
        CHECK_THAT(refused.body, ContainsSubstring("last category the form offers"));
        CHECK(readPublishedSiteContent(folder)->categories.size() == 1);
    }
}

TEST_CASE("Caseworkers tick the protocol checklist", "[staff]")
{
    StaffAppFixture fixture("staff-protocol");
    const auto cora = fixture.addMember("cora", Role::Coordinator);
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    StaffClient coordinator(*fixture.app);
    StaffClient caseworker(*fixture.app);
    fixture.logIn(coordinator, cora);
    fixture.logIn(caseworker, anna);
    std::int64_t caseId = 0;
    {
        std::lock_guard lock(fixture.mutex);
        caseId = fixture.db.addReport("seen at the pier", "2026-07-01T10:00:00Z");
        fixture.db.database->prepare("UPDATE reports SET category = 'travel_tourism' WHERE id = ?")
            .bind(1, caseId)
            .run();
    }
    const std::string casePath = "/cases/" + std::to_string(caseId);

    coordinator.get("/categories/1");
    REQUIRE(coordinator.post("/categories/1/steps", {{"text", "Check whether the hotel is named"}}).status == 303);
    REQUIRE(coordinator.post("/categories/1/steps", {{"text", "Look up the <hotel> & its chain"}}).status == 303);
    coordinator.get("/categories/2");
    REQUIRE(coordinator.post("/categories/2/steps", {{"text", "Another category's step"}}).status == 303);
    const auto emptyStep = coordinator.post("/categories/1/steps", {{"text", " "}});
    CHECK(emptyStep.status == 400);
    CHECK_THAT(emptyStep.body, ContainsSubstring("The step is empty. Type it."));
    CHECK(audited(fixture, "protocol_step.added", "1"));
    CHECK_FALSE(auditHolds(fixture, "hotel"));
    CHECK(coordinator.post("/categories/1/steps", {{"text", ""}}).status == 400);

    auto page = caseworker.get(casePath);
    REQUIRE(page.status == 200);
    CHECK_THAT(page.body, ContainsSubstring("<input type=\"checkbox\" id=\"step-1\" name=\"step\" value=\"1\">"));
    CHECK_THAT(page.body, ContainsSubstring("Look up the &lt;hotel&gt; &amp; its chain"));
    CHECK(page.body.find("Another category's step") == std::string::npos);

    SECTION("ticking is stored per case and audited by ids")
    {
        REQUIRE(caseworker.post(casePath + "/protocol", {{"step", "2"}}).status == 303);
        page = caseworker.get(casePath);
        CHECK_THAT(page.body, ContainsSubstring("value=\"2\" checked"));
        CHECK_THAT(page.body, ContainsSubstring("value=\"1\">"));
        CHECK(audited(fixture, "case.protocol_step_ticked", std::to_string(caseId) + "/2"));

        REQUIRE(caseworker.post(casePath + "/protocol", {{"step", "1"}}).status == 303);
        page = caseworker.get(casePath);
        CHECK_THAT(page.body, ContainsSubstring("value=\"1\" checked"));
        CHECK_THAT(page.body, ContainsSubstring("value=\"2\">"));
        CHECK(audited(fixture, "case.protocol_step_unticked", std::to_string(caseId) + "/2"));
    }

    SECTION("a step of another checklist or no step at all is refused")
    {
        auto response = caseworker.post(casePath + "/protocol", {{"step", "3"}});
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("is not on this case"));
        CHECK(caseworker.post(casePath + "/protocol", {{"step", "x"}}).status == 400);
        CHECK(caseworker.post("/cases/999/protocol", {{"step", "1"}}).status == 404);
    }

    SECTION("a removed step leaves the case page")
    {
        coordinator.get("/categories/1");
        REQUIRE(coordinator.post("/categories/1/steps/remove", {{"step", "1"}}).status == 303);
        CHECK(audited(fixture, "protocol_step.removed", "1"));
        CHECK(caseworker.get(casePath).body.find("Check whether the hotel is named") == std::string::npos);
        CHECK(coordinator.post("/categories/1/steps/remove", {{"step", "3"}}).status == 400);
    }
}
