#include "AttachmentStore.h"
#include "ChunkedFile.h"
#include "Ingester.h"
#include "Migrations.h"
#include "Process.h"
#include "TestData.h"

#include "ReportForm.h"
#include "Spool.h"
#include "Uuid.h"

#include <catch2/catch_test_macros.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

using meldpunt::FormData;
using meldpunt::ReportForm;
using meldpunt::Uuid;
using meldpunt::storage::Database;
using meldpunt::storage::IngestCounts;
using meldpunt::storage::Ingester;
using meldpunt::storage::IntakeKeys;
using meldpunt::storage::OpenMode;
using meldpunt::test::readFile;
using meldpunt::test::ScratchFolder;

namespace crypto = meldpunt::crypto;
namespace spool = meldpunt::spool;
namespace fs = std::filesystem;

using meldpunt::test::hostileInputs;

namespace {

using Bytes = std::vector<std::uint8_t>;



FormData reportForm(const std::string& text, bool anonymous = false)
{
    FormData form;
    form.add("what", text);
    form.add("country", "NL");
    form.add("place", text);
    form.add("when", text);
    form.add("category", "online_material");
    form.add("contact", anonymous ? "anonymous" : "contact");
    form.add("name", text);
    form.add("email", text);
    form.add("phone", text);
    form.add("consent", "yes");
    return form;
}

std::string reportJson(const FormData& form)
{
    return ReportForm::toJson(form, "nl", "2026-07-14T16:30:00Z");
}

void writeBytes(const fs::path& path, const Bytes& bytes)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}

Bytes readBytes(const fs::path& path)
{
    const std::string text = readFile(path);
    return Bytes(text.begin(), text.end());
}

// A migrated database with a current intake key, the spool and quarantine
// folders, and the ingester under test, all in one scratch folder.
struct IngestBench {
    ScratchFolder scratch{"ingester"};
    fs::path spoolFolder = scratch.path() / "spool";
    fs::path quarantineFolder = scratch.path() / "quarantine";
    std::optional<Database> database;
    std::mutex databaseMutex;
    spool::IntakePublicKey intakeKey;
    std::optional<Ingester> ingester;

    IngestBench()
    {
        fs::create_directory(spoolFolder);
        fs::create_directory(quarantineFolder);
        database.emplace(scratch.path() / "meldpunt.db", crypto::randomBytes(32), OpenMode::CreateNew);
        meldpunt::storage::migrate(*database);
        intakeKey = IntakeKeys(*database).ensureCurrent("2026-01-01T00:00:00Z");
        ingester.emplace(*database, databaseMutex, spoolFolder, quarantineFolder);
    }

    fs::path writeEntry(const std::vector<std::pair<spool::RecordType, std::string>>& records,
        spool::EntryKind kind = spool::EntryKind::Report, const Uuid& uuid = Uuid::generate(),
        const std::optional<spool::IntakePublicKey>& key = std::nullopt)
    {
        spool::Writer writer(spoolFolder, kind, uuid, key.value_or(intakeKey), spool::kMinChunkSize);
        for (const auto& [type, payload] : records)
            writer.writeRecord(type, crypto::asBytes(payload));
        return writer.commit();
    }

    fs::path writeReport(const FormData& form, const Uuid& uuid = Uuid::generate())
    {
        return writeEntry({{spool::RecordType::Fields, reportJson(form)}}, spool::EntryKind::Report, uuid);
    }

    std::int64_t count(const std::string& table)
    {
        auto query = database->prepare("SELECT count(*) FROM " + table);
        REQUIRE(query.step());
        return query.columnInt(0);
    }

    // Checks that `entry`, whose bytes were `bytes`, was moved to the
    // quarantine folder unchanged and that nothing was stored.
    void checkQuarantined(const fs::path& entry, const Bytes& bytes, const IngestCounts& counts)
    {
        CHECK(counts.quarantined == 1);
        CHECK(counts.ingested == 0);
        CHECK_FALSE(fs::exists(entry));
        const fs::path moved = quarantineFolder / entry.filename();
        REQUIRE(fs::exists(moved));
        CHECK(readBytes(moved) == bytes);
        CHECK(count("reports") == 0);
        CHECK(count("spool_entries") == 0);
    }
};

} // namespace

