// Attachments on the way from a reporter's browser to the database: sent
// as multipart/form-data over HTTPS through the public edge, held
// encrypted by meldpunt-public while the form is not sent, carried in the
// spool folder beside the entry, and stored by meldpuntd under their own
// keys.

#include "Appliance.h"
#include "Reports.h"
#include "StoredReports.h"

#include "Crypto.h"

#include <catch2/catch_test_macros.hpp>

#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using namespace meldpunt::test;
namespace fs = std::filesystem;

namespace {

// `size` bytes that look random to libmagic and to a search for them.
std::string noise(std::size_t size, std::uint32_t seed)
{
    std::string bytes(size, '\0');
    std::uint32_t state = seed * 2654435761u + 1;
    for (auto& byte : bytes) {
        state = state * 1664525u + 1013904223u;
        byte = static_cast<char>(state >> 24);
    }
    return bytes;
}

std::string pngFile(std::size_t size, std::uint32_t seed)
{
    const std::string header("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\x08\x06\0\0\0\x1f\x15\xc4\x89", 33);
    return header + noise(size - header.size(), seed);
}

std::string pdfFile(std::size_t size, std::uint32_t seed)
{
    const std::string header = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";
    return header + noise(size - header.size(), seed);
}

FormPart file(const std::string& fileName, const std::string& type, const std::string& content)
{
    return {"files", content, fileName, type};
}

// The report form as the browser sends it: the hidden token first, the
// fields in document order, the file input, then form_end last.
std::vector<FormPart> reportParts(const Fields& fields, const std::vector<FormPart>& files,
    const std::string& token = {})
{
    std::vector<FormPart> parts;
    if (!token.empty())
        parts.push_back({"upload_token", token, std::nullopt, {}});
    for (const auto& [name, value] : fields) {
        if (name != "form_end")
            parts.push_back({name, value, std::nullopt, {}});
    }
    if (files.empty())
        parts.push_back({"files", "", std::string(), "application/octet-stream"});
    parts.insert(parts.end(), files.begin(), files.end());
    parts.push_back({"form_end", "1", std::nullopt, {}});
    return parts;
}

std::string tokenOnPage(const std::string& html)
{
    const std::string marker = "name=\"upload_token\" value=\"";
    const auto start = html.find(marker);
    if (start == std::string::npos)
        return {};
    return html.substr(start + marker.size(), 32);
}

std::vector<std::string> heldNamesOnPage(const std::string& html)
{
    std::vector<std::string> names;
    const std::string marker = "<span class=\"file-name\">";
    for (auto at = html.find(marker); at != std::string::npos; at = html.find(marker, at + 1)) {
        const auto begin = at + marker.size();
        names.push_back(html.substr(begin, html.find("</span>", begin) - begin));
    }
    return names;
}

std::string removeButtonValue(const std::string& html)
{
    const std::string marker = "name=\"remove_upload\" value=\"";
    const auto start = html.find(marker);
    return start == std::string::npos ? std::string() : html.substr(start + marker.size(), 32);
}

std::string sha256Hex(const std::string& content)
{
    meldpunt::crypto::Sha256 hash;
    hash.update(meldpunt::crypto::asBytes(content));
    return meldpunt::crypto::toHex(hash.finish());
}

// Returns the files below `folder` whose bytes contain `needle`.
std::vector<fs::path> filesContaining(const fs::path& folder, const std::string& needle)
{
    std::vector<fs::path> found;
    std::error_code error;
    for (const auto& item : fs::recursive_directory_iterator(folder, error)) {
        if (!item.is_regular_file())
            continue;
        std::ifstream in(item.path(), std::ios::binary);
        const std::string bytes{std::istreambuf_iterator<char>(in), {}};
        if (bytes.find(needle) != std::string::npos)
            found.push_back(item.path());
    }
    return found;
}

std::size_t filesBelow(const fs::path& folder)
{
    std::size_t count = 0;
    std::error_code error;
    for (const auto& item : fs::recursive_directory_iterator(folder, error))
        count += item.is_regular_file() ? 1 : 0;
    return count;
}

// The files directly in the spool folder whose names end in `suffix`.
std::size_t spoolFilesEndingIn(const fs::path& spoolFolder, const std::string& suffix)
{
    std::size_t count = 0;
    for (const auto& item : fs::directory_iterator(spoolFolder))
        count += item.path().filename().string().ends_with(suffix) ? 1 : 0;
    return count;
}

// Holds `content` as a file of a new form with the form's "attach" button
// and returns the form's upload token.
std::string holdFile(const HttpsClient& client, const std::string& fileName, const std::string& content)
{
    const auto attached = client.postMultipart("/en/report",
        reportParts(withField(validReport("x"), "attach_files", "1"), {file(fileName, "image/png", content)}));
    REQUIRE(attached.status == 200);
    const std::string token = tokenOnPage(attached.body);
    REQUIRE(token.size() == 32);
    return token;
}

// Reads every attachment stored in the appliance's database.
std::vector<StoredAttachment> storedAttachments(Appliance& appliance)
{
    return readStoredAttachments(appliance.stateFolder(), appliance.tpm().tcti());
}

Appliance::Options smallLimits()
{
    Appliance::Options options;
    options.maxFileBytes = 256 * 1024;
    options.maxUploadBytes = 600 * 1024;
    options.maxFiles = 4;
    return options;
}

} // namespace

