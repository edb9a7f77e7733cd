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

#include <algorithm>
#include <filesystem>
#include <map>

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
        for (const char* info : {"anonymity", "after-a-report", "faq", "signs", "young-people"}) {
            CAPTURE(info);
            CHECK(sitemap.body.find("<loc>" + origin + "/nl/info/" + info + "</loc>") != std::string::npos);
        }
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

TEST_CASE("Typed fields are kept from autofill", "[site]")
{
    Appliance appliance("autofill");
    appliance.startAll();
    const auto client = appliance.publicClient();

    // A browser that remembers what was typed offers it to the next person
    // on a shared phone or computer, so no field of any form page may be
    // remembered. The return page once opened is checked in
    // ReturnVisitTest.
    const auto unsent = client.post("/en/report", formBody(withoutField(validReport("x"), "consent")));
    REQUIRE(unsent.status == 422);
    const std::vector<std::pair<std::string, std::string>> pages = {
        {"form", client.get("/en/report").body},
        {"form after a failed check", unsent.body},
        {"Dutch form", client.get("/nl/report").body},
        {"complaint form", client.get("/en/complaint").body},
        {"resume page", client.get("/en/resume").body},
        {"return page", client.get("/en/return").body},
    };
    const std::map<std::string, std::size_t> fewestFields = {{"form", 25}, {"form after a failed check", 25},
        {"Dutch form", 25}, {"complaint form", 2}, {"resume page", 1}, {"return page", 2}};
    for (const auto& [page, html] : pages) {
        CAPTURE(page);
        const auto fields = typedFieldsOnPage(html);
        CHECK(fields.size() >= fewestFields.at(page));
        for (const auto& field : fields) {
            CAPTURE(field.tag);
            CHECK(field.tag.find(" autocomplete=\"off\"") != std::string::npos);
        }
    }
    for (const char* name : {"what", "place", "when", "city", "remarks", "name", "email", "phone"}) {
        CAPTURE(name);
        CHECK(fieldOnPage(pages[0].second, name).tag.find(" autocomplete=\"off\"") != std::string::npos);
    }
}

namespace {

std::string descriptionOn(const std::string& html)
{
    const std::string marker = "<meta name=\"description\" content=\"";
    const auto start = html.find(marker);
    if (start == std::string::npos)
        return {};
    const auto begin = start + marker.size();
    return html.substr(begin, html.find('"', begin) - begin);
}

// Every page a search engine or a reporter reaches by a link: the home
// page, the form pages, the privacy statement and each information page
// that has a template.
std::vector<std::string> linkedPages()
{
    std::vector<std::string> pages = {"", "report", "privacy", "complaint", "resume", "return"};
    const std::filesystem::path templates = std::filesystem::path(MELDPUNT_SOURCE_DIR) / "webui/templates";
    for (const auto& item : std::filesystem::directory_iterator(templates)) {
        const std::string stem = item.path().stem().string();
        if (stem.starts_with("info-"))
            pages.push_back("info/" + stem.substr(5));
    }
    return pages;
}

} // namespace

TEST_CASE("Pages have their own descriptions", "[site]")
{
    Appliance appliance("descriptions");
    appliance.startAll();
    const auto client = appliance.publicClient();
    const auto pages = linkedPages();
    REQUIRE(pages.size() >= 19);

    std::map<std::string, std::string> english;
    for (const char* language : {"en", "nl", "fr", "de", "es", "ru"}) {
        std::map<std::string, std::string> pageOf;
        for (const auto& page : pages) {
            CAPTURE(language, page);
            const auto response = client.get(std::string("/") + language + "/" + page);
            REQUIRE(response.status == 200);
            const std::string description = descriptionOn(response.body);
            // Search engines show about 160 characters of a description.
            const auto characters = std::count_if(description.begin(), description.end(),
                [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; });
            CHECK(characters >= 30);
            CHECK(characters <= 160);
            // The description sits in the head only, never in the page.
            CHECK(response.body.find("name=\"description\"") == response.body.rfind("name=\"description\""));
            const auto [existing, unique] = pageOf.emplace(description, page);
            CAPTURE(existing->second);
            CHECK(unique);
            if (std::string(language) == "en")
                english[page] = description;
            else
                CHECK(description != english[page]);
        }
    }
}