TEST_CASE("Ingester stores valid reports once", "[ingester]")
{
    IngestBench bench;

    SECTION("A valid report is ingested and its file removed")
    {
        const Uuid uuid = Uuid::generate();
        const auto entry = bench.writeReport(reportForm("Een melding"), uuid);
        const auto counts = bench.ingester->runOnce();
        CHECK(counts.ingested == 1);
        CHECK(counts.quarantined == 0);
        CHECK_FALSE(fs::exists(entry));
        CHECK(bench.count("reports") == 1);
        CHECK(bench.count("spool_entries") == 1);
        CHECK(fs::is_empty(bench.quarantineFolder));

        auto query = bench.database->prepare(
            "SELECT reference, received_at, language, channel, category, country, anonymous, consent, status "
            "FROM reports WHERE entry_uuid = ?");
        query.bind(1, uuid.bytes);
        REQUIRE(query.step());
        CHECK(query.columnText(0) == meldpunt::referenceFromUuid(uuid));
        CHECK(query.columnText(1) == "2026-07-14T16:30:00Z");
        CHECK(query.columnText(2) == "nl");
        CHECK(query.columnText(3) == "form");
        CHECK(query.columnText(4) == "online_material");
        CHECK(query.columnText(5) == "NL");
        CHECK(query.columnInt(6) == 0);
        CHECK(query.columnInt(7) == 1);
        CHECK(query.columnText(8) == "new");
    }

    SECTION("A second pass finds nothing to do")
    {
        bench.writeReport(reportForm("Een melding"));
        bench.ingester->runOnce();
        const auto counts = bench.ingester->runOnce();
        CHECK(counts.ingested == 0);
        CHECK(counts.duplicates == 0);
        CHECK(counts.quarantined == 0);
        CHECK(bench.count("reports") == 1);
    }

    SECTION("An anonymous report stores no contact details")
    {
        const Uuid uuid = Uuid::generate();
        bench.writeReport(reportForm("anoniem", true), uuid);
        CHECK(bench.ingester->runOnce().ingested == 1);
        auto query = bench.database->prepare(
            "SELECT anonymous, contact_name, contact_email, contact_phone FROM reports WHERE entry_uuid = ?");
        query.bind(1, uuid.bytes);
        REQUIRE(query.step());
        CHECK(query.columnInt(0) == 1);
        CHECK(query.columnIsNull(1));
        CHECK(query.columnIsNull(2));
        CHECK(query.columnIsNull(3));
    }

    SECTION("Several entries are ingested in one pass")
    {
        for (int i = 0; i < 5; ++i)
            bench.writeReport(reportForm("melding " + std::to_string(i)));
        CHECK(bench.ingester->runOnce().ingested == 5);
        CHECK(bench.count("reports") == 5);
        CHECK(fs::is_empty(bench.spoolFolder));
    }

    SECTION("A pass stops at a stop request and leaves the rest")
    {
        for (int i = 0; i < 3; ++i)
            bench.writeReport(reportForm("melding " + std::to_string(i)));
        int asked = 0;
        const auto stopped = bench.ingester->runOnce(std::chrono::hours(1), [&] { return ++asked > 1; });
        CHECK(stopped.stoppedEarly);
        CHECK(stopped.ingested == 1);
        CHECK(bench.count("reports") == 1);
        const auto rest = bench.ingester->runOnce();
        CHECK_FALSE(rest.stoppedEarly);
        CHECK(rest.ingested == 2);
        CHECK(bench.count("reports") == 3);
    }

    SECTION("A pass with no time left ingests nothing")
    {
        bench.writeReport(reportForm("melding"));
        const auto counts = bench.ingester->runOnce(std::chrono::seconds(0));
        CHECK(counts.stoppedEarly);
        CHECK(counts.ingested == 0);
        CHECK(bench.count("reports") == 0);
    }
}

TEST_CASE("Ingester keeps hostile text exactly", "[ingester]")
{
    IngestBench bench;
    const auto inputs = hostileInputs();
    REQUIRE(inputs.size() >= 20);

    SECTION("Every hostile input is stored byte-exact in every text column")
    {
        std::vector<std::pair<Uuid, std::string>> written;
        for (const auto& input : inputs) {
            const Uuid uuid = Uuid::generate();
            bench.writeReport(reportForm(input), uuid);
            written.emplace_back(uuid, input);
        }
        CHECK(bench.ingester->runOnce().ingested == static_cast<int>(inputs.size()));
        for (const auto& [uuid, input] : written) {
            auto query = bench.database->prepare(
                "SELECT what, place, occurred, contact_name, contact_email, contact_phone FROM reports "
                "WHERE entry_uuid = ?");
            query.bind(1, uuid.bytes);
            REQUIRE(query.step());
            INFO("input: " << input);
            for (int column = 0; column < 6; ++column)
                CHECK(query.columnText(column) == input);
        }
    }
}

