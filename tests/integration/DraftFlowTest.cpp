// A reporter who saves the form to continue later: the draft saved under
// a resume code, brought back through the real edge and daemons, sent as
// a report, and wrong codes refused once too many were typed.

#include "Appliance.h"
#include "Reports.h"
#include "StoredReports.h"

#include <catch2/catch_test_macros.hpp>

#include <fstream>
#include <thread>

using namespace meldpunt::test;
namespace fs = std::filesystem;

namespace {

// Returns the resume code shown on a "draft saved" page, or an empty string.
std::string resumeCodeOn(const std::string& html)
{
    const std::string marker = "class=\"reference resume-code\"><strong>";
    const auto start = html.find(marker);
    if (start == std::string::npos)
        return {};
    const auto begin = start + marker.size();
    return html.substr(begin, html.find('<', begin) - begin);
}

std::vector<fs::path> draftFiles(const Appliance& appliance)
{
    std::vector<fs::path> files;
    for (const auto& item : fs::directory_iterator(appliance.draftsFolder())) {
        if (item.path().extension() == ".draft")
            files.push_back(item.path());
    }
    return files;
}

HttpResponse resume(const HttpsClient& client, const std::string& language, const std::string& code)
{
    return client.post("/" + language + "/resume", formBody({{"code", code}, {"form_end", "1"}}));
}

// A well-formed resume code that no draft has: the check characters are
// computed as a guesser would.
std::string guessedCode(unsigned seed)
{
    static constexpr std::string_view alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    std::string text;
    for (unsigned group = 0; group < 4; ++group) {
        if (group != 0)
            text.push_back('-');
        unsigned check = 7 * group;
        for (unsigned i = 0; i < 4; ++i) {
            const unsigned value = (seed * 2654435761u >> (group * 4 + i)) % 32u;
            check += (2 * i + 1) * value;
            text.push_back(alphabet[value]);
        }
        text.push_back(alphabet[check % 32]);
    }
    return text;
}

} // namespace

