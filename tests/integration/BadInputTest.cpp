// What a stranger can send that is wrong, and what they get back: a page
// in their language and, wherever the request could be read, the form
// with everything they typed.

#include "Appliance.h"
#include "TestData.h"
#include "Reports.h"
#include "StoredReports.h"

#include "ReportForm.h"

#include <catch2/catch_test_macros.hpp>

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <thread>

using namespace meldpunt::test;
namespace fs = std::filesystem;

namespace {

bool hasControl(const std::string& text)
{
    for (unsigned char c : text) {
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
            return true;
    }
    return false;
}

} // namespace

TEST_CASE("Missing fields come back marked", "[site]")
{
    Appliance appliance("missing");
    appliance.startAll();
    const auto client = appliance.publicClient();

    auto fields = withoutField(withoutField(validReport(""), "category"), "consent");
    const auto page = client.post("/nl/report", formBody(fields));
    REQUIRE(page.status == 422);
    CHECK(page.body.find("Beschrijf wat er is gebeurd.") != std::string::npos);
    CHECK(page.body.find("id=\"what\" name=\"what\" autocomplete=\"off\" rows=\"8\" required aria-describedby=\"what-hint what-error\" aria-invalid=\"true\"") != std::string::npos);
    CHECK(page.body.find("class=\"error-summary\"") != std::string::npos);
    CHECK(page.body.find("href=\"#category\"") != std::string::npos);
    CHECK(page.body.find("href=\"#consent\"") != std::string::npos);
    CHECK(page.body.find("value=\"Pattaya, hotel by the beach\"") != std::string::npos);
    CHECK(page.body.find("value=\"last Saturday around 21:00\"") != std::string::npos);
    CHECK(page.body.find("<option value=\"TH\" selected>") != std::string::npos);
    CHECK(page.body.find("value=\"anonymous\" checked") != std::string::npos);

    SECTION("contact details are not checked for an anonymous report")
    {
        auto anonymous = withField(withField(validReport("anonymous"), "email", "jan@"), "phone", std::string(60, '1'));
        CHECK(client.post("/en/report", formBody(anonymous)).status == 200);
    }
    SECTION("contact chosen without an address")
    {
        const auto contact = client.post("/en/report", formBody(withField(validReport("x"), "contact", "contact")));
        CHECK(contact.status == 422);
        CHECK(contact.body.find("Please give an e-mail address or a phone number") != std::string::npos);
    }
}

namespace {

// Every free-text field of the form but the e-mail address, which has a
// shape check of its own.
std::vector<std::string> hostileTargets()
{
    std::vector<std::string> names;
    for (const auto& spec : meldpunt::ReportForm::fields()) {
        const bool text = spec.kind == meldpunt::FieldKind::Text || spec.kind == meldpunt::FieldKind::TextArea;
        if (text && spec.name != "email")
            names.emplace_back(spec.name);
    }
    return names;
}

} // namespace

TEST_CASE("Hostile text is stored exactly", "[site]")
{
    Appliance appliance("hostile");
    appliance.startAll();
    const auto client = appliance.publicClient();
    const auto inputs = hostileInputs();
    REQUIRE(inputs.size() >= 20);
    const auto targets = hostileTargets();
    REQUIRE(targets.size() >= 14);

    // Each input goes into every text field of one report at once.
    std::vector<std::string> accepted;
    for (const auto& input : inputs) {
        CAPTURE(input);
        auto fields = withField(withField(validReport("a report"), "contact", "contact"), "email", "reporter@example.org");
        for (const auto& field : targets)
            fields = withField(fields, field, input);
        const auto page = client.post("/en/report", formBody(fields));
        if (hasControl(input)) {
            CHECK(page.status == 422);
            CHECK(page.body.find("invisible control characters") != std::string::npos);
        } else {
            CHECK(page.status == 200);
            accepted.push_back(input);
        }
    }
    REQUIRE(appliance.waitForEmptySpool(std::chrono::seconds(60)));

    const auto stored = readStoredReports(appliance.stateFolder(), appliance.tpm().tcti());
    REQUIRE(stored.size() == accepted.size());
    for (std::size_t row = 0; row < accepted.size(); ++row) {
        for (const auto& field : targets) {
            CAPTURE(accepted[row], field);
            CHECK(stored[row].at(field) == accepted[row]);
        }
    }
}