TEST_CASE("Ingester stores the detailed answers", "[ingester]")
{
    IngestBench bench;

    SECTION("Every detailed answer is stored byte-exact beside its report")
    {
        const std::vector<std::pair<std::string, std::string>> answers = {
            {"why_suspicious", "Het kind leek bang."}, {"city", "Pattaya"}, {"venue_type", "hotel"},
            {"urls", "https://example.org/a\nhttps://example.org/b"}, {"suspect_count", "one"},
            {"suspect_age", "50_plus"}, {"suspect_gender", "male"},
            {"suspect_description", "Lange man, grijze baard."}, {"suspect_language", "Duits"},
            {"child_count", "two"}, {"child_age", "6_11"}, {"child_gender", "both"},
            {"child_description", "Twee kinderen in schooluniform."}, {"child_language", "Thai"},
            {"action_taken", "De receptie gewaarschuwd."}, {"remarks", "Kenteken onbekend."},
            {"reporter_age", "30_49"}, {"reporter_gender", "no_answer"}, {"found_via", "campaign"}};
        FormData form = reportForm("melding");
        for (const auto& [name, value] : answers)
            form.add(name, value);
        const Uuid uuid = Uuid::generate();
        bench.writeReport(form, uuid);
        REQUIRE(bench.ingester->runOnce().ingested == 1);
        for (const auto& [name, value] : answers) {
            auto query = bench.database->prepare("SELECT d." + name
                + " FROM report_details d JOIN reports r ON r.id = d.report_id WHERE r.entry_uuid = ?");
            query.bind(1, uuid.bytes);
            REQUIRE(query.step());
            INFO(name);
            CHECK(query.columnText(0) == value);
        }
    }

    SECTION("A report without detailed answers stores empty ones")
    {
        bench.writeReport(reportForm("melding"));
        REQUIRE(bench.ingester->runOnce().ingested == 1);
        auto query = bench.database->prepare("SELECT why_suspicious, found_via FROM report_details");
        REQUIRE(query.step());
        CHECK(query.columnText(0).empty());
        CHECK(query.columnText(1).empty());
    }
}

TEST_CASE("Ingester removes duplicate entries", "[ingester]")
{
    IngestBench bench;

    SECTION("A copy of an ingested entry is removed as a duplicate")
    {
        const auto entry = bench.writeReport(reportForm("dubbel"));
        const Bytes copy = readBytes(entry);
        CHECK(bench.ingester->runOnce().ingested == 1);
        REQUIRE_FALSE(fs::exists(entry));

        writeBytes(entry, copy);
        const auto counts = bench.ingester->runOnce();
        CHECK(counts.duplicates == 1);
        CHECK(counts.ingested == 0);
        CHECK(counts.quarantined == 0);
        CHECK_FALSE(fs::exists(entry));
        CHECK(bench.count("reports") == 1);
        CHECK(bench.count("spool_entries") == 1);
    }
}