TEST_CASE("Attachments arrive byte-identical", "[site]")
{
    Appliance appliance("attachments", smallLimits());
    appliance.startAll();
    const auto client = appliance.publicClient();
    const std::string photo = pngFile(150 * 1024, 1);
    const std::string statement = pdfFile(70 * 1024, 2);
    const std::string notes = "Kamer 214, twee volwassenen en een meisje van ongeveer tien.\n";

    SECTION("several files in one report are stored with their SHA-256")
    {
        const auto page = client.postMultipart("/nl/report", reportParts(validReport("Drie bijlagen"),
            {file("strand.png", "image/png", photo), file("verklaring.pdf", "application/pdf", statement),
                file("notities.txt", "text/plain", notes)}));
        REQUIRE(page.status == 200);
        const std::string reference = referenceOnReceipt(page.body);
        REQUIRE_FALSE(reference.empty());
        REQUIRE(appliance.waitForEmptySpool());

        const auto stored = storedAttachments(appliance);
        REQUIRE(stored.size() == 3);
        const std::vector<std::tuple<std::string, std::string, std::string>> expected = {
            {"strand.png", "image/png", photo}, {"verklaring.pdf", "application/pdf", statement},
            {"notities.txt", "text/plain", notes}};
        for (std::size_t i = 0; i < stored.size(); ++i) {
            CAPTURE(i);
            CHECK(stored[i].reference == reference);
            CHECK(stored[i].name == std::get<0>(expected[i]));
            CHECK(stored[i].mediaType == std::get<1>(expected[i]));
            CHECK(stored[i].content == std::get<2>(expected[i]));
            CHECK(stored[i].size == std::get<2>(expected[i]).size());
            CHECK(stored[i].sha256 == sha256Hex(std::get<2>(expected[i])));
        }
        // The held files went beside the entry as its pieces, and meldpuntd
        // removed them with it.
        CHECK(spoolFilesEndingIn(appliance.spoolFolder(), ".piece") == 0);
        CHECK(filesBelow(appliance.uploadsFolder()) == 0);
    }
    SECTION("no file anywhere on disk contains an attachment's bytes")
    {
        const std::string marker = photo.substr(70 * 1024, 48);
        const auto held = client.postMultipart("/en/report",
            reportParts(withoutField(validReport("held"), "what"), {file("strand.png", "image/png", photo)}));
        REQUIRE(held.status == 422);
        CHECK(filesContaining(appliance.root(), marker).empty());
        const auto sent = client.postMultipart("/en/report", reportParts(validReport("sent"), {}, tokenOnPage(held.body)));
        REQUIRE(sent.status == 200);
        REQUIRE(appliance.waitForEmptySpool());
        REQUIRE(storedAttachments(appliance).size() == 1);
        CHECK(filesContaining(appliance.root(), marker).empty());
    }
    SECTION("deleting the report keys makes the stored files unreadable")
    {
        REQUIRE(client.postMultipart("/en/report", reportParts(validReport("x"), {file("a.png", "image/png", photo)}))
                    .status
            == 200);
        REQUIRE(appliance.waitForEmptySpool());
        REQUIRE(storedAttachments(appliance).size() == 1);
        appliance.stopDaemon();
        REQUIRE(appliance.waitForDaemonExit(std::chrono::seconds(15)));
        deleteReportKeys(appliance.stateFolder(), appliance.tpm().tcti());
        CHECK(filesBelow(appliance.attachmentsFolder()) == 1);
        CHECK_THROWS(storedAttachments(appliance));
    }
}

