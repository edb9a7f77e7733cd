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

    SECTION("A report with an attachment record is quarantined")
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