TEST_CASE("Ingester quarantines damaged entries", "[ingester]")
{
    IngestBench bench;
    const std::string longText(5000, 'x');

    SECTION("An entry with a flipped byte is quarantined")
    {
        const auto entry = bench.writeReport(reportForm("omgedraaid"));
        Bytes bytes = readBytes(entry);
        bytes[bytes.size() / 2] ^= 0x01;
        writeBytes(entry, bytes);
        const auto counts = bench.ingester->runOnce();
        bench.checkQuarantined(entry, bytes, counts);
    }

    SECTION("A truncated entry is quarantined")
    {
        const auto entry = bench.writeReport(reportForm(longText));
        Bytes bytes = readBytes(entry);
        bytes.resize(spool::kHeaderSize + 2 * (spool::kMinChunkSize + crypto::kGcmTagSize));
        writeBytes(entry, bytes);
        const auto counts = bench.ingester->runOnce();
        bench.checkQuarantined(entry, bytes, counts);
    }

    SECTION("An entry with reordered chunks is quarantined")
    {
        const auto entry = bench.writeReport(reportForm(longText));
        Bytes bytes = readBytes(entry);
        const auto sealed = static_cast<std::ptrdiff_t>(spool::kMinChunkSize + crypto::kGcmTagSize);
        const auto first = bytes.begin() + static_cast<std::ptrdiff_t>(spool::kHeaderSize);
        REQUIRE(bytes.end() - first > 2 * sealed);
        std::swap_ranges(first, first + sealed, first + sealed);
        writeBytes(entry, bytes);
        const auto counts = bench.ingester->runOnce();
        bench.checkQuarantined(entry, bytes, counts);
    }

    SECTION("An entry for an unknown key is quarantined")
    {
        spool::IntakePublicKey foreign;
        foreign.id.fill(0x5a);
        foreign.key = crypto::X25519KeyPair::generate().publicKey;
        const auto entry = bench.writeEntry({{spool::RecordType::Fields, reportJson(reportForm("x"))}},
            spool::EntryKind::Report, Uuid::generate(), foreign);
        const Bytes bytes = readBytes(entry);
        const auto counts = bench.ingester->runOnce();
        bench.checkQuarantined(entry, bytes, counts);
    }

    SECTION("An entry for another public key under the known id is quarantined")
    {
        spool::IntakePublicKey foreign = bench.intakeKey;
        foreign.key = crypto::X25519KeyPair::generate().publicKey;
        const auto entry = bench.writeEntry({{spool::RecordType::Fields, reportJson(reportForm("x"))}},
            spool::EntryKind::Report, Uuid::generate(), foreign);
        const Bytes bytes = readBytes(entry);
        const auto counts = bench.ingester->runOnce();
        bench.checkQuarantined(entry, bytes, counts);
    }

    SECTION("A file of garbage is quarantined")
    {
        const fs::path entry = bench.spoolFolder / (Uuid::generate().toString() + ".entry");
        const Bytes bytes = crypto::randomBytes(3000);
        writeBytes(entry, bytes);
        const auto counts = bench.ingester->runOnce();
        bench.checkQuarantined(entry, bytes, counts);
    }

    SECTION("An empty file is quarantined")
    {
        const fs::path entry = bench.spoolFolder / (Uuid::generate().toString() + ".entry");
        writeBytes(entry, {});
        const auto counts = bench.ingester->runOnce();
        bench.checkQuarantined(entry, {}, counts);
    }

    SECTION("A file whose name does not match its UUID is quarantined")
    {
        const auto written = bench.writeReport(reportForm("hernoemd"));
        const fs::path entry = bench.spoolFolder / (Uuid::generate().toString() + ".entry");
        fs::rename(written, entry);
        const Bytes bytes = readBytes(entry);
        const auto counts = bench.ingester->runOnce();
        bench.checkQuarantined(entry, bytes, counts);
    }

    SECTION("A report whose fields are not JSON is quarantined")
    {
        const auto entry = bench.writeEntry({{spool::RecordType::Fields, "{not json"}});
        const Bytes bytes = readBytes(entry);
        const auto counts = bench.ingester->runOnce();
        bench.checkQuarantined(entry, bytes, counts);
    }

    SECTION("A report of an unknown schema is quarantined")
    {
        std::string json = reportJson(reportForm("x"));
        const auto at = json.find("\"schema\":1");
        REQUIRE(at != std::string::npos);
        json.replace(at, 10, "\"schema\":2");
        const auto entry = bench.writeEntry({{spool::RecordType::Fields, json}});
        const Bytes bytes = readBytes(entry);
        const auto counts = bench.ingester->runOnce();
        bench.checkQuarantined(entry, bytes, counts);
    }

    SECTION("A report without fields is quarantined")
    {
        const auto entry = bench.writeEntry({});
        const Bytes bytes = readBytes(entry);
        const auto counts = bench.ingester->runOnce();
        bench.checkQuarantined(entry, bytes, counts);
    }

    SECTION("A report with two field records is quarantined")
    {
        const std::string json = reportJson(reportForm("x"));
        const auto entry = bench.writeEntry({{spool::RecordType::Fields, json}, {spool::RecordType::Fields, json}});
        const Bytes bytes = readBytes(entry);
        const auto counts = bench.ingester->runOnce();
        bench.checkQuarantined(entry, bytes, counts);
    }

    SECTION("A report with an attachment without metadata is quarantined")
    {
        const auto entry = bench.writeEntry({{spool::RecordType::Fields, reportJson(reportForm("x"))},
            {spool::RecordType::AttachmentBegin, "{}"}});
        const Bytes bytes = readBytes(entry);
        const auto counts = bench.ingester->runOnce();
        bench.checkQuarantined(entry, bytes, counts);
    }

    SECTION("A damaged entry does not stop a valid one")
    {
        const fs::path garbage = bench.spoolFolder / (Uuid::generate().toString() + ".entry");
        writeBytes(garbage, crypto::randomBytes(100));
        const auto valid = bench.writeReport(reportForm("geldig"));
        const auto counts = bench.ingester->runOnce();
        CHECK(counts.quarantined == 1);
        CHECK(counts.ingested == 1);
        CHECK(bench.count("reports") == 1);
        CHECK(fs::exists(bench.quarantineFolder / garbage.filename()));
    }
}

TEST_CASE("Ingester quarantines malformed reporter entries", "[ingester]")
{
    IngestBench bench;

    SECTION("a follow-up without a schema")
    {
        const auto entry = bench.writeEntry({{spool::RecordType::Fields, "{}"}}, spool::EntryKind::FollowUp);
        const Bytes bytes = readBytes(entry);
        bench.checkQuarantined(entry, bytes, bench.ingester->runOnce());
        CHECK(bench.count("reporter_messages") == 0);
    }
    SECTION("a withdrawal that is not JSON")
    {
        const auto entry = bench.writeEntry({{spool::RecordType::Fields, "withdraw"}}, spool::EntryKind::Withdrawal);
        const Bytes bytes = readBytes(entry);
        bench.checkQuarantined(entry, bytes, bench.ingester->runOnce());
    }
    SECTION("a report whose receipt hash is malformed")
    {
        std::string json = reportJson(reportForm("met bewijs"));
        json.insert(json.size() - 1, R"(,"receipt":{"hash":"$argon2id$x","public_key":"AAAA"})");
        const auto entry = bench.writeEntry({{spool::RecordType::Fields, json}});
        const Bytes bytes = readBytes(entry);
        bench.checkQuarantined(entry, bytes, bench.ingester->runOnce());
        CHECK(bench.count("receipts") == 0);
    }
}