namespace {

std::string receiptSecretOn(const std::string& html)
{
    const std::string marker = "class=\"receipt-secret\"><strong>";
    const auto start = html.find(marker);
    if (start == std::string::npos)
        return {};
    const auto begin = start + marker.size();
    return html.substr(begin, html.find('<', begin) - begin);
}

std::string draftCodeOn(const std::string& html)
{
    const std::string marker = "class=\"reference resume-code\"><strong>";
    const auto start = html.find(marker);
    if (start == std::string::npos)
        return {};
    const auto begin = start + marker.size();
    return html.substr(begin, html.find('<', begin) - begin);
}

// Checks that a page shows `input` escaped in each of the named fields and
// nowhere as markup.
void checkShownEscaped(const std::string& html, const std::vector<std::string>& names, const std::string& input)
{
    CHECK(html.find("<script") == std::string::npos);
    CHECK(html.find("<img") == std::string::npos);
    for (const auto& name : names) {
        CAPTURE(name);
        const auto field = fieldOnPage(html, name);
        REQUIRE(!field.element.empty());
        CHECK(field.value == escapedForPage(input));
    }
}

} // namespace

TEST_CASE("Typed text comes back escaped", "[site]")
{
    Appliance appliance("hostile-pages");
    appliance.startAll();
    const auto inputs = hostileInputs();
    REQUIRE(inputs.size() >= 20);
    auto targets = hostileTargets();
    REQUIRE(targets.size() >= 14);
    // The forms below fail their checks or are never sent, so the e-mail
    // address comes back as typed too.
    targets.push_back("email");

    // Every input goes into every text field at once. The consent is left
    // out, so the form always fails its check.
    auto hostileForm = [&](const std::string& input) {
        auto fields = withoutField(withField(validReport("a report"), "contact", "contact"), "consent");
        for (const auto& field : targets)
            fields = withField(fields, field, input);
        return fields;
    };

    SECTION("the form sent back after a failed check")
    {
        const auto client = appliance.publicClient();
        for (const auto& input : inputs) {
            CAPTURE(input);
            const auto page = client.post("/en/report", formBody(hostileForm(input)));
            CHECK(page.status == 422);
            checkShownEscaped(page.body, targets, input);
        }
    }
    SECTION("the form after the language switch")
    {
        const auto client = appliance.publicClient();
        for (const auto& input : inputs) {
            CAPTURE(input);
            const auto page = client.post("/nl/report", formBody(withField(hostileForm(input), "switch_language", "nl")));
            CHECK(page.status == 200);
            checkShownEscaped(page.body, targets, input);
        }
    }
    SECTION("a resumed draft")
    {
        unsigned number = 0;
        for (const auto& input : inputs) {
            CAPTURE(input);
            // Each draft comes from its own address, below the limit on
            // drafts saved from one address.
            const auto client = appliance.publicClient("127.35.0." + std::to_string(++number));
            const auto saved = client.post("/en/report", formBody(withField(hostileForm(input), "save_draft", "1")));
            REQUIRE(saved.status == 200);
            const std::string code = draftCodeOn(saved.body);
            REQUIRE(code.size() == 23);
            const auto page = client.post("/en/resume", formBody({{"code", code}, {"form_end", "1"}}));
            REQUIRE(page.status == 200);
            checkShownEscaped(page.body, targets, input);
        }
    }
    SECTION("the complaint form sent back after a failed check")
    {
        const auto client = appliance.publicClient();
        for (const auto& input : inputs) {
            CAPTURE(input);
            const auto page = client.post("/en/complaint",
                formBody({{"message", input}, {"email", input}, {"website", ""}, {"form_end", "1"}}));
            CHECK(page.status == 422);
            checkShownEscaped(page.body, {"message", "email"}, input);
        }
    }
    SECTION("the return page with the reporter's message and the staff's replies")
    {
        const auto client = appliance.publicClient();
        const auto receipt = client.post("/en/report", formBody(validReport("A report to come back to")));
        REQUIRE(receipt.status == 200);
        const std::string reference = referenceOnReceipt(receipt.body);
        const std::string secret = receiptSecretOn(receipt.body);
        REQUIRE(appliance.waitForEmptySpool());

        appliance.stopDaemon();
        for (const auto& input : inputs)
            addStaffMessage(appliance.stateFolder(), appliance.tpm().tcti(), reference, input);
        appliance.startDaemon();
        auto open = [&](const Fields& extra) {
            Fields fields = {{"reference", reference}, {"secret", secret}};
            fields.insert(fields.end(), extra.begin(), extra.end());
            fields.emplace_back("form_end", "1");
            return client.post("/en/return", formBody(fields));
        };
        std::string page;
        for (int attempt = 0; attempt < 60 && page.find("class=\"reply-text\"") == std::string::npos; ++attempt) {
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
            page = open({{"action", "open"}}).body;
        }
        for (const auto& input : inputs) {
            CAPTURE(input);
            CHECK(page.find("<p class=\"reply-text\">" + escapedForPage(input) + "</p>") != std::string::npos);
        }
        CHECK(page.find("<script") == std::string::npos);
        CHECK(page.find("<img") == std::string::npos);

        // A withdrawal that is not confirmed sends the page back with the
        // message that was typed.
        for (const auto& input : inputs) {
            CAPTURE(input);
            const auto unconfirmed = open({{"message", input}, {"action", "withdraw"}});
            CHECK(unconfirmed.status == 422);
            checkShownEscaped(unconfirmed.body, {"message"}, input);
        }
    }
}

