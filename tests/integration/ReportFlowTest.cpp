// A person's way through the public site: the form in their language, a
// report sent over HTTPS through the public edge, and the report stored
// byte-exact in the TPM-sealed database.

#include "Appliance.h"
#include "Reports.h"
#include "StoredReports.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <catch2/catch_test_macros.hpp>

using namespace meldpunt::test;

namespace {

std::string categoryFor(const std::string& testDataCategory)
{
    if (testDataCategory == "travel-and-tourism")
        return "travel_tourism";
    if (testDataCategory == "online-abuse-material" || testDataCategory == "online")
        return "online_material";
    if (testDataCategory == "other-violence")
        return "other_violence";
    return "not_sure";
}

// The six fictional reports in tests/data, as their reporters would type
// them into the form.
std::vector<Fields> fictionalReports()
{
    Poco::JSON::Parser parser;
    const auto root = parser.parse(readFile(std::string(MELDPUNT_SOURCE_DIR) + "/tests/data/reports.json"))
                          .extract<Poco::JSON::Object::Ptr>();
    const auto list = root->getArray("reports");
    std::vector<Fields> reports;
    for (unsigned i = 0; i < list->size(); ++i) {
        const auto report = list->getObject(i);
        const auto where = report->getObject("where");
        const bool anonymous = report->getValue<bool>("anonymous");
        std::string what = report->getValue<std::string>("what");
        for (const char* extra : {"who", "why_suspicious"}) {
            if (report->has(extra))
                what += "\n" + report->getValue<std::string>(extra);
        }
        // A reporter who does not know the country picks "I do not know".
        std::string country = where->getValue<std::string>("country");
        if (country.empty())
            country = "unknown";
        Fields fields = {{"what", what}, {"country", country},
            {"place", where->optValue<std::string>("place", "") + ", " + where->optValue<std::string>("venue_name", "")},
            {"when", report->optValue<std::string>("when", "")},
            {"category", categoryFor(report->getValue<std::string>("category"))},
            {"contact", anonymous ? "anonymous" : "contact"}, {"consent", "yes"},
            {"language", report->getValue<std::string>("language")}};
        if (!anonymous) {
            const auto contact = report->getObject("contact");
            for (const char* name : {"name", "email", "phone"})
                fields.emplace_back(name, contact->optValue<std::string>(name, ""));
        }
        fields.emplace_back("form_end", "1");
        reports.push_back(fields);
    }
    return reports;
}

std::string valueOf(const Fields& fields, const std::string& name)
{
    for (const auto& [key, value] : fields) {
        if (key == name)
            return value;
    }
    return {};
}

} // namespace