// An all-zero ephemeral key must send the entry to quarantine and not end
// the pass, or the entries listed after it would never be ingested.
TEST_CASE("Ingester quarantines low-order key entries", "[ingester]")
{
    IngestBench bench;

    SECTION("An entry with an all-zero ephemeral key does not stop the pass")
    {
        const auto bad = bench.writeReport(reportForm("kwaadaardig"));
        Bytes bytes = readBytes(bad);
        std::fill(bytes.begin() + 44, bytes.begin() + 76, std::uint8_t{0});
        writeBytes(bad, bytes);
        const auto valid = bench.writeReport(reportForm("geldig"));
        const auto now = fs::file_time_type::clock::now();
        fs::last_write_time(bad, now - std::chrono::minutes(2));
        fs::last_write_time(valid, now - std::chrono::minutes(1));

        IngestCounts counts;
        REQUIRE_NOTHROW(counts = bench.ingester->runOnce());
        CHECK(counts.quarantined == 1);
        CHECK(counts.ingested == 1);
        CHECK(fs::exists(bench.quarantineFolder / bad.filename()));
    }
}

// A symbolic link named like an entry is not an entry: the reader opens
// with O_NOFOLLOW, and a link must not stop the entries after it.
TEST_CASE("Ingester survives symbolic link entries", "[ingester]")
{
    IngestBench bench;

    SECTION("A symbolic link in the spool does not stop the pass")
    {
        const fs::path target = bench.scratch.path() / "elsewhere";
        writeBytes(target, crypto::randomBytes(200));
        const fs::path link = bench.spoolFolder / (Uuid::generate().toString() + ".entry");
        fs::create_symlink(target, link);
        const auto valid = bench.writeReport(reportForm("geldig"));
        fs::last_write_time(target, fs::file_time_type::clock::now() - std::chrono::minutes(2));
        fs::last_write_time(valid, fs::file_time_type::clock::now() - std::chrono::minutes(1));

        IngestCounts counts;
        REQUIRE_NOTHROW(counts = bench.ingester->runOnce());
        CHECK(counts.ingested == 1);
        CHECK(bench.count("reports") == 1);
    }
}

// A plain rename would replace an earlier quarantined file of the same
// name, and quarantined entries must never be deleted.
TEST_CASE("Ingester keeps earlier quarantined files", "[ingester]")
{
    IngestBench bench;

    SECTION("A second damaged entry of the same name keeps the first")
    {
        const fs::path entry = bench.spoolFolder / (Uuid::generate().toString() + ".entry");
        const Bytes first = crypto::randomBytes(100);
        const Bytes second = crypto::randomBytes(120);
        writeBytes(entry, first);
        CHECK(bench.ingester->runOnce().quarantined == 1);
        writeBytes(entry, second);
        CHECK(bench.ingester->runOnce().quarantined == 1);

        std::vector<Bytes> quarantined;
        for (const auto& item : fs::directory_iterator(bench.quarantineFolder))
            quarantined.push_back(readBytes(item.path()));
        CHECK(quarantined.size() == 2);
        CHECK(std::find(quarantined.begin(), quarantined.end(), first) != quarantined.end());
        CHECK(std::find(quarantined.begin(), quarantined.end(), second) != quarantined.end());
    }
}

namespace {

struct Attachment {
    std::string name;
    Bytes content;
};

std::string attachmentBegin(const Attachment& attachment, std::uint64_t declaredSize)
{
    return "{\"schema\":1,\"name\":\"" + attachment.name + "\",\"type\":\"image/jpeg\",\"size\":"
        + std::to_string(declaredSize) + ",\"uploaded_at\":\"2026-07-14T16:29:00Z\"}";
}

std::string attachmentEnd(std::uint64_t size, const std::string& sha256)
{
    return "{\"size\":" + std::to_string(size) + ",\"sha256\":\"" + sha256 + "\"}";
}

std::string sha256Hex(const Bytes& content)
{
    crypto::Sha256 hash;
    hash.update(content);
    return crypto::toHex(hash.finish());
}

// The records meldpunt-public writes for a report with attachments: the
// fields, then per file its begin record, data in pieces and end record.
std::vector<std::pair<spool::RecordType, std::string>> reportWithAttachments(
    const std::vector<Attachment>& attachments)
{
    std::vector<std::pair<spool::RecordType, std::string>> records = {
        {spool::RecordType::Fields, reportJson(reportForm("met bijlagen"))}};
    for (const auto& attachment : attachments) {
        records.emplace_back(spool::RecordType::AttachmentBegin, attachmentBegin(attachment, attachment.content.size()));
        for (std::size_t offset = 0; offset < attachment.content.size(); offset += 1000) {
            const auto end = std::min(attachment.content.size(), offset + 1000);
            records.emplace_back(spool::RecordType::AttachmentData,
                std::string(attachment.content.begin() + static_cast<std::ptrdiff_t>(offset),
                    attachment.content.begin() + static_cast<std::ptrdiff_t>(end)));
        }
        records.emplace_back(spool::RecordType::AttachmentEnd,
            attachmentEnd(attachment.content.size(), sha256Hex(attachment.content)));
    }
    return records;
}

std::vector<fs::path> filesIn(const fs::path& folder)
{
    std::vector<fs::path> files;
    for (const auto& item : fs::directory_iterator(folder))
        files.push_back(item.path());
    return files;
}

} // namespace

