// The case page's detailed answers, attachments and messages with the
// reporter, through StaffApp with the real templates and a real
// attachment store.

#include "AttachmentStore.h"
#include "Crypto.h"
#include "Receipts.h"
#include "SealedBox.h"
#include "StaffApp.h"
#include "StaffAppFixture.h"
#include "TestData.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <openssl/sha.h>

#include <algorithm>
#include <fstream>
#include <sstream>

using namespace meldpunt;
using namespace meldpunt::staff;
using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::StartsWith;
using meldpunt::test::header;
using meldpunt::test::headers;
using meldpunt::test::StaffAppFixture;
using meldpunt::test::StaffClient;

namespace fs = std::filesystem;

namespace {

// A PNG signature and header chunk followed by other bytes: the type the
// form's type check records as image/png.
const std::string kPng = std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0", 29)
    + "pixels of a test photo";
const std::string kSvg = "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
const std::string kHtml = "<!doctype html><script>alert(document.cookie)</script>";
const std::string kPdf = "%PDF-1.7\n1 0 obj << /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >> endobj\n%%EOF\n";

// The HTML escaping of the staff templates (kainjow::mustache).
std::string escaped(const std::string& text)
{
    std::string out;
    for (const char c : text) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string sha256Hex(const std::string& bytes)
{
    std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
    SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest.data());
    return crypto::toHex(std::vector<std::uint8_t>(digest.begin(), digest.end()));
}

bool audited(StaffAppFixture& fixture, const std::string& action, const std::string& objectId)
{
    const auto entries = fixture.auditEntries();
    return std::any_of(entries.begin(), entries.end(),
        [&](const AuditEntry& entry) { return entry.action == action && entry.objectId == objectId; });
}

// A case page's fixture with the attachment folder that meldpuntd gives
// StaffApp.
struct CaseFixture : StaffAppFixture {
    explicit CaseFixture(const std::string& name, StaffSettings settings = {})
        : StaffAppFixture(name, std::move(settings))
        , folder(db.scratch.path() / "attachments")
    {
        fs::create_directories(folder);
        app->attachReferrals(nullptr, folder);
    }

    std::int64_t addReport(const std::string& text)
    {
        std::lock_guard lock(mutex);
        return db.addReport(text, "2026-12-01T09:00:00Z");
    }

    // Stores an attachment as the ingester does: encrypted under its own
    // key, wrapped by the report key. Returns the attachment's id.
    std::int64_t addAttachment(std::int64_t reportId, const std::string& name, const std::string& mediaType,
        const std::string& content)
    {
        std::lock_guard lock(mutex);
        storage::AttachmentStore store(folder);
        auto writer = store.create();
        writer->write(crypto::asBytes(content));
        writer->finish();
        store.syncFolder();
        const auto sha = writer->sha256();
        auto& database = *db.database;
        auto key = database.prepare("SELECT key FROM report_keys WHERE report_id = ?");
        key.bind(1, reportId);
        SecretBytes reportKey = SecretBytes::random(32);
        if (key.step()) {
            const auto stored = key.columnBlob(0);
            std::copy(stored.begin(), stored.end(), reportKey.data());
        } else {
            database.prepare("INSERT INTO report_keys (report_id, key) VALUES (?, ?)")
                .bind(1, reportId)
                .bind(2, reportKey.span())
                .run();
        }
        database
            .prepare("INSERT INTO attachments (report_id, position, file_id, name, media_type, size, sha256, "
                     "wrapped_key, uploaded_at) VALUES (?1, (SELECT count(*) FROM attachments WHERE report_id = ?1), "
                     "?2, ?3, ?4, ?5, ?6, ?7, '2026-12-01T09:00:00Z')")
            .bind(1, reportId)
            .bind(2, writer->fileId())
            .bind(3, name)
            .bind(4, mediaType)
            .bind(5, static_cast<std::int64_t>(content.size()))
            .bind(6, std::span<const std::uint8_t>(sha))
            .bind(7, storage::wrapFileKey(reportKey.span(), writer->fileKey().span(), writer->fileId()))
            .run();
        return database.lastInsertId();
    }

    fs::path folder;
};

// The <img> of attachment `id` on a case page, up to its closing '>'.
std::string imageTag(const std::string& page, std::int64_t id)
{
    const std::string start = "<img src=\"/attachments/" + std::to_string(id) + "/image\"";
    const auto at = page.find(start);
    if (at == std::string::npos)
        return {};
    return page.substr(at, page.find('>', at) - at + 1);
}

} // namespace