TEST_CASE("Form is served in the reporter's language", "[site]")
{
    Appliance appliance("language");
    appliance.startAll();
    const auto client = appliance.publicClient();

    SECTION("the root redirects by Accept-Language")
    {
        const auto dutch = client.get("/", {"Accept-Language: nl-BE,nl;q=0.9,en;q=0.5"});
        CHECK(dutch.status == 303);
        CHECK(dutch.header("location") == "https://localhost:" + std::to_string(appliance.publicPort()) + "/nl/");
        const auto english = client.get("/", {"Accept-Language: pt;q=1, en-GB;q=0.8, nl;q=0.2"});
        CHECK(english.header("location").ends_with("/en/"));
        CHECK(english.header("vary") == "Accept-Language");
    }
    SECTION("the language is in the path")
    {
        const auto dutch = client.get("/nl/report");
        REQUIRE(dutch.status == 200);
        CHECK(dutch.body.find("<html lang=\"nl\"") != std::string::npos);
        CHECK(dutch.body.find("Melding versturen") != std::string::npos);
        const auto english = client.get("/en/report");
        REQUIRE(english.status == 200);
        CHECK(english.body.find("Send report") != std::string::npos);
        CHECK(english.header("cache-control") == "no-store");
    }
    SECTION("every site language has its form and its edge pages")
    {
        const std::vector<std::pair<std::string, std::string>> languages = {{"fr", "Envoyer le signalement"},
            {"de", "Meldung absenden"}, {"es", "Enviar denuncia"}, {"ru", "Отправить сообщение"}};
        for (const auto& [language, sendLabel] : languages) {
            CAPTURE(language);
            const auto form = client.get("/" + language + "/report");
            CHECK(form.status == 200);
            CHECK(form.body.find("<html lang=\"" + language + "\"") != std::string::npos);
            CHECK(form.body.find(sendLabel) != std::string::npos);
            const auto tooLarge = client.post("/" + language + "/report", "what=" + std::string(1100 * 1024, 'a'));
            CHECK(tooLarge.status == 413);
            CHECK(tooLarge.body.find("<html lang=\"" + language + "\"") != std::string::npos);
        }
        CHECK(client.get("/", {"Accept-Language: ru-RU,ru;q=0.9"}).header("location").ends_with("/ru/"));
    }
    SECTION("search engines get the configured origin, never the Host header")
    {
        const std::string origin = "https://localhost:" + std::to_string(appliance.publicPort());
        const auto page = client.get("/de/privacy", {"Host: attacker.example"});
        CHECK(page.body.find("<link rel=\"canonical\" href=\"" + origin + "/de/privacy\">") != std::string::npos);
        CHECK(page.body.find("hreflang=\"ru\" href=\"" + origin + "/ru/privacy\"") != std::string::npos);
        CHECK(page.body.find("attacker.example") == std::string::npos);
        const auto robots = client.get("/robots.txt");
        CHECK(robots.status == 200);
        CHECK(robots.body.find("Sitemap: " + origin + "/sitemap.xml") != std::string::npos);
        CHECK(robots.body.find("Disallow") == std::string::npos);
        const auto sitemap = client.get("/sitemap.xml");
        CHECK(sitemap.status == 200);
        CHECK(sitemap.body.find("<loc>" + origin + "/fr/</loc>") != std::string::npos);
        CHECK(sitemap.body.find("<loc>" + origin + "/ru/report</loc>") != std::string::npos);
        CHECK(sitemap.body.find("hreflang=\"es\"") != std::string::npos);
    }
    SECTION("the home page leads to the form and the privacy statement at once")
    {
        const auto home = client.get("/en/");
        REQUIRE(home.status == 200);
        CHECK(home.body.find("href=\"/en/report\"") != std::string::npos);
        CHECK(home.body.find("href=\"/en/privacy\"") != std::string::npos);
        CHECK(home.body.find("112") != std::string::npos);
        CHECK(client.get("/en/info/no-such-page").status == 404);
        CHECK(client.get("/en/info/%2e%2e%2fprivacy").status == 404);
        CHECK(client.get("/en/info/FAQ").status == 404);
    }
    SECTION("the form has every field and links the privacy statement")
    {
        const auto page = client.get("/en/report").body;
        for (const char* field : {"name=\"what\"", "name=\"country\"", "name=\"place\"", "name=\"when\"",
                 "name=\"category\"", "name=\"contact\"", "name=\"email\"", "name=\"consent\""})
            CHECK(page.find(field) != std::string::npos);
        CHECK(page.find("href=\"/en/privacy\"") != std::string::npos);
        CHECK(client.get("/en/privacy").status == 200);
    }
    SECTION("the language switch keeps what was typed")
    {
        auto fields = withField(validReport("Zwemmen <b>bij</b> het hotel"), "switch_language", "en");
        const auto page = client.post("/en/report", formBody(fields));
        REQUIRE(page.status == 200);
        CHECK(page.body.find("Send report") != std::string::npos);
        CHECK(page.body.find("Zwemmen &lt;b&gt;bij&lt;/b&gt; het hotel") != std::string::npos);
        CHECK(page.body.find("value=\"Pattaya, hotel by the beach\"") != std::string::npos);
    }
}

TEST_CASE("Reports land in the database byte-exact", "[site]")
{
    Appliance appliance("reports");
    appliance.startAll();
    const auto client = appliance.publicClient();

    std::vector<std::string> references;
    const auto reports = fictionalReports();
    REQUIRE(reports.size() == 6);
    for (const auto& report : reports) {
        const auto receipt = client.post("/" + std::string(valueOf(report, "language") == "nl" ? "nl" : "en") + "/report",
            formBody(report));
        REQUIRE(receipt.status == 200);
        references.push_back(referenceOnReceipt(receipt.body));
        CHECK(references.back().size() == 29);
    }
    REQUIRE(appliance.waitForEmptySpool());

    const auto stored = readStoredReports(appliance.stateFolder(), appliance.tpm().tcti());
    REQUIRE(stored.size() == reports.size());
    for (std::size_t i = 0; i < reports.size(); ++i) {
        CAPTURE(i);
        CHECK(stored[i].at("reference") == references[i]);
        CHECK(stored[i].at("what") == valueOf(reports[i], "what"));
        CHECK(stored[i].at("country") == valueOf(reports[i], "country"));
        CHECK(stored[i].at("place") == valueOf(reports[i], "place"));
        CHECK(stored[i].at("when") == valueOf(reports[i], "when"));
        CHECK(stored[i].at("category") == valueOf(reports[i], "category"));
        CHECK(stored[i].at("status") == "new");
        CHECK(stored[i].at("channel") == "form");
        if (valueOf(reports[i], "contact") == "contact") {
            CHECK(stored[i].at("email") == valueOf(reports[i], "email"));
            CHECK(stored[i].at("anonymous") == "0");
        } else {
            CHECK(stored[i].at("email") == "(null)");
            CHECK(stored[i].at("anonymous") == "1");
        }
    }

    SECTION("reports survive a restart of meldpuntd")
    {
        const std::string sealedBefore = readFile(appliance.sealedKeyFile());
        appliance.stopDaemon();
        appliance.startDaemon();
        REQUIRE(appliance.waitForIntakeKey());
        CHECK(readFile(appliance.sealedKeyFile()) == sealedBefore);
        const auto again = readStoredReports(appliance.stateFolder(), appliance.tpm().tcti());
        CHECK(again == stored);
        const auto receipt = client.post("/en/report", formBody(validReport("after the restart")));
        CHECK(receipt.status == 200);
        REQUIRE(appliance.waitForEmptySpool());
        CHECK(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()).size() == reports.size() + 1);
    }
}