TEST_CASE("Ingester stores attachments under their own keys", "[ingester]")
{
    IngestBench bench;
    const fs::path attachmentsFolder = bench.scratch.path() / "attachments";
    meldpunt::storage::AttachmentStore store(attachmentsFolder);
    const std::vector<Attachment> attachments = {
        {"strand.jpg", crypto::randomBytes(5000)}, {"leeg-bijna.jpg", crypto::randomBytes(1)}};

    auto readAttachment = [&](const std::string& fileId) {
        Bytes out;
        meldpunt::storage::readStoredAttachment(*bench.database, store, fileId,
            [&](std::span<const std::uint8_t> piece) { out.insert(out.end(), piece.begin(), piece.end()); });
        return out;
    };
    auto fileIds = [&] {
        std::vector<std::string> ids;
        auto query = bench.database->prepare("SELECT file_id FROM attachments ORDER BY position");
        while (query.step())
            ids.push_back(query.columnText(0));
        return ids;
    };

    SECTION("each attachment is stored byte-identical with its metadata and SHA-256")
    {
        bench.writeEntry(reportWithAttachments(attachments));
        CHECK(bench.ingester->runOnce().ingested == 1);
        CHECK(bench.count("report_keys") == 1);
        auto query = bench.database->prepare(
            "SELECT name, media_type, size, sha256, file_id FROM attachments ORDER BY position");
        for (const auto& attachment : attachments) {
            REQUIRE(query.step());
            CHECK(query.columnText(0) == attachment.name);
            CHECK(query.columnText(1) == "image/jpeg");
            CHECK(query.columnInt(2) == static_cast<std::int64_t>(attachment.content.size()));
            CHECK(crypto::toHex(query.columnBlob(3)) == sha256Hex(attachment.content));
            CHECK(readAttachment(query.columnText(4)) == attachment.content);
        }
        CHECK_FALSE(query.step());
        CHECK(filesIn(attachmentsFolder).size() == 2);
    }
    SECTION("the stored file does not contain the plaintext")
    {
        bench.writeEntry(reportWithAttachments(attachments));
        bench.ingester->runOnce();
        const Bytes stored = readBytes(attachmentsFolder / (fileIds().at(0) + ".att"));
        const auto& content = attachments[0].content;
        CHECK(std::search(stored.begin(), stored.end(), content.begin(), content.begin() + 32) == stored.end());
    }
    SECTION("deleting the report key row makes every file unreadable")
    {
        bench.writeEntry(reportWithAttachments(attachments));
        bench.ingester->runOnce();
        const auto ids = fileIds();
        REQUIRE(ids.size() == 2);
        bench.database->exec("DELETE FROM report_keys");
        for (const auto& id : ids) {
            CHECK(fs::exists(attachmentsFolder / (id + ".att")));
            CHECK_THROWS_AS(readAttachment(id), meldpunt::chunked::IntegrityError);
        }
    }
    SECTION("a wrapped key moved to another attachment does not open it")
    {
        bench.writeEntry(reportWithAttachments(attachments));
        bench.ingester->runOnce();
        bench.database->exec("UPDATE attachments SET wrapped_key = (SELECT wrapped_key FROM attachments "
                             "WHERE position = 1) WHERE position = 0");
        CHECK_THROWS_AS(readAttachment(fileIds().at(0)), meldpunt::chunked::IntegrityError);
    }
    SECTION("an attachment whose SHA-256 does not match is quarantined with no file left")
    {
        auto records = reportWithAttachments(attachments);
        // The first attachment is whole; the second one's hash is off.
        const Bytes other = {static_cast<std::uint8_t>(attachments[1].content[0] ^ 1)};
        records.back().second = attachmentEnd(1, sha256Hex(other));
        const auto entry = bench.writeEntry(records);
        const Bytes bytes = readBytes(entry);
        bench.checkQuarantined(entry, bytes, bench.ingester->runOnce());
        CHECK(filesIn(attachmentsFolder).empty());
        CHECK(bench.count("attachments") == 0);
    }
    SECTION("an attachment longer than declared is quarantined")
    {
        auto records = reportWithAttachments({attachments[0]});
        records[1].second = attachmentBegin(attachments[0], 10);
        const auto entry = bench.writeEntry(records);
        const Bytes bytes = readBytes(entry);
        bench.checkQuarantined(entry, bytes, bench.ingester->runOnce());
        CHECK(filesIn(attachmentsFolder).empty());
    }
    SECTION("an attachment without its end record is quarantined")
    {
        auto records = reportWithAttachments({attachments[0]});
        records.pop_back();
        const auto entry = bench.writeEntry(records);
        const Bytes bytes = readBytes(entry);
        bench.checkQuarantined(entry, bytes, bench.ingester->runOnce());
        CHECK(filesIn(attachmentsFolder).empty());
    }
    SECTION("attachment data outside an attachment is quarantined")
    {
        const auto entry = bench.writeEntry({{spool::RecordType::Fields, reportJson(reportForm("x"))},
            {spool::RecordType::AttachmentData, "loose bytes"}});
        const Bytes bytes = readBytes(entry);
        bench.checkQuarantined(entry, bytes, bench.ingester->runOnce());
    }
    SECTION("files that no row names are removed when an ingester starts, named ones stay")
    {
        bench.writeEntry(reportWithAttachments({attachments[0]}));
        bench.ingester->runOnce();
        const std::string kept = fileIds().at(0);
        auto orphan = store.create();
        orphan->write(attachments[1].content);
        orphan->finish();
        const fs::path orphanPath = attachmentsFolder / (orphan->fileId() + ".att");
        REQUIRE(fs::exists(orphanPath));
        bench.ingester.emplace(*bench.database, bench.databaseMutex, bench.spoolFolder, bench.quarantineFolder);
        CHECK_FALSE(fs::exists(orphanPath));
        CHECK(readAttachment(kept) == attachments[0].content);
    }
}