TEST_CASE("Attachments over a limit keep the rest of the report", "[site]")
{
    Appliance appliance("attachment-limits", smallLimits());
    appliance.startAll();
    const auto client = appliance.publicClient();
    const std::string small = pngFile(20 * 1024, 3);

    SECTION("an oversized file is skipped with a message and the rest is kept")
    {
        const auto page = client.postMultipart("/en/report", reportParts(validReport("Een te grote video"),
            {file("video.png", "image/png", pngFile(300 * 1024, 4)), file("klein.png", "image/png", small)}));
        REQUIRE(page.status == 422);
        CHECK(page.body.find("larger than the limit for one file") != std::string::npos);
        CHECK(page.body.find("<strong>video.png</strong>") != std::string::npos);
        CHECK(page.body.find("Een te grote video") != std::string::npos);
        CHECK(heldNamesOnPage(page.body) == std::vector<std::string>{"klein.png"});

        const auto sent = client.postMultipart("/en/report", reportParts(validReport("Een te grote video"), {},
            tokenOnPage(page.body)));
        REQUIRE(sent.status == 200);
        REQUIRE(appliance.waitForEmptySpool());
        const auto stored = storedAttachments(appliance);
        REQUIRE(stored.size() == 1);
        CHECK(stored[0].content == small);
    }
    SECTION("a file that brings the report over its limit is skipped and the rest is kept")
    {
        const auto held = client.postMultipart("/en/report", reportParts(withField(validReport("Over the limit"), "attach_files", "1"),
            {file("one.png", "image/png", pngFile(250 * 1024, 5)), file("two.png", "image/png", pngFile(250 * 1024, 6))}));
        REQUIRE(held.status == 200);
        REQUIRE(heldNamesOnPage(held.body).size() == 2);
        const auto over = client.postMultipart("/en/report", reportParts(validReport("Over the limit"),
            {file("three.png", "image/png", pngFile(200 * 1024, 7)), file("four.png", "image/png", pngFile(50 * 1024, 8))},
            tokenOnPage(held.body)));
        CHECK(over.status == 422);
        CHECK(over.body.find("larger than the limit for all files together, so it was skipped") != std::string::npos);
        CHECK(over.body.find("<strong>three.png</strong>") != std::string::npos);
        CHECK(over.body.find("Over the limit") != std::string::npos);
        CHECK(heldNamesOnPage(over.body) == std::vector<std::string>{"one.png", "two.png", "four.png"});
        CHECK(tokenOnPage(over.body) == tokenOnPage(held.body));
    }
    SECTION("a body far over the report limit gets the form back, not the edge's page")
    {
        // 2 MiB is more than max_report_bytes and max_upload_bytes together,
        // so an edge maximum at the report limit would answer with its
        // static 413 page and lose what was typed.
        const auto page = client.postMultipart("/nl/report", reportParts(validReport("Een hele lange video"),
            {file("video.png", "image/png", pngFile(2 * 1024 * 1024, 9)), file("klein.png", "image/png", small)}));
        CHECK(page.status == 422);
        CHECK(page.body.find("name=\"what\"") != std::string::npos);
        CHECK(page.body.find("Een hele lange video") != std::string::npos);
        CHECK(page.body.find("<strong>video.png</strong>") != std::string::npos);
        CHECK(page.body.find("lang=\"nl\"") != std::string::npos);
        CHECK(heldNamesOnPage(page.body) == std::vector<std::string>{"klein.png"});
    }
    SECTION("more files than the form may hold are skipped with a message")
    {
        std::vector<FormPart> files;
        for (int i = 0; i < 5; ++i)
            files.push_back(file("f" + std::to_string(i) + ".png", "image/png", pngFile(2048, 10 + i)));
        const auto page = client.postMultipart("/en/report", reportParts(validReport("many"), files));
        CHECK(page.status == 422);
        CHECK(page.body.find("largest number of files") != std::string::npos);
        CHECK(heldNamesOnPage(page.body).size() == 4);
    }
    SECTION("the limits are stated on the form in every language")
    {
        for (const char* language : {"nl", "en", "fr", "de", "es", "ru"}) {
            CAPTURE(language);
            const auto form = client.get(std::string("/") + language + "/report");
            CHECK(form.body.find("256 KB") != std::string::npos);
            CHECK(form.body.find("600 KB") != std::string::npos);
            CHECK(form.body.find("enctype=\"multipart/form-data\"") != std::string::npos);
            CHECK(form.body.find("id=\"metadata-warning\"") != std::string::npos);
        }
    }
}

