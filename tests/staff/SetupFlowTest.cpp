// The first-boot setup page: the setup code, the organisation's details
// and calendar, and the first admin, checked field by field and stored
// together, once.

#include "StaffAppFixture.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <map>

using namespace meldpunt::staff;
using namespace meldpunt::test;
using Catch::Matchers::ContainsSubstring;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

Fields validForm(const std::string& code)
{
    return {{"setup_code", code}, {"organisation", "Stichting Meldpunt Test"},
        {"contact_email", "hotline@example.org"}, {"time_zone", "America/New_York"}, {"working_days_sent", "1"},
        {"working_day", "1"}, {"working_day", "2"}, {"working_day", "3"}, {"working_day", "4"},
        {"end_of_day", "16:30"}, {"username", "root"}, {"password", "correct horse battery"},
        {"password_again", "correct horse battery"}};
}

Fields with(Fields fields, const std::string& name, const std::string& value)
{
    for (auto& field : fields)
        if (field.first == name)
            field.second = value;
    return fields;
}

std::map<std::string, std::string> storedSettings(StaffAppFixture& fixture)
{
    std::map<std::string, std::string> settings;
    auto query = fixture.db.database->prepare("SELECT key, value FROM site_settings");
    while (query.step())
        settings[query.columnText(0)] = query.columnText(1);
    return settings;
}

} // namespace

TEST_CASE("Setup page names each invalid field", "[staff][setup]")
{
    StaffAppFixture fixture("setup-fields");
    const std::string code = fixture.app->prepareFirstSetup();
    StaffClient client(*fixture.app);
    client.get("/setup");

    struct Case {
        std::string field;
        std::string value;
        std::string message;
    };
    const Case cases[] = {
        {"time_zone", "Mars/Olympus_Mons", "is not a time zone this box knows"},
        {"time_zone", "../../etc/passwd", "is not a time zone this box knows"},
        {"end_of_day", "25:00", "Type it as HH:MM"},
        {"end_of_day", "5pm", "Type it as HH:MM"},
        {"contact_email", "hotline at example", "is not an e-mail address"},
        {"organisation", "Line one\nline two", "Type it on one line"},
        {"organisation", std::string(121, 'x'), "longer than 120 characters"},
        {"password_again", "another horse battery", "The two passwords differ"},
        {"working_day", "9", "could not be read"},
    };
    for (const auto& bad : cases) {
        INFO(bad.field << " = " << bad.value);
        const auto response = client.post("/setup", with(validForm(code), bad.field, bad.value));
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring(bad.message));
        CHECK_THAT(response.body, ContainsSubstring("aria-invalid=\"true\""));
        client.get("/setup");
    }

    SECTION("no working day ticked")
    {
        Fields fields;
        for (const auto& field : validForm(code))
            if (field.first != "working_day")
                fields.push_back(field);
        const auto response = client.post("/setup", fields);
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("Tick at least one working day"));
    }
    SECTION("several problems are listed together")
    {
        auto fields = with(with(validForm(code), "time_zone", "Nowhere"), "end_of_day", "noon");
        const auto response = client.post("/setup", fields);
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("href=\"#time_zone\""));
        CHECK_THAT(response.body, ContainsSubstring("href=\"#end_of_day\""));
        // What was typed stays in the form.
        CHECK_THAT(response.body, ContainsSubstring("value=\"Stichting Meldpunt Test\""));
    }
    SECTION("a rejected form leaves the code valid")
    {
        CHECK(storedSettings(fixture).empty());
        const auto response = client.post("/setup", validForm(code));
        INFO(response.body);
        CHECK(response.status == 200);
        CHECK_THAT(response.body, ContainsSubstring("The admin account exists"));
    }
}

TEST_CASE("Setup stores the calendar once", "[staff][setup]")
{
    StaffAppFixture fixture("setup-store");
    const std::string code = fixture.app->prepareFirstSetup();
    StaffClient client(*fixture.app);
    client.get("/setup");
    const auto response = client.post("/setup", validForm(code));
    INFO(response.body);
    REQUIRE(response.status == 200);

    const auto stored = storedSettings(fixture);
    CHECK(stored.at("organisation_name") == "Stichting Meldpunt Test");
    CHECK(stored.at("contact_email") == "hotline@example.org");
    CHECK(stored.at("time_zone") == "America/New_York");
    CHECK(stored.at("working_days") == "1,2,3,4");
    CHECK(stored.at("end_of_working_day") == "16:30");

    // The code worked once: a second form with it changes nothing.
    client.get("/setup");
    const auto again = client.post(
        "/setup", with(with(validForm(code), "username", "root2"), "time_zone", "Europe/Amsterdam"));
    CHECK(again.status == 403);
    CHECK_THAT(again.body, ContainsSubstring("wrong or was used already"));
    CHECK(storedSettings(fixture).at("time_zone") == "America/New_York");

    // Once an admin exists, the page shows none of the stored details.
    const auto page = client.get("/setup");
    CHECK_THAT(page.body, !ContainsSubstring("America/New_York"));
    CHECK_THAT(page.body, !ContainsSubstring("Stichting Meldpunt Test"));

    // A restarted daemon's staff interface counts deadlines in the stored
    // zone. The report arrives on Wednesday 2 December 2026 at 09:00 UTC,
    // 04:00 in New York, and is due 48 hours later: 04:00 there, where
    // Amsterdam, meldpuntd.ini's zone, would show 10:00.
    fixture.app = std::make_unique<StaffApp>(*fixture.db.database, fixture.mutex, fixture.pages, StaffSettings{},
        fixture.db.clock());
    fixture.db.addReport("report for the calendar", "2026-12-02T09:00:00Z");
    const auto caseworker = fixture.addMember("anna", Role::Caseworker);
    StaffClient fresh(*fixture.app);
    fixture.logIn(fresh, caseworker);
    const auto inbox = fresh.get("/inbox");
    REQUIRE(inbox.status == 200);
    CHECK_THAT(inbox.body, ContainsSubstring("2026-12-02 04:00"));
    CHECK_THAT(inbox.body, ContainsSubstring("2026-12-04 04:00"));
}