TEST_CASE("Case page attachments and reveal", "[staff]")
{
    CaseFixture fixture("staff-attachments");
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    const auto report = fixture.addReport("A photo of the hotel entrance");
    const auto first = fixture.addAttachment(report, "entrance.png", "image/png", kPng);
    const auto second = fixture.addAttachment(report, "room.png", "image/png", kPng + " and more");
    const auto pdf = fixture.addAttachment(report, "statement.pdf", "application/pdf", kPdf);
    StaffClient client(*fixture.app);
    fixture.logIn(client, anna);
    const std::string path = "/cases/" + std::to_string(report);

    SECTION("each attachment is listed with its type, size and SHA-256")
    {
        const auto page = client.get(path);
        REQUIRE(page.status == 200);
        CHECK_THAT(page.body, ContainsSubstring("entrance.png"));
        CHECK_THAT(page.body, ContainsSubstring("statement.pdf"));
        CHECK_THAT(page.body, ContainsSubstring(">application/pdf<"));
        CHECK_THAT(page.body, ContainsSubstring(">" + std::to_string(kPng.size()) + " bytes<"));
        CHECK_THAT(page.body, ContainsSubstring("<code class=\"attachment-sha256\">" + sha256Hex(kPng) + "</code>"));
        CHECK_THAT(page.body, ContainsSubstring("<code class=\"attachment-sha256\">" + sha256Hex(kPdf) + "</code>"));
        CHECK(imageTag(page.body, pdf).empty());
        CHECK_THAT(page.body, ContainsSubstring("href=\"/attachments/" + std::to_string(pdf) + "\""));
    }

    SECTION("images are blurred until revealed, one at a time")
    {
        const auto page = client.get(path);
        CHECK_THAT(imageTag(page.body, first), ContainsSubstring("class=\"attachment-image blurred\""));
        CHECK_THAT(imageTag(page.body, second), ContainsSubstring("class=\"attachment-image blurred\""));

        const auto revealed = client.post(path + "/attachments/reveal", {{"attachment", std::to_string(second)}});
        REQUIRE(revealed.status == 200);
        CHECK_THAT(imageTag(revealed.body, second), ContainsSubstring("class=\"attachment-image\""));
        CHECK_THAT(imageTag(revealed.body, first), ContainsSubstring("class=\"attachment-image blurred\""));
        CHECK(audited(fixture, "attachment.reveal", std::to_string(second)));
        CHECK_FALSE(audited(fixture, "attachment.reveal", std::to_string(first)));

        // The next page load blurs it again.
        CHECK_THAT(imageTag(client.get(path).body, second), ContainsSubstring("blurred"));
    }

    SECTION("a reveal of another case's or a non-image attachment is rejected")
    {
        const auto other = fixture.addReport("Another report");
        const auto foreign = fixture.addAttachment(other, "other.png", "image/png", kPng);
        client.get(path);
        for (const auto& chosen : {std::to_string(foreign), std::to_string(pdf), std::string("x"), std::string()}) {
            INFO(chosen);
            const auto response = client.post(path + "/attachments/reveal", {{"attachment", chosen}});
            CHECK(response.status == 400);
            CHECK_THAT(response.body, ContainsSubstring("not an image of this case"));
            CHECK_THAT(imageTag(response.body, first), ContainsSubstring("blurred"));
        }
    }

    SECTION("an image is served decrypted with its type and a sandbox policy")
    {
        const auto image = client.get("/attachments/" + std::to_string(first) + "/image");
        REQUIRE(image.status == 200);
        CHECK(image.contentType == "image/png");
        CHECK(image.body == kPng);
        CHECK(headers(image, "Content-Security-Policy") == std::vector<std::string>{"sandbox; default-src 'none'"});
        CHECK(header(image, "X-Content-Type-Options") == "nosniff");
        CHECK(audited(fixture, "attachment.view", std::to_string(first)));
    }

    SECTION("a PDF is never served as an image")
    {
        CHECK(client.get("/attachments/" + std::to_string(pdf) + "/image").status == 404);
        CHECK(client.get("/attachments/999999").status == 404);
    }
}