TEST_CASE("Attachments are checked by content", "[site]")
{
    Appliance appliance("attachment-types", smallLimits());
    appliance.startAll();
    const auto client = appliance.publicClient();

    SECTION("a file whose content does not match its claimed type is refused with a message")
    {
        const auto page = client.postMultipart("/en/report",
            reportParts(validReport("mismatch"), {file("foto.jpg", "image/jpeg", pngFile(4096, 20))}));
        CHECK(page.status == 422);
        CHECK(page.body.find("does not match its type or its name") != std::string::npos);
        CHECK(heldNamesOnPage(page.body).empty());
        CHECK(filesBelow(appliance.uploadsFolder()) == 0);
    }
    SECTION("a file of a type the site does not take is refused with a message")
    {
        const std::string program = std::string("MZ\x90\0\3\0\0\0\4\0\0\0\xff\xff\0\0", 16) + noise(4000, 21);
        const auto page = client.postMultipart("/fr/report",
            reportParts(validReport("programme"), {file("photo.jpg", "image/jpeg", program)}));
        CHECK(page.status == 422);
        CHECK(page.body.find("<html lang=\"fr\"") != std::string::npos);
        CHECK(page.body.find("programme") != std::string::npos);
        CHECK(heldNamesOnPage(page.body).empty());
    }
}