namespace {

// Writes `content` as piece `position` of entry `uuid`, the way
// meldpunt-public hands a held file over, and returns the begin record
// that names the piece and carries its key.
std::string writePiece(const fs::path& spoolFolder, const Uuid& uuid, std::size_t position, const Attachment& attachment)
{
    const auto id = crypto::randomBytes(16);
    const auto key = crypto::randomBytes(crypto::kAes256KeySize);
    spool::PieceHeader header;
    std::copy(id.begin(), id.end(), header.id.begin());
    header.chunkSize = spool::kMinChunkSize;
    meldpunt::chunked::Writer writer(spool::piecePath(spoolFolder, uuid, position), header.serialize(), key, 0640,
        header.chunkSize);
    writer.write(attachment.content);
    writer.finish();
    const std::string begin = attachmentBegin(attachment, attachment.content.size());
    return begin.substr(0, begin.size() - 1) + ",\"piece\":" + std::to_string(position) + ",\"piece_id\":\""
        + crypto::toHex(id) + "\",\"piece_key\":\"" + crypto::toHex(key) + "\"}";
}

// A report whose attachments lie beside it as pieces; the end records
// carry the size alone, as meldpunt-public writes them.
std::vector<std::pair<spool::RecordType, std::string>> reportWithPieces(const fs::path& spoolFolder, const Uuid& uuid,
    const std::vector<Attachment>& attachments)
{
    std::vector<std::pair<spool::RecordType, std::string>> records = {
        {spool::RecordType::Fields, reportJson(reportForm("met stukken"))}};
    for (std::size_t position = 0; position < attachments.size(); ++position) {
        records.emplace_back(spool::RecordType::AttachmentBegin, writePiece(spoolFolder, uuid, position, attachments[position]));
        records.emplace_back(spool::RecordType::AttachmentEnd,
            "{\"size\":" + std::to_string(attachments[position].content.size()) + "}");
    }
    return records;
}

} // namespace