TEST_CASE("Active attachments only download", "[staff]")
{
    CaseFixture fixture("staff-active-attachments");
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    const auto report = fixture.addReport("Files that could run script");
    StaffClient client(*fixture.app);
    fixture.logIn(client, anna);

    struct Case {
        std::string name;
        std::string mediaType;
        std::string content;
    };
    const std::vector<Case> cases = {{"drawing.svg", "image/svg+xml", kSvg}, {"page.html", "text/html", kHtml},
        {"statement.pdf", "application/pdf", kPdf}, {"unknown.bin", "application/x-unknown", kHtml},
        // A file recorded as an image whose bytes are not one.
        {"fake.png", "image/png", kHtml}};
    for (const auto& each : cases) {
        INFO(each.name);
        const auto id = fixture.addAttachment(report, each.name, each.mediaType, each.content);
        const std::string idText = std::to_string(id);

        const auto download = client.get("/attachments/" + idText);
        REQUIRE(download.status == 200);
        CHECK(download.body == each.content);
        CHECK_THAT(header(download, "Content-Disposition"), StartsWith("attachment; filename=\"" + each.name + "\""));
        CHECK(headers(download, "Content-Security-Policy") == std::vector<std::string>{"sandbox; default-src 'none'"});
        CHECK(header(download, "X-Content-Type-Options") == "nosniff");
        if (each.mediaType != "image/png")
            CHECK(download.contentType == "application/octet-stream");
        CHECK(audited(fixture, "attachment.download", idText));

        CHECK(client.get("/attachments/" + idText + "/image").status == 404);
        CHECK_FALSE(audited(fixture, "attachment.view", idText));
    }
}

TEST_CASE("Attachments closed to auditor and admin", "[staff]")
{
    CaseFixture fixture("staff-attachment-roles");
    const auto report = fixture.addReport("A report with a photo");
    const auto id = std::to_string(fixture.addAttachment(report, "photo.png", "image/png", kPng));
    const auto coordinator = fixture.addMember("cora", Role::Coordinator);
    StaffClient cora(*fixture.app);
    fixture.logIn(cora, coordinator);
    CHECK(cora.get("/attachments/" + id).status == 200);
    CHECK(cora.get("/attachments/" + id + "/image").status == 200);

    for (const auto role : {Role::Auditor, Role::Admin}) {
        const auto member = fixture.addMember(std::string(roleName(role)) + "-member", role);
        INFO(member.username);
        StaffClient client(*fixture.app);
        fixture.logIn(client, member);
        const auto download = client.get("/attachments/" + id);
        CHECK(download.status == 403);
        CHECK(download.body.find(kPng) == std::string::npos);
        CHECK(client.get("/attachments/" + id + "/image").status == 403);
        CHECK(client.post("/cases/" + std::to_string(report) + "/attachments/reveal", {{"attachment", id}}).status == 403);
        CHECK(client.post("/cases/" + std::to_string(report) + "/replies", {{"reply", "hello"}}).status == 403);
    }
    CHECK(audited(fixture, "access.denied", "/attachments/{id}"));
}