TEST_CASE("Unreadable requests get a readable page", "[site]")
{
    Appliance appliance("unreadable");
    appliance.startAll();
    const auto client = appliance.publicClient();

    SECTION("broken percent-encoding")
    {
        const auto page = client.post("/nl/report", "what=%ZZ&country=TH");
        CHECK(page.status == 400);
        CHECK(page.body.find("<html lang=\"nl\"") != std::string::npos);
        CHECK(page.body.find("<h1>") != std::string::npos);
    }
    SECTION("invalid UTF-8")
    {
        const auto page = client.post("/en/report", "what=%C0%80&country=TH");
        CHECK(page.status == 400);
        CHECK(page.body.find("could not read") != std::string::npos);
    }
    SECTION("a body over the limit gets the edge's page in the path's language")
    {
        const std::string body = "what=" + std::string(1024 * 1024, 'a');
        const auto dutch = client.post("/nl/report", body);
        CHECK(dutch.status == 413);
        CHECK(dutch.body.find("<html lang=\"nl\"") != std::string::npos);
        const auto english = client.post("/en/report", body);
        CHECK(english.status == 413);
        CHECK(english.body.find("Your report is too large") != std::string::npos);
    }
    SECTION("a body exactly at the limit reaches the daemon")
    {
        const std::size_t base = formBody(withField(validReport("x"), "pad", "")).size();
        const std::string body = formBody(withField(validReport("x"), "pad", std::string(1024 * 1024 - base, 'a')));
        REQUIRE(body.size() == 1024 * 1024);
        CHECK(client.post("/en/report", body).status == 200);
    }
    SECTION("a body without the form's last field is not stored")
    {
        const auto page = client.post("/en/report", formBody(withoutField(validReport("cut short"), "form_end")));
        CHECK(page.status == 400);
        CHECK(page.body.find("did not arrive completely") != std::string::npos);
    }
    SECTION("a body cut short by a closed connection is not stored")
    {
        // openssl s_client sends the headers, part of the body, and closes
        // when its input ends, as a phone losing its signal would.
        const std::string partial = formBody(validReport("lost signal")).substr(0, 60);
        const fs::path request = appliance.root() / "partial-request";
        std::ofstream(request, std::ios::binary) << "POST /en/report HTTP/1.1\r\nHost: localhost\r\n"
                                                 << "Content-Type: application/x-www-form-urlencoded\r\n"
                                                 << "Content-Length: 5000\r\n\r\n" << partial;
        Process sClient({"openssl", "s_client", "-quiet", "-no_ign_eof", "-connect", "127.0.0.1:" + std::to_string(appliance.publicPort())},
            {{}, appliance.root() / "s_client.out", {}, request});
        CHECK(sClient.wait(std::chrono::seconds(30)).has_value());
        std::this_thread::sleep_for(std::chrono::seconds(1));
        CHECK(appliance.waitForEmptySpool());
        CHECK(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()).empty());
    }
    SECTION("a form from another website is rejected")
    {
        const auto page = client.post("/en/report", formBody(validReport("elsewhere")), {"Origin: https://example.invalid"});
        CHECK(page.status == 403);
        CHECK(page.body.find("sent from another website") != std::string::npos);
        const auto own = client.post("/en/report", formBody(validReport("here")), {"Origin: null"});
        CHECK(own.status == 200);
    }
    SECTION("the media type is matched without regard to case")
    {
        CHECK(client.post("/en/report", formBody(validReport("case")), {}, "Application/X-WWW-Form-Urlencoded; charset=UTF-8").status == 200);
        CHECK(client.post("/en/report", formBody(validReport("junk")), {}, "application/x-www-form-urlencodedJUNK").status == 415);
    }
    SECTION("other methods get 405 with the allowed ones")
    {
        Process put({"curl", "-sS", "-o", "/dev/null", "-D", (appliance.root() / "put.headers").string(), "-X", "PUT",
                        "--cacert", appliance.caFile().string(),
                        "https://localhost:" + std::to_string(appliance.publicPort()) + "/en/report"},
            {{}, appliance.root() / "put.out", {}});
        REQUIRE(put.wait(std::chrono::seconds(30)).has_value());
        const std::string headers = readFile(appliance.root() / "put.headers");
        CHECK(headers.find(" 405") != std::string::npos);
        CHECK(headers.find("Allow: GET, HEAD, POST") != std::string::npos);
    }
}