TEST_CASE("Ingester reads attachment pieces", "[ingester]")
{
    IngestBench bench;
    const fs::path attachmentsFolder = bench.scratch.path() / "attachments";
    const std::vector<Attachment> attachments = {
        {"strand.jpg", crypto::randomBytes(5000)}, {"kaart.jpg", crypto::randomBytes(3 * spool::kMinChunkSize)}};
    const Uuid uuid = Uuid::generate();
    auto records = reportWithPieces(bench.spoolFolder, uuid, attachments);
    const fs::path piece0 = spool::piecePath(bench.spoolFolder, uuid, 0);
    const fs::path piece1 = spool::piecePath(bench.spoolFolder, uuid, 1);

    // The entry, both pieces and nothing else went to quarantine.
    auto checkQuarantinedWithPieces = [&](const fs::path& entry) {
        const Bytes bytes = readBytes(entry);
        const Bytes pieceBytes = readBytes(piece1);
        bench.checkQuarantined(entry, bytes, bench.ingester->runOnce());
        CHECK_FALSE(fs::exists(piece1));
        CHECK(readBytes(bench.quarantineFolder / piece1.filename()) == pieceBytes);
        CHECK(filesIn(attachmentsFolder).empty());
        CHECK(bench.count("attachments") == 0);
    };

    SECTION("each piece is stored byte-identical, hashed here, and goes with its entry")
    {
        bench.writeEntry(records, spool::EntryKind::Report, uuid);
        CHECK(bench.ingester->runOnce().ingested == 1);
        meldpunt::storage::AttachmentStore store(attachmentsFolder);
        auto query = bench.database->prepare("SELECT name, size, sha256, file_id FROM attachments ORDER BY position");
        for (const auto& attachment : attachments) {
            REQUIRE(query.step());
            CHECK(query.columnText(0) == attachment.name);
            CHECK(query.columnInt(1) == static_cast<std::int64_t>(attachment.content.size()));
            CHECK(crypto::toHex(query.columnBlob(2)) == sha256Hex(attachment.content));
            Bytes stored;
            meldpunt::storage::readStoredAttachment(*bench.database, store, query.columnText(3),
                [&](std::span<const std::uint8_t> bytes) { stored.insert(stored.end(), bytes.begin(), bytes.end()); });
            CHECK(stored == attachment.content);
        }
        CHECK_FALSE(query.step());
        CHECK(filesIn(bench.spoolFolder).empty());
    }
    SECTION("an entry stored before loses its pieces with it")
    {
        const auto entry = bench.writeEntry(records, spool::EntryKind::Report, uuid);
        const Bytes bytes = readBytes(entry);
        const Bytes piece0Bytes = readBytes(piece0);
        const Bytes piece1Bytes = readBytes(piece1);
        CHECK(bench.ingester->runOnce().ingested == 1);
        // The same entry and pieces again, as after a crash before the
        // files were removed.
        writeBytes(entry, bytes);
        writeBytes(piece0, piece0Bytes);
        writeBytes(piece1, piece1Bytes);
        CHECK(bench.ingester->runOnce().duplicates == 1);
        CHECK(filesIn(bench.spoolFolder).empty());
        CHECK(bench.count("attachments") == 2);
    }
    SECTION("a missing piece sends the entry and the other pieces to quarantine")
    {
        fs::remove(piece0);
        checkQuarantinedWithPieces(bench.writeEntry(records, spool::EntryKind::Report, uuid));
    }
    SECTION("pieces swapped between two attachments are detected")
    {
        const Bytes first = readBytes(piece0);
        writeBytes(piece0, readBytes(piece1));
        writeBytes(piece1, first);
        checkQuarantinedWithPieces(bench.writeEntry(records, spool::EntryKind::Report, uuid));
    }
    SECTION("a flipped byte in a piece is detected")
    {
        Bytes bytes = readBytes(piece1);
        bytes[spool::PieceHeader::kSize + 5] ^= 0x04;
        writeBytes(piece1, bytes);
        checkQuarantinedWithPieces(bench.writeEntry(records, spool::EntryKind::Report, uuid));
    }
    SECTION("a piece cut short is detected")
    {
        Bytes bytes = readBytes(piece1);
        bytes.resize(spool::PieceHeader::kSize + spool::kMinChunkSize + crypto::kGcmTagSize);
        writeBytes(piece1, bytes);
        checkQuarantinedWithPieces(bench.writeEntry(records, spool::EntryKind::Report, uuid));
    }
    SECTION("a wrong piece key is detected")
    {
        const std::string key = records[1].second.substr(records[1].second.find("piece_key") + 12, 64);
        records[1].second.replace(records[1].second.find(key), key.size(), std::string(64, 'a'));
        checkQuarantinedWithPieces(bench.writeEntry(records, spool::EntryKind::Report, uuid));
    }
    SECTION("a piece out of order is rejected")
    {
        std::swap(records[1], records[3]);
        std::swap(records[2], records[4]);
        checkQuarantinedWithPieces(bench.writeEntry(records, spool::EntryKind::Report, uuid));
    }
    SECTION("data records beside a piece are rejected")
    {
        records.insert(records.begin() + 2, {spool::RecordType::AttachmentData, "extra"});
        checkQuarantinedWithPieces(bench.writeEntry(records, spool::EntryKind::Report, uuid));
    }
    SECTION("a piece over the declared size is rejected")
    {
        records[1].second.replace(records[1].second.find("\"size\":5000"), 11, "\"size\":4999");
        checkQuarantinedWithPieces(bench.writeEntry(records, spool::EntryKind::Report, uuid));
    }
}