TEST_CASE("Case page detailed answers", "[staff]")
{
    CaseFixture fixture("staff-details");
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    StaffClient client(*fixture.app);
    fixture.logIn(client, anna);

    SECTION("a report from the form shows every answer")
    {
        const auto report = fixture.addReport("A report with details");
        {
            std::lock_guard lock(fixture.mutex);
            fixture.db.database->exec("INSERT INTO report_details VALUES (" + std::to_string(report)
                + ", 'He kept the door locked', 'Pattaya', 'hotel', 'https://example.org/a', 'one', '30_49', "
                  "'male', 'Tall, grey hair', 'English', 'two', '12_15', 'both', 'Two children', 'Thai', "
                  "'Told the manager', 'Nothing else', '', '', 'campaign')");
        }
        const auto page = client.get("/cases/" + std::to_string(report));
        REQUIRE(page.status == 200);
        CHECK_THAT(page.body, ContainsSubstring("<dd class=\"detail-why_suspicious\">He kept the door locked</dd>"));
        CHECK_THAT(page.body, ContainsSubstring("<dd class=\"detail-city\">Pattaya</dd>"));
        CHECK_THAT(page.body, ContainsSubstring("<dd class=\"detail-venue_type\">hotel</dd>"));
        CHECK_THAT(page.body, ContainsSubstring("<dd class=\"detail-child_description\">Two children</dd>"));
        CHECK_THAT(page.body, ContainsSubstring("<dd class=\"detail-found_via\">campaign</dd>"));
        CHECK_THAT(page.body, ContainsSubstring("<dd class=\"detail-reporter_age\"><span class=\"unanswered\">Not answered</span></dd>"));
    }

    SECTION("manual intake records the same detailed answers")
    {
        client.get("/intake");
        const auto saved = client.post("/intake", {{"channel", "phone"}, {"what", "A caller saw a child at a bar"},
            {"why_suspicious", "The man paid the child"}, {"venue_type", "bar_club"}, {"child_age", "6_11"},
            {"remarks", "Caller will ring again"}});
        REQUIRE(saved.status == 303);
        const auto page = client.get(header(saved, "Location"));
        CHECK_THAT(page.body, ContainsSubstring("<dd class=\"detail-why_suspicious\">The man paid the child</dd>"));
        CHECK_THAT(page.body, ContainsSubstring("<dd class=\"detail-venue_type\">bar_club</dd>"));
        CHECK_THAT(page.body, ContainsSubstring("<dd class=\"detail-child_age\">6_11</dd>"));
        CHECK_THAT(page.body, ContainsSubstring("<dd class=\"detail-remarks\">Caller will ring again</dd>"));
    }

    SECTION("manual intake rejects an answer the form does not offer")
    {
        client.get("/intake");
        const auto rejected = client.post("/intake", {{"channel", "phone"}, {"what", "A report"},
            {"venue_type", "spaceship"}, {"city", "Utrecht"}});
        CHECK(rejected.status == 400);
        CHECK_THAT(rejected.body, ContainsSubstring("The answer to &apos;Type of place&apos; is not one of the offered values"));
        // The form comes back with what was typed.
        CHECK_THAT(rejected.body, ContainsSubstring(">Utrecht</textarea>"));
        const auto tooLong = client.post("/intake", {{"channel", "phone"}, {"what", "A report"},
            {"city", std::string(201, 'a')}});
        CHECK(tooLong.status == 400);
        CHECK_THAT(tooLong.body, ContainsSubstring("The field &apos;City&apos; is too long"));
    }
}

TEST_CASE("Replies to the reporter", "[staff]")
{
    test::ScratchFolder publish("staff-replies-publish");
    StaffSettings settings;
    settings.publishFolder = publish.path();
    CaseFixture fixture("staff-replies", settings);
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    const auto keys = crypto::X25519KeyPair::generate();
    const auto report = fixture.addReport("A report with a receipt");
    std::string reference;
    {
        std::lock_guard lock(fixture.mutex);
        auto& database = *fixture.db.database;
        storage::storeReceipt(database, report, "$meldpunt-receipt$test", keys.publicKey);
        auto row = database.prepare("SELECT reference FROM reports WHERE id = ?");
        row.bind(1, report);
        REQUIRE(row.step());
        reference = row.columnText(0);
        database.prepare("INSERT INTO reporter_messages (report_id, direction, at, body) "
                         "VALUES (?, 'from_reporter', '2026-12-02T10:00:00Z', 'It was Hotel Sunrise')")
            .bind(1, report)
            .run();
    }
    StaffClient client(*fixture.app);
    fixture.logIn(client, anna);
    const std::string path = "/cases/" + std::to_string(report);

    SECTION("the reporter's message is shown and a reply is published sealed")
    {
        const auto page = client.get(path);
        CHECK_THAT(page.body, ContainsSubstring("<p class=\"message-text\">It was Hotel Sunrise</p>"));
        CHECK_THAT(page.body, ContainsSubstring("action=\"" + path + "/replies\""));
        const auto sent = client.post(path + "/replies", {{"reply", "Which floor was the room on?"}});
        REQUIRE(sent.status == 303);
        CHECK(header(sent, "Location") == path + "#messages");
        CHECK_THAT(client.get(path).body, ContainsSubstring("<p class=\"message-text\">Which floor was the room on?</p>"));

        const fs::path file = publish.path() / "receipts" / storage::receiptFileName(reference);
        std::ifstream in(file);
        REQUIRE(in);
        std::stringstream text;
        text << in.rdbuf();
        Poco::JSON::Parser parser;
        const auto root = parser.parse(text.str()).extract<Poco::JSON::Object::Ptr>();
        const auto replies = root->getArray("replies");
        REQUIRE(replies);
        REQUIRE(replies->size() == 1);
        const auto reply = replies->getObject(0);
        const std::string context = "meldpunt reply " + reference + " " + std::to_string(reply->getValue<Poco::Int64>("id"));
        const auto opened = crypto::openSealedBox(keys, context, crypto::fromBase64(reply->getValue<std::string>("sealed")));
        REQUIRE(opened);
        CHECK(*opened == "Which floor was the room on?");
        CHECK(text.str().find("Which floor") == std::string::npos);
        CHECK(audited(fixture, "case.reply_sent", std::to_string(reply->getValue<Poco::Int64>("id"))));
    }

    SECTION("an empty, too long or control-character reply is rejected with the text kept")
    {
        client.get(path);
        const auto empty = client.post(path + "/replies", {{"reply", "  \n "}});
        CHECK(empty.status == 400);
        CHECK_THAT(empty.body, ContainsSubstring("The reply is empty"));
        const std::string longText(5001, 'a');
        const auto tooLong = client.post(path + "/replies", {{"reply", longText}});
        CHECK(tooLong.status == 400);
        CHECK_THAT(tooLong.body, ContainsSubstring("The reply is too long"));
        CHECK_THAT(tooLong.body, ContainsSubstring(">" + longText + "</textarea>"));
        const auto control = client.post(path + "/replies", {{"reply", std::string("bell\x07")}});
        CHECK(control.status == 400);
        CHECK_THAT(control.body, ContainsSubstring("control characters"));
        std::lock_guard lock(fixture.mutex);
        auto count = fixture.db.database->prepare("SELECT count(*) FROM reporter_messages WHERE direction = 'to_reporter'");
        REQUIRE(count.step());
        CHECK(count.columnInt(0) == 0);
    }

    SECTION("a report without a receipt offers no reply form and rejects a reply")
    {
        const auto typedIn = fixture.addReport("Typed in by staff");
        const std::string otherPath = "/cases/" + std::to_string(typedIn);
        const auto page = client.get(otherPath);
        CHECK_THAT(page.body, ContainsSubstring("The reporter cannot receive replies"));
        CHECK_THAT(page.body, !ContainsSubstring("action=\"" + otherPath + "/replies\""));
        const auto rejected = client.post(otherPath + "/replies", {{"reply", "Hello"}});
        CHECK(rejected.status == 400);
        CHECK_THAT(rejected.body, ContainsSubstring("This report has no receipt"));
    }
}