TEST_CASE("Site keeps the form while no intake key is published", "[site]")
{
    Appliance appliance("no-intake-key");
    appliance.startPublic();
    appliance.startEdges();
    const auto client = appliance.publicClient();

    const auto page = client.post("/en/report", formBody(validReport("waiting for the key")));
    CHECK(page.status == 503);
    CHECK(page.header("retry-after") == "60");
    CHECK(page.body.find("Please try again in a few minutes") != std::string::npos);
    CHECK(page.body.find(">waiting for the key</textarea>") != std::string::npos);

    appliance.startDaemon();
    REQUIRE(appliance.waitForIntakeKey());
    CHECK(client.post("/en/report", formBody(validReport("waiting for the key"))).status == 200);
}

TEST_CASE("Site keeps the form when the spool fails", "[site]")
{
    Appliance appliance("spool-failure");
    appliance.startAll();

    SECTION("a spool folder it may not write")
    {
        const fs::path locked = appliance.root() / "locked-spool";
        fs::create_directories(locked);
        if (Appliance::runsAsSeparateUsers())
            fs::permissions(locked, fs::perms(0755));
        else
            fs::permissions(locked, fs::perms(0555));
        appliance.stopPublic();
        appliance.setPublicSpool(locked);
        appliance.startPublic();
        const auto page = appliance.publicClient().post("/nl/report", formBody(validReport("niet op te slaan")));
        CHECK(page.status == 503);
        CHECK(page.body.find(">niet op te slaan</textarea>") != std::string::npos);
        CHECK(page.body.find("class=\"notice\"") != std::string::npos);
        CHECK(fs::is_empty(locked));
    }
    SECTION("a full disk")
    {
        if (!Appliance::runsAsSeparateUsers())
            SKIP("mounting a small tmpfs as the spool needs root");
        const fs::path small = appliance.root() / "small-spool";
        fs::create_directories(small);
        REQUIRE(::mount("tmpfs", small.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=2770") == 0);
        REQUIRE(::chown(small.c_str(), Appliance::kPublicUid, Appliance::kSpoolGid) == 0);
        {
            std::ofstream filler(small / "filler", std::ios::binary);
            const std::string block(4096, 'x');
            while (filler.write(block.data(), static_cast<std::streamsize>(block.size())) && filler.flush()) {
            }
        }
        appliance.stopPublic();
        appliance.setPublicSpool(small);
        appliance.startPublic();
        const auto page = appliance.publicClient().post("/en/report", formBody(validReport(std::string(20000, 'z'))));
        CHECK(page.status == 503);
        CHECK(page.body.find("could not be saved") != std::string::npos);
        CHECK(page.body.find(std::string(20000, 'z')) != std::string::npos);
        int partials = 0;
        for (const auto& item : fs::directory_iterator(small))
            partials += item.path().filename() != "filler";
        CHECK(partials == 0);

        fs::remove(small / "filler");
        CHECK(appliance.publicClient().post("/en/report", formBody(validReport("space is back"))).status == 200);
        appliance.stopPublic();
        ::umount2(small.c_str(), MNT_DETACH);
    }
}

TEST_CASE("Report bursts from one address are limited", "[site]")
{
    Appliance::Options options;
    options.reportBurst = 3;
    Appliance appliance("rate-limit", options);
    appliance.startAll();
    const auto client = appliance.publicClient("127.45.67.89");

    for (int i = 0; i < 3; ++i)
        REQUIRE(client.post("/en/report", formBody(validReport("burst " + std::to_string(i)))).status == 200);
    const auto limited = client.post("/en/report", formBody(validReport("one too many")));
    CHECK(limited.status == 429);
    CHECK(!limited.header("retry-after").empty());
    CHECK(limited.body.find("several reports in a short time") != std::string::npos);
    CHECK(limited.body.find(">one too many</textarea>") != std::string::npos);

    // A form with a mistake costs nothing, and other addresses go on.
    CHECK(client.post("/en/report", formBody(withField(validReport(""), "what", ""))).status == 422);
    CHECK(appliance.publicClient("127.45.67.90").post("/en/report", formBody(validReport("elsewhere"))).status == 200);
    REQUIRE(appliance.waitForEmptySpool());
    CHECK(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()).size() == 4);
}

TEST_CASE("Honeypot field sends the form back", "[site]")
{
    Appliance appliance("honeypot");
    appliance.startAll();
    const auto page = appliance.publicClient().post("/en/report",
        formBody(withField(validReport("filled by a program"), "website", "http://spam.example")));
    CHECK(page.status == 422);
    CHECK(page.body.find("meant for automated programs") != std::string::npos);
    CHECK(page.body.find(">filled by a program</textarea>") != std::string::npos);
    CHECK(appliance.publicClient().get("/en/report").body.find("class=\"hp\" aria-hidden=\"true\"") != std::string::npos);
    REQUIRE(appliance.waitForEmptySpool());
    CHECK(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()).empty());
}