TEST_CASE("Held attachments survive every round trip of the form", "[site]")
{
    Appliance appliance("attachment-hold", smallLimits());
    appliance.startAll();
    const auto client = appliance.publicClient();
    const std::string photo = pngFile(40 * 1024, 30);

    SECTION("a failed validation keeps the held files until the report is sent")
    {
        const auto failed = client.postMultipart("/en/report",
            reportParts(withoutField(validReport("x"), "what"), {file("bewijs.png", "image/png", photo)}));
        REQUIRE(failed.status == 422);
        CHECK(failed.body.find("Please describe what happened.") != std::string::npos);
        CHECK(heldNamesOnPage(failed.body) == std::vector<std::string>{"bewijs.png"});
        const std::string token = tokenOnPage(failed.body);
        REQUIRE(token.size() == 32);

        const auto sent = client.postMultipart("/en/report", reportParts(validReport("Nu volledig"), {}, token));
        REQUIRE(sent.status == 200);
        REQUIRE(appliance.waitForEmptySpool());
        const auto stored = storedAttachments(appliance);
        REQUIRE(stored.size() == 1);
        CHECK(stored[0].content == photo);
    }
    SECTION("a language switch keeps the held files")
    {
        const auto held = client.postMultipart("/en/report",
            reportParts(withField(validReport("x"), "attach_files", "1"), {file("bewijs.png", "image/png", photo)}));
        REQUIRE(held.status == 200);
        const auto dutch = client.postMultipart("/nl/report",
            reportParts(withField(validReport("x"), "switch_language", "nl"), {}, tokenOnPage(held.body)));
        CHECK(dutch.status == 200);
        CHECK(dutch.body.find("<html lang=\"nl\"") != std::string::npos);
        CHECK(heldNamesOnPage(dutch.body) == std::vector<std::string>{"bewijs.png"});
    }
    SECTION("the remove button removes one held file")
    {
        const auto held = client.postMultipart("/en/report", reportParts(withField(validReport("x"), "attach_files", "1"),
            {file("een.png", "image/png", photo), file("twee.png", "image/png", pngFile(1024, 31))}));
        REQUIRE(heldNamesOnPage(held.body).size() == 2);
        const auto removed = client.postMultipart("/en/report",
            reportParts(withField(validReport("x"), "remove_upload", removeButtonValue(held.body)), {}, tokenOnPage(held.body)));
        CHECK(removed.status == 200);
        CHECK(heldNamesOnPage(removed.body) == std::vector<std::string>{"twee.png"});
    }
    SECTION("a saved and resumed draft keeps the held files and sends them")
    {
        const auto held = client.postMultipart("/en/report",
            reportParts(withField(validReport("x"), "attach_files", "1"), {file("bewijs.png", "image/png", photo)}));
        const std::string token = tokenOnPage(held.body);
        REQUIRE(token.size() == 32);
        const auto saved = client.postMultipart("/en/report",
            reportParts(withField(validReport("Later verder"), "save_draft", "1"), {}, token));
        REQUIRE(saved.status == 200);
        const std::string marker = "class=\"reference resume-code\"><strong>";
        const auto at = saved.body.find(marker);
        REQUIRE(at != std::string::npos);
        const auto begin = at + marker.size();
        const std::string code = saved.body.substr(begin, saved.body.find('<', begin) - begin);

        const auto resumed = client.post("/en/resume", formBody({{"code", code}, {"form_end", "1"}}));
        REQUIRE(resumed.status == 200);
        CHECK(heldNamesOnPage(resumed.body) == std::vector<std::string>{"bewijs.png"});
        CHECK(tokenOnPage(resumed.body) == token);

        const auto sent = client.postMultipart("/en/report", reportParts(validReport("Later verder"), {}, token));
        REQUIRE(sent.status == 200);
        REQUIRE(appliance.waitForEmptySpool());
        const auto stored = storedAttachments(appliance);
        REQUIRE(stored.size() == 1);
        CHECK(stored[0].content == photo);
    }
    SECTION("files chosen in the same post as the draft save come back with the draft")
    {
        const auto saved = client.postMultipart("/en/report",
            reportParts(withField(validReport("Meteen bewaard"), "save_draft", "1"), {file("bewijs.png", "image/png", photo)}));
        REQUIRE(saved.status == 200);
        const std::string marker = "class=\"reference resume-code\"><strong>";
        const auto at = saved.body.find(marker);
        REQUIRE(at != std::string::npos);
        const auto begin = at + marker.size();
        const std::string code = saved.body.substr(begin, saved.body.find('<', begin) - begin);

        const auto resumed = client.post("/en/resume", formBody({{"code", code}, {"form_end", "1"}}));
        REQUIRE(resumed.status == 200);
        CHECK(heldNamesOnPage(resumed.body) == std::vector<std::string>{"bewijs.png"});
        const std::string token = tokenOnPage(resumed.body);
        REQUIRE(token.size() == 32);

        const auto sent = client.postMultipart("/en/report", reportParts(validReport("Meteen bewaard"), {}, token));
        REQUIRE(sent.status == 200);
        REQUIRE(appliance.waitForEmptySpool());
        const auto stored = storedAttachments(appliance);
        REQUIRE(stored.size() == 1);
        CHECK(stored[0].content == photo);
    }
    SECTION("a form without JavaScript's help can still be sent URL-encoded with its token")
    {
        const auto held = client.postMultipart("/en/report",
            reportParts(withField(validReport("x"), "attach_files", "1"), {file("bewijs.png", "image/png", photo)}));
        const auto sent = client.post("/en/report", formBody(withField(validReport("url-encoded"), "upload_token", tokenOnPage(held.body))));
        REQUIRE(sent.status == 200);
        REQUIRE(appliance.waitForEmptySpool());
        CHECK(storedAttachments(appliance).size() == 1);
    }
}

TEST_CASE("Hostile file names are shown and stored sanitised", "[site]")
{
    Appliance appliance("attachment-names", smallLimits());
    appliance.startAll();
    const auto client = appliance.publicClient();
    const std::vector<std::pair<std::string, std::string>> names = {
        {"../../../../etc/cron.d/evil.png", "evil.png"},
        {"C:\\Windows\\System32\\drivers\\etc\\hosts.png", "hosts.png"},
        {"<script>alert(1)</script>.png", "script_.png"},
        {"invoice\u202Egnp.exe.png", "invoicegnp.exe.png"},
        {"line\r\nbreak\ttab.png", "linebreaktab.png"},
        {"\xff\xfe.png", "\uFFFD\uFFFD.png"},
        {std::string(400, 'a') + ".png", std::string(96, 'a') + ".png"},
    };
    std::vector<FormPart> files;
    for (std::size_t i = 0; i < 4; ++i)
        files.push_back(file(names[i].first, "image/png", pngFile(1024, 40 + static_cast<std::uint32_t>(i))));
    std::vector<FormPart> moreFiles;
    for (std::size_t i = 4; i < names.size(); ++i)
        moreFiles.push_back(file(names[i].first, "image/png", pngFile(1024, 40 + static_cast<std::uint32_t>(i))));

    const auto first = client.postMultipart("/en/report", reportParts(withField(validReport("names"), "attach_files", "1"), files));
    REQUIRE(first.status == 200);
    CHECK(first.body.find("<script>alert") == std::string::npos);
    const auto page = client.postMultipart("/en/report", reportParts(validReport("names"), {}, tokenOnPage(first.body)));
    REQUIRE(page.status == 200);
    const auto second = client.postMultipart("/en/report",
        reportParts(withField(validReport("more names"), "attach_files", "1"), moreFiles));
    const auto sent = client.postMultipart("/en/report", reportParts(validReport("more names"), {}, tokenOnPage(second.body)));
    REQUIRE(sent.status == 200);
    REQUIRE(appliance.waitForEmptySpool());

    const auto stored = storedAttachments(appliance);
    REQUIRE(stored.size() == names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
        CAPTURE(names[i].first);
        CHECK(stored[i].name == names[i].second);
    }
    // Nothing was written outside the folders the daemons own.
    CHECK_FALSE(fs::exists(appliance.root() / "etc"));
    CHECK_FALSE(fs::exists("/etc/cron.d/evil.png"));
}