TEST_CASE("Draft saved, resumed and sent", "[site]")
{
    Appliance appliance("drafts");
    appliance.startAll();
    const auto client = appliance.publicClient();
    const std::string what = "Een man <script>alert(1)</script> met een kind bij de receptie";
    auto form = withField(validReport(what), "form_token", "token-bound-to-uploads");
    form = withField(form, "save_draft", "1");

    const auto saved = client.post("/nl/report", formBody(form));
    REQUIRE(saved.status == 200);
    CHECK(saved.header("cache-control") == "no-store");
    const std::string code = resumeCodeOn(saved.body);
    REQUIRE(code.size() == 23);
    const auto files = draftFiles(appliance);
    REQUIRE(files.size() == 1);
    CHECK(readFile(files[0]).find("receptie") == std::string::npos);
    CHECK(appliance.publicLog().find(code) == std::string::npos);

    SECTION("the form and the resume page state how long drafts are kept")
    {
        CHECK(client.get("/en/report").body.find("encrypted draft for 7 days") != std::string::npos);
        CHECK(client.get("/nl/report").body.find("7 dagen") != std::string::npos);
        const auto page = client.get("/en/resume");
        CHECK(page.status == 200);
        CHECK(page.body.find("deleted 7 days after") != std::string::npos);
    }
    SECTION("resuming brings back every field, escaped, and sending removes the draft")
    {
        const auto resumed = resume(client, "nl", code);
        REQUIRE(resumed.status == 200);
        CHECK(resumed.body.find("Een man &lt;script&gt;alert(1)&lt;/script&gt; met een kind") != std::string::npos);
        CHECK(resumed.body.find("<script>alert(1)") == std::string::npos);
        CHECK(resumed.body.find("value=\"Pattaya, hotel by the beach\"") != std::string::npos);
        CHECK(resumed.body.find("name=\"resume_code\" value=\"" + code + "\"") != std::string::npos);
        CHECK(resumed.body.find("value=\"TH\" selected") != std::string::npos);

        auto send = withoutField(withField(validReport(what), "resume_code", code), "save_draft");
        const auto receipt = client.post("/nl/report", formBody(send));
        REQUIRE(receipt.status == 200);
        CHECK(referenceOnReceipt(receipt.body).size() == 29);
        CHECK(draftFiles(appliance).empty());
        CHECK(resume(client, "nl", code).status == 404);
        REQUIRE(appliance.waitForEmptySpool());
        const auto stored = readStoredReports(appliance.stateFolder(), appliance.tpm().tcti());
        REQUIRE(stored.size() == 1);
        CHECK(stored[0].at("what") == what);
    }
    SECTION("a lowercase code with spaces opens the draft too")
    {
        std::string typed;
        for (char c : code)
            typed.push_back(c == '-' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        CHECK(resume(client, "en", typed).status == 200);
    }
    SECTION("saving a resumed draft again keeps its code")
    {
        REQUIRE(resume(client, "en", code).status == 200);
        const auto again = client.post("/en/report",
            formBody(withField(withField(form, "resume_code", code), "what", "later text")));
        REQUIRE(again.status == 200);
        CHECK(again.body.find("same resume code as before") != std::string::npos);
        CHECK(resumeCodeOn(again.body) == code);
        CHECK(draftFiles(appliance).size() == 1);
        CHECK(resume(client, "en", code).body.find("later text") != std::string::npos);
        const auto fresh = client.post("/en/report", formBody(form));
        CHECK(fresh.body.find("Your resume code is:") != std::string::npos);
        CHECK(resumeCodeOn(fresh.body) != code);
        CHECK(draftFiles(appliance).size() == 2);
    }
    SECTION("a typo is told apart from a wrong code")
    {
        std::string typo = code;
        typo[6] = typo[6] == 'A' ? 'B' : 'A';
        const auto page = resume(client, "en", typo);
        CHECK(page.status == 422);
        CHECK(page.body.find("Group 2 of the code has a typing error") != std::string::npos);
        const auto unknown = resume(client, "en", guessedCode(1));
        CHECK(unknown.status == 404);
        CHECK(unknown.body.find("We have no draft with this code") != std::string::npos);
    }
    SECTION("a tampered draft is refused politely")
    {
        std::string bytes = readFile(files[0]);
        bytes[bytes.size() - 3] = static_cast<char>(bytes[bytes.size() - 3] ^ 0x20);
        std::ofstream(files[0], std::ios::binary | std::ios::trunc) << bytes;
        const auto page = resume(client, "en", code);
        CHECK(page.status == 422);
        CHECK(page.body.find("This draft was damaged") != std::string::npos);
    }
}

TEST_CASE("Expired draft says so politely", "[site]")
{
    Appliance::Options options;
    options.draftLifetimeSeconds = 2;
    Appliance appliance("draft-expiry", options);
    appliance.startAll();
    const auto client = appliance.publicClient();
    const auto saved = client.post("/en/report", formBody(withField(validReport("soon gone"), "save_draft", "1")));
    REQUIRE(saved.status == 200);
    const std::string code = resumeCodeOn(saved.body);
    REQUIRE_FALSE(code.empty());
    std::this_thread::sleep_for(std::chrono::seconds(3));

    SECTION("in every language, without the form")
    {
        const auto english = resume(client, "en", code);
        CHECK(english.status == 410);
        CHECK(english.body.find("This draft has expired") != std::string::npos);
        CHECK(english.body.find("soon gone") == std::string::npos);
        const auto dutch = resume(client, "nl", code);
        CHECK(dutch.status == 410);
        CHECK(dutch.body.find("<html lang=\"nl\"") != std::string::npos);
    }
    SECTION("after the sweep at the next start, the file holds no content")
    {
        appliance.stopPublic();
        appliance.startPublic();
        const auto files = draftFiles(appliance);
        REQUIRE(files.size() == 1);
        CHECK(fs::file_size(files[0]) == 17);
        CHECK(resume(client, "en", code).status == 410);
    }
}

TEST_CASE("Wrong resume codes are rate limited", "[site]")
{
    Appliance::Options options;
    options.resumeBurst = 3;
    Appliance appliance("draft-guess", options);
    appliance.startAll();
    const auto guesser = appliance.publicClient("127.31.0.1");
    const auto saved = appliance.publicClient("127.31.0.2")
                           .post("/en/report", formBody(withField(validReport("mine"), "save_draft", "1")));
    REQUIRE(saved.status == 200);
    const std::string code = resumeCodeOn(saved.body);
    REQUIRE_FALSE(code.empty());

    SECTION("guessing stops after the burst, even for the right code")
    {
        for (unsigned i = 0; i < 3; ++i)
            CHECK(resume(guesser, "en", guessedCode(i + 10)).status == 404);
        const auto stopped = resume(guesser, "en", guessedCode(20));
        CHECK(stopped.status == 429);
        CHECK(stopped.body.find("Too many wrong codes") != std::string::npos);
        CHECK_FALSE(stopped.header("retry-after").empty());
        CHECK(resume(guesser, "en", code).status == 429);
        CHECK(resume(appliance.publicClient("127.31.0.2"), "en", code).status == 200);
    }
    SECTION("typos do not count against the limit")
    {
        std::string typo = code;
        typo[0] = typo[0] == 'A' ? 'B' : 'A';
        for (unsigned i = 0; i < 6; ++i)
            CHECK(resume(guesser, "en", typo).status == 422);
        CHECK(resume(guesser, "en", code).status == 200);
    }
}
