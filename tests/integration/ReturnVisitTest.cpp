// A reporter who comes back with the reference and receipt secret: replies
// from staff read, information added, the report withdrawn, and wrong
// secrets refused once too many were typed. Everything runs through the
// real edge and daemons. Staff replies are stored as the staff UI stores
// them, on the database through the TPM while meldpuntd is stopped.

#include "Appliance.h"
#include "Reports.h"
#include "StoredReports.h"

#include <catch2/catch_test_macros.hpp>

#include <chrono>
#include <thread>

using namespace meldpunt::test;
namespace fs = std::filesystem;

namespace {

std::string secretOnReceipt(const std::string& html)
{
    const std::string marker = "class=\"receipt-secret\"><strong>";
    const auto start = html.find(marker);
    if (start == std::string::npos)
        return {};
    const auto begin = start + marker.size();
    return html.substr(begin, html.find('<', begin) - begin);
}

HttpResponse visit(const HttpsClient& client, const std::string& reference, const std::string& secret,
    const Fields& extra = {{"action", "open"}})
{
    Fields fields = {{"reference", reference}, {"secret", secret}};
    fields.insert(fields.end(), extra.begin(), extra.end());
    fields.emplace_back("form_end", "1");
    return client.post("/en/return", formBody(fields));
}

// Waits until the return page shows `text`, as meldpuntd publishes on its
// next ingest pass.
bool waitForPage(const HttpsClient& client, const std::string& reference, const std::string& secret,
    const std::string& text)
{
    for (int attempt = 0; attempt < 60; ++attempt) {
        if (visit(client, reference, secret).body.find(text) != std::string::npos)
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return false;
}

// A well-formed receipt secret with the check characters a guesser can
// compute.
std::string guessedSecret(unsigned seed)
{
    static constexpr std::string_view alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    std::string text;
    for (unsigned group = 0; group < 4; ++group) {
        if (group != 0)
            text.push_back('-');
        unsigned check = 7 * group + 16;
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

TEST_CASE("Return visit with receipt secret", "[site]")
{
    Appliance::Options options;
    options.receiptBurst = 3;
    Appliance appliance("return-visit", options);
    appliance.startAll();
    const auto client = appliance.publicClient("127.32.0.1");
    const auto receipt = client.post("/en/report", formBody(validReport("A man with a child at the pool bar")));
    REQUIRE(receipt.status == 200);
    const std::string reference = referenceOnReceipt(receipt.body);
    const std::string secret = secretOnReceipt(receipt.body);
    REQUIRE(reference.size() == 29);
    REQUIRE(secret.size() == 23);
    REQUIRE(appliance.waitForEmptySpool());
    REQUIRE(waitForPage(client, reference, secret, "no messages for you yet"));

    SECTION("the right secret opens the report, a wrong one does not")
    {
        const auto page = visit(client, reference, secret);
        CHECK(page.status == 200);
        CHECK(page.body.find("received, not yet assessed") != std::string::npos);
        CHECK(page.header("cache-control") == "no-store");
        // The opened page's message field is kept from autofill like every
        // field of the other form pages (ReportFlowTest).
        const auto message = fieldOnPage(page.body, "message");
        CHECK(message.element == "textarea");
        CHECK(message.tag.find(" autocomplete=\"off\"") != std::string::npos);
        const auto wrong = visit(client, reference, guessedSecret(7));
        CHECK(wrong.status == 404);
        CHECK(wrong.body.find("We have no report with this reference and secret") != std::string::npos);
        CHECK(wrong.body.find("pool bar") == std::string::npos);
        std::string typo = secret;
        typo[0] = typo[0] == 'A' ? 'B' : 'A';
        CHECK(visit(client, reference, typo).status == 422);
        CHECK(visit(client, "not-a-reference", secret).status == 422);
    }
    SECTION("guessing secrets stops after the burst, even for the right one")
    {
        const auto guesser = appliance.publicClient("127.32.0.9");
        for (unsigned i = 0; i < 3; ++i)
            CHECK(visit(guesser, reference, guessedSecret(i + 20)).status == 404);
        const auto stopped = visit(guesser, reference, secret);
        CHECK(stopped.status == 429);
        CHECK(stopped.body.find("Too many wrong secrets") != std::string::npos);
        CHECK(visit(client, reference, secret).status == 200);
    }
    SECTION("added information is ingested as the reporter's message")
    {
        const auto sent = visit(client, reference, secret,
            {{"message", "The man's name is <b>Jan</b>"}, {"action", "add"}});
        CHECK(sent.status == 200);
        CHECK(sent.body.find("We have received your information") != std::string::npos);
        CHECK(visit(client, reference, secret, {{"message", " "}, {"action", "add"}}).status == 422);
        REQUIRE(appliance.waitForEmptySpool());
        const auto messages = readReporterMessages(appliance.stateFolder(), appliance.tpm().tcti(), reference);
        REQUIRE(messages.size() == 1);
        CHECK(messages[0].first == "from_reporter");
        CHECK(messages[0].second == "The man's name is <b>Jan</b>");
    }
    SECTION("a staff question is read and answered")
    {
        appliance.stopDaemon();
        addStaffMessage(appliance.stateFolder(), appliance.tpm().tcti(), reference,
            "Which hotel was it? <script>x</script>");
        appliance.startDaemon();
        REQUIRE(waitForPage(client, reference, secret, "Which hotel was it? &lt;script&gt;x&lt;/script&gt;"));
        for (const auto& item : fs::recursive_directory_iterator(appliance.publishFolder())) {
            if (item.is_regular_file())
                CHECK(readFile(item.path()).find("Which hotel") == std::string::npos);
        }
        const auto answer = visit(client, reference, secret, {{"message", "Hotel Sunrise"}, {"action", "add"}});
        CHECK(answer.status == 200);
        REQUIRE(appliance.waitForEmptySpool());
        const auto messages = readReporterMessages(appliance.stateFolder(), appliance.tpm().tcti(), reference);
        REQUIRE(messages.size() == 2);
        CHECK(messages[0].first == "to_reporter");
        CHECK(messages[1] == std::make_pair(std::string("from_reporter"), std::string("Hotel Sunrise")));
    }
    SECTION("withdrawal needs confirming, then deletes the report's content")
    {
        const auto unconfirmed = visit(client, reference, secret, {{"action", "withdraw"}});
        CHECK(unconfirmed.status == 422);
        CHECK(unconfirmed.body.find("tick the box") != std::string::npos);
        const auto withdrawn = visit(client, reference, secret, {{"confirm_withdraw", "yes"}, {"action", "withdraw"}});
        CHECK(withdrawn.status == 200);
        CHECK(withdrawn.body.find("Your report is withdrawn") != std::string::npos);
        REQUIRE(appliance.waitForEmptySpool());
        REQUIRE(waitForPage(client, reference, secret, "State: withdrawn"));
        const auto stored = readStoredReports(appliance.stateFolder(), appliance.tpm().tcti());
        REQUIRE(stored.size() == 1);
        CHECK(stored[0].at("what").empty());
        CHECK(stored[0].at("place").empty());
        CHECK(stored[0].at("category") == "travel_tourism");
        const auto after = visit(client, reference, secret);
        CHECK(after.body.find("confirm_withdraw") == std::string::npos);
        CHECK(visit(client, reference, secret, {{"message", "more"}, {"action", "add"}}).status == 409);
    }
}