TEST_CASE("Ingestion killed before its commit leaves no orphan file", "[site]")
{
    Appliance appliance("attachment-crash", smallLimits());
    appliance.startAll();
    const auto client = appliance.publicClient();
    const std::string photo = pngFile(60 * 1024, 50);
    appliance.stopDaemon();
    REQUIRE(appliance.waitForDaemonExit(std::chrono::seconds(15)));

    const auto page = client.postMultipart("/en/report", reportParts(validReport("crash"), {file("a.png", "image/png", photo)}));
    REQUIRE(page.status == 200);
    appliance.startDaemon({"MELDPUNT_FAULT_POINT=ingest-after-attachment-files"});
    REQUIRE(appliance.waitForDaemonExit(std::chrono::seconds(20)));
    // The file was written and synced, the row never committed.
    CHECK(filesBelow(appliance.attachmentsFolder()) == 1);
    CHECK(storedAttachments(appliance).empty());

    appliance.startDaemon();
    REQUIRE(appliance.waitForEmptySpool());
    const auto stored = storedAttachments(appliance);
    REQUIRE(stored.size() == 1);
    CHECK(stored[0].content == photo);
    // The orphan from the killed run is gone; only the stored file is left.
    CHECK(filesBelow(appliance.attachmentsFolder()) == 1);
    CHECK(readStoredReports(appliance.stateFolder(), appliance.tpm().tcti()).size() == 1);
}

