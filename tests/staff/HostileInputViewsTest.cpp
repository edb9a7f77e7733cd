// Hostile values from tests/data/hostile-inputs.txt in every field that a
// reporter or a staff member sets, rendered in every staff view. Each
// response is scanned as HTML: no value may open a tag or an event
// attribute of its own, and each value with markup in it must come back
// as text, which shows that the view rendered it.

#include "FormData.h"
#include "HttpsClient.h"
#include "PartnerRegistry.h"
#include "StaffAppFixture.h"
#include "TestData.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <cctype>

using namespace meldpunt;
using namespace meldpunt::staff;
using Catch::Matchers::ContainsSubstring;
using meldpunt::test::formBody;
using meldpunt::test::header;
using meldpunt::test::StaffAppFixture;
using meldpunt::test::StaffClient;

namespace {

std::string lower(std::string text)
{
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
}

// Elements that run or load content. Of these the staff layout uses only
// its stylesheet link and meta tags without http-equiv.
bool isActiveElement(const std::string& name)
{
    static const std::vector<std::string> active
        = {"script", "iframe", "object", "embed", "base", "frame", "frameset", "applet", "meta", "link", "style"};
    return std::find(active.begin(), active.end(), name) != active.end();
}

// Reads the tags of `html` as an HTML tokenizer does, with names and
// quoted or bare attribute values. Returns a line for each tag or
// attribute that could run script or load content: an active element
// other than a stylesheet link or a plain meta tag, an event attribute
// (on...), or a javascript: URL.
std::vector<std::string> activeMarkup(const std::string& html)
{
    std::vector<std::string> problems;
    std::size_t at = 0;
    while ((at = html.find('<', at)) != std::string::npos) {
        if (html.compare(at, 4, "<!--") == 0) {
            const auto end = html.find("-->", at + 4);
            at = end == std::string::npos ? html.size() : end + 3;
            continue;
        }
        std::size_t position = at + 1;
        if (position < html.size() && html[position] == '/')
            ++position;
        if (position >= html.size() || !std::isalpha(static_cast<unsigned char>(html[position]))) {
            ++at;
            continue;
        }
        const std::size_t nameStart = position;
        while (position < html.size() && !std::isspace(static_cast<unsigned char>(html[position]))
               && html[position] != '>' && html[position] != '/')
            ++position;
        const std::string name = lower(html.substr(nameStart, position - nameStart));
        std::vector<std::pair<std::string, std::string>> attributes;
        while (position < html.size() && html[position] != '>') {
            if (std::isspace(static_cast<unsigned char>(html[position])) || html[position] == '/') {
                ++position;
                continue;
            }
            const std::size_t attributeStart = position;
            while (position < html.size() && !std::isspace(static_cast<unsigned char>(html[position]))
                   && html[position] != '=' && html[position] != '>' && html[position] != '/')
                ++position;
            const std::string attribute = lower(html.substr(attributeStart, position - attributeStart));
            std::string value;
            if (position < html.size() && html[position] == '=') {
                ++position;
                if (position < html.size() && (html[position] == '"' || html[position] == '\'')) {
                    const char quote = html[position];
                    const auto end = html.find(quote, position + 1);
                    value = html.substr(position + 1, end - position - 1);
                    position = end == std::string::npos ? html.size() : end + 1;
                } else {
                    const std::size_t valueStart = position;
                    while (position < html.size() && !std::isspace(static_cast<unsigned char>(html[position]))
                           && html[position] != '>')
                        ++position;
                    value = html.substr(valueStart, position - valueStart);
                }
            }
            attributes.emplace_back(attribute, value);
        }
        const bool closing = html[at + 1] == '/';
        const std::string tag = html.substr(at, std::min<std::size_t>(position + 1, html.size()) - at);
        const bool ownStylesheet = name == "link"
            && std::any_of(attributes.begin(), attributes.end(),
                [](const auto& each) { return each.first == "rel" && each.second == "stylesheet"; });
        const bool plainMeta = name == "meta"
            && std::none_of(attributes.begin(), attributes.end(),
                [](const auto& each) { return each.first == "http-equiv"; });
        if (!closing && isActiveElement(name) && !ownStylesheet && !plainMeta)
            problems.push_back("element: " + tag);
        for (const auto& [attribute, value] : attributes) {
            if (attribute.starts_with("on"))
                problems.push_back("event attribute: " + tag);
            std::string url = lower(value);
            url.erase(std::remove_if(url.begin(), url.end(), [](unsigned char c) { return std::isspace(c); }),
                url.end());
            if ((attribute == "href" || attribute == "src" || attribute == "action" || attribute == "formaction")
                && url.starts_with("javascript:"))
                problems.push_back("javascript URL: " + tag);
        }
        at = position;
    }
    return problems;
}

// The text of `html` with the character references that escapeHtml()
// and the templates write decoded.
std::string decodedText(const std::string& html)
{
    static const std::vector<std::pair<std::string, std::string>> references
        = {{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&apos;", "'"}, {"&#x27;", "'"}, {"&#34;", "\""},
            {"&#x2F;", "/"}, {"&#47;", "/"}, {"&#x3D;", "="}, {"&#96;", "`"}, {"&amp;", "&"}};
    std::string text;
    for (std::size_t at = 0; at < html.size();) {
        bool replaced = false;
        if (html[at] == '&') {
            for (const auto& [reference, character] : references) {
                if (html.compare(at, reference.size(), reference) == 0) {
                    text += character;
                    at += reference.size();
                    replaced = true;
                    break;
                }
            }
        }
        if (!replaced)
            text += html[at++];
    }
    return text;
}

bool hasMarkup(const std::string& value)
{
    return value.find('<') != std::string::npos || value.find('"') != std::string::npos;
}

struct Views {
    StaffAppFixture& fixture;
    int checked = 0;

    // Checks one response: no active markup, and each value with markup
    // among `shown` present as text.
    void check(const std::string& view, const StaffResponse& response, const std::vector<std::string>& shown)
    {
        ++checked;
        INFO("view: " << view << " (status " << response.status << ")");
        CHECK((response.status == 200 || response.status == 400));
        const auto active = activeMarkup(response.body);
        for (const auto& each : active) {
            INFO(each);
            CHECK(active.empty());
        }
        const std::string text = decodedText(response.body);
        for (const auto& value : shown) {
            if (!hasMarkup(value))
                continue;
            INFO("value: " << value);
            CHECK_THAT(text, ContainsSubstring(value));
            CHECK_THAT(response.body, !ContainsSubstring(value));
        }
    }
};

// The hostile values that the staff forms accept: the report and note
// fields reject control characters other than tab and line breaks.
std::vector<std::string> acceptedByForms(const std::vector<std::string>& values)
{
    std::vector<std::string> accepted;
    for (const auto& value : values) {
        if (!hasForbiddenControl(value) && isValidUtf8(value) && hasVisibleText(value))
            accepted.push_back(value);
    }
    return accepted;
}

} // namespace

TEST_CASE("Hostile input escaped in views", "[staff][hostile]")
{
    StaffAppFixture fixture("staff-hostile-views");
    const auto hostile = test::hostileInputs();
    REQUIRE(hostile.size() >= 20);
    const auto accepted = acceptedByForms(hostile);
    const auto coordinatorMember = fixture.addMember("cora", Role::Coordinator);
    const auto adminMember = fixture.addMember("root", Role::Admin);
    const auto auditorMember = fixture.addMember("olga", Role::Auditor);
    StaffClient coordinator(*fixture.app);
    StaffClient admin(*fixture.app);
    StaffClient auditor(*fixture.app);
    fixture.logIn(coordinator, coordinatorMember);
    fixture.logIn(admin, adminMember);
    fixture.logIn(auditor, auditorMember);
    Views views{fixture};

    // A report per value as the ingester stores it from the public form,
    // with the value in every text field and as the country, and a
    // partner per value as an import stores it.
    std::vector<std::int64_t> reports;
    {
        std::lock_guard lock(fixture.mutex);
        for (std::size_t index = 0; index < hostile.size(); ++index) {
            reports.push_back(fixture.db.addReport(hostile[index], "2026-12-01T09:00:00Z", false, hostile[index]));
            referral::Partner partner;
            partner.name = hostile[index] + " " + std::to_string(index);
            partner.countries = {"NL"};
            partner.endpoint = "https://localhost:4433/v1/referrals";
            partner.website = hostile[index];
            partner.outcomeCertificateSha256 = std::string(64, 'b');
            referral::savePartner(*fixture.db.database, partner, "2026-12-01T09:00:00Z");
        }
    }

    SECTION("reports, notes and intake in the case views")
    {
        for (std::size_t index = 0; index < hostile.size(); ++index) {
            const std::string path = "/cases/" + std::to_string(reports[index]);
            coordinator.get(path);
            // Notes with control characters are rejected, and the form
            // comes back with the note as typed.
            const auto note = coordinator.post(path + "/notes", {{"note", hostile[index]}});
            if (note.status != 303)
                views.check("case page with a rejected note", note, {hostile[index]});
            views.check("case page", coordinator.get(path), {hostile[index]});
            coordinator.get(path);
            views.check("case page with contact details", coordinator.post(path + "/reveal", {}), {hostile[index]});
        }
        views.check("inbox", coordinator.get("/inbox"), accepted);

        for (const auto& value : accepted) {
            views.check("search results", coordinator.get("/inbox?" + formBody({{"q", value}})), {value});
            views.check("inbox with an invalid filter",
                coordinator.get("/inbox?" + formBody({{"status", value}, {"from", value}, {"assignee", value}})),
                {value});
            coordinator.get("/intake");
            const auto rejected = coordinator.post("/intake",
                {{"channel", "phone"}, {"what", value}, {"place", value}, {"when", value}, {"category", value},
                    {"country", value}, {"language", value}, {"contact_name", value}, {"contact_phone", value},
                    {"contact_email", value}});
            CHECK(rejected.status == 400);
            views.check("intake sent back", rejected, {value});
            coordinator.get("/intake");
            const auto stored = coordinator.post("/intake",
                {{"channel", "email"}, {"what", value}, {"place", value}, {"category", "not_sure"}, {"country", value},
                    {"contact_name", value}});
            REQUIRE(stored.status == 303);
            views.check("case page of an intake", coordinator.get(header(stored, "Location")), {value});
        }
        // The typed countries are filter options now.
        views.check("inbox after intake", coordinator.get("/inbox"), accepted);
    }

    SECTION("partners")
    {
        views.check("partner list", coordinator.get("/partners"), accepted);
        std::vector<referral::Partner> partners;
        {
            std::lock_guard lock(fixture.mutex);
            partners = referral::listPartners(*fixture.db.database);
        }
        REQUIRE(partners.size() == hostile.size());
        for (const auto& partner : partners)
            views.check("partner page", coordinator.get("/partners/" + std::to_string(partner.id)), {partner.name});
        for (const auto& value : accepted) {
            coordinator.get("/partners/new");
            const auto rejected = coordinator.post("/partners",
                {{"name", value}, {"kind", value}, {"countries", value}, {"endpoint", value}, {"website", value},
                    {"server_trust", value}, {"client_certificate", value}, {"encryption_certificate", value},
                    {"receipt_certificate", value}, {"outcome_certificate", value}});
            CHECK(rejected.status == 400);
            views.check("partner form sent back", rejected, {value});
        }
        // The referral form lists the partners.
        views.check("case page with partners", coordinator.get("/cases/" + std::to_string(reports.front())), {});
    }

    SECTION("account names")
    {
        for (const auto& value : accepted) {
            admin.get("/accounts");
            const auto rejected
                = admin.post("/accounts", {{"username", value}, {"role", "caseworker"}, {"password", "a long password"}});
            // A value of lower-case letters, digits and dots is a valid
            // user name and makes an account.
            if (rejected.status == 303)
                continue;
            views.check("accounts sent back", rejected, {value});
        }
        views.check("accounts", admin.get("/accounts"), {});
        views.check("own account", admin.get("/account"), {});
    }

    SECTION("statistics text")
    {
        for (const auto& value : accepted) {
            coordinator.get("/statistics?year=2026");
            const auto saved = coordinator.post("/statistics/text", {{"year", "2026"}, {"text", value}});
            REQUIRE(saved.status == 303);
            views.check("statistics", coordinator.get("/statistics?year=2026"), {value});
            views.check("statistics as auditor", auditor.get("/statistics?year=2026"), {value});
            views.check("statistics with an invalid year", coordinator.get("/statistics?" + formBody({{"year", value}})),
                {});
        }
    }

    SECTION("audit log")
    {
        // The staff address comes from nginx's X-Real-IP. Here the
        // auditor's session sends each value as its address, and each
        // view of the log records it.
        for (const auto& value : accepted) {
            StaffClient visitor(*fixture.app, value);
            visitor.setCookie(StaffApp::kSessionCookie, auditor.cookie(StaffApp::kSessionCookie));
            views.check("audit log seen from the address", visitor.get("/audit"), {value});
        }
        views.check("audit log", auditor.get("/audit"), accepted);
    }

    CHECK(views.checked > 0);
}