TEST_CASE("Hostile attachment names and messages", "[staff][xss]")
{
    CaseFixture fixture("staff-material-xss");
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    const auto inputs = test::hostileInputs();
    StaffClient client(*fixture.app);
    fixture.logIn(client, anna);

    for (const auto& input : inputs) {
        INFO(input);
        const auto report = fixture.addReport("A report");
        const auto attachment = fixture.addAttachment(report, input, "application/pdf", kPdf);
        {
            std::lock_guard lock(fixture.mutex);
            auto& database = *fixture.db.database;
            std::string values = "?";
            for (int index = 0; index < 19; ++index)
                values += ", ?";
            auto insert = database.prepare("INSERT INTO report_details VALUES (" + values + ")");
            insert.bind(1, report);
            for (int index = 2; index <= 20; ++index)
                insert.bind(index, input);
            insert.run();
            database.prepare("INSERT INTO reporter_messages (report_id, direction, at, body) "
                             "VALUES (?, 'from_reporter', '2026-12-02T10:00:00Z', ?)")
                .bind(1, report)
                .bind(2, input)
                .run();
        }
        const auto page = client.get("/cases/" + std::to_string(report));
        REQUIRE(page.status == 200);
        CHECK_THAT(page.body, ContainsSubstring("<p class=\"attachment-name\">" + escaped(input) + "</p>"));
        CHECK_THAT(page.body, ContainsSubstring("<dd class=\"detail-remarks\">" + escaped(input) + "</dd>"));
        CHECK_THAT(page.body, ContainsSubstring("<p class=\"message-text\">" + escaped(input) + "</p>"));
        if (input.find('<') != std::string::npos)
            CHECK_THAT(page.body, !ContainsSubstring(input));
        CHECK_THAT(page.body, !ContainsSubstring("<script>alert"));
        CHECK_THAT(page.body, !ContainsSubstring("<img src=x"));

        const auto download = client.get("/attachments/" + std::to_string(attachment));
        REQUIRE(download.status == 200);
        const std::string disposition = header(download, "Content-Disposition");
        CHECK(disposition.find_first_of("\r\n") == std::string::npos);
        CHECK_THAT(disposition, StartsWith("attachment; filename=\""));
        // The quoted fallback name ends at the first quote after it.
        const auto close = disposition.find('"', 22);
        CHECK(disposition.substr(close, 13) == "\"; filename*=");
    }
}