TEST_CASE("Held files survive a full spool", "[site]")
{
    if (!Appliance::runsAsSeparateUsers())
        SKIP("mounting a small tmpfs as the spool needs root");
    Appliance appliance("attachment-full-spool", smallLimits());
    appliance.startAll();
    // The spool and its held folder on one small file system, as on the
    // appliance's data partition, which an upload can fill.
    const fs::path small = appliance.root() / "small-spool";
    fs::create_directories(small);
    REQUIRE(::mount("tmpfs", small.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=512k,mode=2770") == 0);
    REQUIRE(::chown(small.c_str(), Appliance::kPublicUid, Appliance::kSpoolGid) == 0);
    const fs::path held = small / "held";
    fs::create_directories(held);
    REQUIRE(::chown(held.c_str(), Appliance::kPublicUid, Appliance::kSpoolGid) == 0);
    fs::permissions(held, fs::perms(02700));
    appliance.stopPublic();
    appliance.setPublicSpool(small, held);
    appliance.startPublic();
    const auto client = appliance.publicClient();
    const std::string photo = pngFile(200 * 1024, 70);

    const std::string token = holdFile(client, "vol.png", photo);
    // The rest of the space goes, so that the entry cannot be written
    // once the held file has moved beside it.
    {
        std::ofstream filler(small / "filler", std::ios::binary);
        const std::string block(4096, 'x');
        while (filler.write(block.data(), static_cast<std::streamsize>(block.size())) && filler.flush()) {
        }
    }
    const std::string what = "Het rapport bij de volle schijf";
    const auto refused = client.postMultipart("/en/report", reportParts(validReport(what), {}, token));
    CHECK(refused.status == 503);
    CHECK(refused.body.find(what) != std::string::npos);
    CHECK(heldNamesOnPage(refused.body) == std::vector<std::string>{"vol.png"});
    // Nothing of the report is left in the spool: no entry, no partial
    // entry and no piece.
    CHECK(spoolFilesEndingIn(small, ".entry") == 0);
    CHECK(spoolFilesEndingIn(small, ".partial") == 0);
    CHECK(spoolFilesEndingIn(small, ".piece") == 0);

    fs::remove(small / "filler");
    const auto sent = client.postMultipart("/en/report", reportParts(validReport(what), {}, token));
    REQUIRE(sent.status == 200);
    appliance.stopPublic();
    // meldpuntd reads the configured spool; this entry and its piece are
    // handed to it there, as meldpunt-public left them.
    for (const auto& item : fs::directory_iterator(small)) {
        const std::string name = item.path().filename().string();
        if (name.ends_with(".entry") || name.ends_with(".piece"))
            fs::copy_file(item.path(), appliance.spoolFolder() / name);
    }
    REQUIRE(appliance.waitForEmptySpool());
    const auto stored = storedAttachments(appliance);
    REQUIRE(stored.size() == 1);
    CHECK(stored[0].content == photo);
    ::umount2(small.c_str(), MNT_DETACH);
}

TEST_CASE("Orphan pieces are removed at start", "[site]")
{
    Appliance appliance("attachment-orphan-pieces", smallLimits());
    appliance.startAll();
    appliance.stopDaemon();
    REQUIRE(appliance.waitForDaemonExit(std::chrono::seconds(15)));
    const auto page = appliance.publicClient().postMultipart("/en/report",
        reportParts(validReport("met stuk"), {file("a.png", "image/png", pngFile(40 * 1024, 80))}));
    REQUIRE(page.status == 200);
    std::vector<fs::path> kept;
    for (const auto& item : fs::directory_iterator(appliance.spoolFolder())) {
        const std::string name = item.path().filename().string();
        if (name.ends_with(".entry") || name.ends_with(".piece"))
            kept.push_back(item.path());
    }
    REQUIRE(kept.size() == 2); // the entry and its piece
    const fs::path orphan = appliance.spoolFolder() / "0b6c7d52-61f4-4c8e-9a3b-2f1e0d9c8b7a.0.piece";
    std::ofstream(orphan) << "a piece whose entry was never committed";

    appliance.stopPublic();
    appliance.startPublic();
    CHECK_FALSE(fs::exists(orphan));
    for (const auto& path : kept)
        CHECK(fs::exists(path));
    appliance.startDaemon();
    REQUIRE(appliance.waitForEmptySpool());
    CHECK(storedAttachments(appliance).size() == 1);
    CHECK(spoolFilesEndingIn(appliance.spoolFolder(), ".piece") == 0);
}

TEST_CASE("A crash after the move keeps held files", "[site]")
{
    Appliance appliance("attachment-crash-after-move", smallLimits());
    appliance.startAll();
    appliance.stopPublic();
    appliance.startPublic({"MELDPUNT_FAULT_POINT=spool-after-pieces"});
    const auto client = appliance.publicClient();
    const std::string photo = pngFile(60 * 1024, 90);

    const std::string token = holdFile(client, "bewijs.png", photo);
    // meldpunt-public stops at once after moving the file beside the entry
    // it has not written yet, so the reporter gets no receipt.
    try {
        const auto crashed = client.postMultipart("/en/report", reportParts(validReport("na de crash"), {}, token));
        CHECK(referenceOnReceipt(crashed.body).empty());
    } catch (const std::exception&) {
        // The connection may close without a response.
    }
    REQUIRE(spoolFilesEndingIn(appliance.spoolFolder(), ".piece") == 1);

    appliance.stopPublic();
    appliance.startPublic();
    CHECK(spoolFilesEndingIn(appliance.spoolFolder(), ".piece") == 0);
    const auto form = client.postMultipart("/en/report",
        reportParts(withoutField(validReport("x"), "what"), {}, token));
    CHECK(heldNamesOnPage(form.body) == std::vector<std::string>{"bewijs.png"});
    const auto sent = client.postMultipart("/en/report", reportParts(validReport("na de crash"), {}, token));
    REQUIRE(sent.status == 200);
    REQUIRE(appliance.waitForEmptySpool());
    const auto stored = storedAttachments(appliance);
    REQUIRE(stored.size() == 1);
    CHECK(stored[0].content == photo);
}