// Counts the places where `needle` occurs in `haystack`.
std::size_t occurrences(const std::string& haystack, const std::string& needle)
{
    std::size_t count = 0;
    for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + needle.size()))
        ++count;
    return count;
}

TEST_CASE("Every page shows emergency help", "[site]")
{
    Appliance appliance("emergency-help");
    appliance.startAll();
    const auto client = appliance.publicClient();
    const auto checkPage = [](const std::string& html, const std::string& language) {
        CHECK(occurrences(html, "class=\"quick-exit\" href=\"https://www.wikipedia.org/\"") == 1);
        CHECK(html.find("112") != std::string::npos);
        CHECK(html.find("href=\"/" + language + "/info/young-people\"") != std::string::npos);
    };
    for (const char* language : {"en", "nl", "fr", "de", "es", "ru"}) {
        for (const auto& page : linkedPages()) {
            CAPTURE(language, page);
            const auto response = client.get(std::string("/") + language + "/" + page);
            REQUIRE(response.status == 200);
            checkPage(response.body, language);
        }
        CAPTURE(language);
        const auto receipt = client.post(std::string("/") + language + "/report", formBody(validReport("receipt help")));
        REQUIRE(receipt.status == 200);
        REQUIRE(!referenceOnReceipt(receipt.body).empty());
        checkPage(receipt.body, language);
        const auto missing = client.post(std::string("/") + language + "/report",
            formBody(withField(validReport("missing consent"), "consent", "")));
        CHECK(missing.status == 422);
        checkPage(missing.body, language);
    }
    // The edge's own pages for its limits and for a daemon that is down.
    const std::filesystem::path errors = std::filesystem::path(MELDPUNT_BINARY_DIR) / "webui/errors";
    for (const auto& folder : std::filesystem::directory_iterator(errors)) {
        if (!folder.is_directory())
            continue;
        for (const auto& page : std::filesystem::directory_iterator(folder.path())) {
            CAPTURE(page.path().string());
            const std::string html = readFile(page.path());
            CHECK(occurrences(html, "class=\"quick-exit\"") == 1);
            CHECK(html.find("112") != std::string::npos);
        }
    }
}

TEST_CASE("Anonymity texts match what the site does", "[site]")
{
    Appliance appliance("anonymity-texts");
    appliance.startAll();
    const auto client = appliance.publicClient();

    // Any reporter, anonymous or not, can come back with the receipt to read
    // and answer questions, add information or withdraw, and the form takes
    // photos and videos. These sentences stated otherwise.
    const std::vector<std::string> falseClaims = {"receive no feedback", "will not receive any feedback",
        "cannot ask you questions", "We cannot tell you what happened", "do not send images of children",
        "make a new report and mention the reference", "If you send us a photo later"};
    const std::map<std::string, std::vector<std::string>> trueClaims = {
        {"info/anonymity", {"receipt secret", "read our questions and answer them", "withdraw your report",
                               "We do not record your IP address", "What anonymity costs"}},
        {"info/after-a-report", {"receipt secret", "This works for anonymous reports too", "withdraw the report"}},
        {"info/faq", {"receipt secret", "You can add photos, videos and documents", "withdraw your report"}},
        {"report", {"with the reference and the receipt secret", "withdraw your report",
                       "We never record your IP address", "href=\"/en/info/anonymity\" target=\"_blank\""}},
    };
    for (const auto& [page, claims] : trueClaims) {
        CAPTURE(page);
        const auto response = client.get("/en/" + page);
        REQUIRE(response.status == 200);
        for (const auto& claim : falseClaims) {
            CAPTURE(claim);
            CHECK(response.body.find(claim) == std::string::npos);
        }
        for (const auto& claim : claims) {
            CAPTURE(claim);
            CHECK(response.body.find(claim) != std::string::npos);
        }
    }
    // In every language the information pages lead to the return page, and
    // the choice on the form to the page about anonymity.
    for (const char* language : {"nl", "en", "fr", "de", "es", "ru"}) {
        CAPTURE(language);
        const std::string prefix = std::string("/") + language;
        for (const char* page : {"/info/anonymity", "/info/after-a-report", "/info/faq"})
            CHECK(client.get(prefix + page).body.find("href=\"" + prefix + "/return\"") != std::string::npos);
        CHECK(client.get(prefix + "/report").body.find("href=\"" + prefix + "/info/anonymity\"") != std::string::npos);
    }
}