TEST_CASE("Complaints reach the coordinator", "[site]")
{
    Appliance appliance("complaints");
    appliance.startAll();
    const auto client = appliance.publicClient();
    const auto form = client.get("/nl/complaint");
    CHECK(form.status == 200);
    CHECK(form.body.find("name=\"message\"") != std::string::npos);

    SECTION("an empty message comes back marked, with the address kept")
    {
        const auto page = client.post("/en/complaint", formBody({{"message", " "}, {"email", "me@example.org"}, {"form_end", "1"}}));
        CHECK(page.status == 422);
        CHECK(page.body.find("Please write your feedback or complaint.") != std::string::npos);
        CHECK(page.body.find("value=\"me@example.org\"") != std::string::npos);
    }
    SECTION("a complaint is stored byte-exact")
    {
        const std::string message = "Het antwoord kwam laat <b>niet</b> goed\r\nTweede regel";
        const auto page = client.post("/nl/complaint", formBody({{"message", message}, {"email", ""}, {"form_end", "1"}}));
        CHECK(page.status == 200);
        REQUIRE(appliance.waitForEmptySpool());
        const auto complaints = readComplaints(appliance.stateFolder(), appliance.tpm().tcti());
        REQUIRE(complaints.size() == 1);
        CHECK(complaints.front().first == message);
        CHECK(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()).empty());
    }
}
