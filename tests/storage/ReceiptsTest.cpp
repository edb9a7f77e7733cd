#include "Receipts.h"

#include "Ingester.h"
#include "IntakeKeys.h"
#include "Migrations.h"
#include "Process.h"

#include "ReceiptSecret.h"
#include "ReportForm.h"
#include "SealedBox.h"
#include "Spool.h"
#include "Uuid.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <catch2/catch_test_macros.hpp>

#include <mutex>
#include <optional>

using meldpunt::FormData;
using meldpunt::ReporterCode;
using meldpunt::Uuid;
using meldpunt::storage::Database;
using meldpunt::storage::OpenMode;
using meldpunt::test::readFile;
using meldpunt::test::ScratchFolder;

namespace crypto = meldpunt::crypto;
namespace spool = meldpunt::spool;
namespace storage = meldpunt::storage;
namespace fs = std::filesystem;

namespace {

const meldpunt::ReceiptHashCost kTestCost{1, 1024, 1};

// A migrated database, a spool and a publish folder, with an ingester.
struct ReceiptBench {
    ScratchFolder scratch{"receipts"};
    fs::path spoolFolder = scratch.path() / "spool";
    fs::path publishFolder = scratch.path() / "publish";
    std::optional<Database> database;
    std::mutex databaseMutex;
    spool::IntakePublicKey intakeKey;
    std::optional<storage::Ingester> ingester;

    ReceiptBench()
    {
        fs::create_directories(spoolFolder / "quarantine");
        fs::create_directory(publishFolder);
        database.emplace(scratch.path() / "meldpunt.db", crypto::randomBytes(32), OpenMode::CreateNew);
        storage::migrate(*database);
        intakeKey = storage::IntakeKeys(*database).ensureCurrent("2026-01-01T00:00:00Z");
        ingester.emplace(*database, databaseMutex, spoolFolder, spoolFolder / "quarantine", kTestCost);
    }

    void writeEntry(spool::EntryKind kind, const std::string& json)
    {
        spool::Writer writer(spoolFolder, kind, Uuid::generate(), intakeKey);
        writer.writeRecord(spool::RecordType::Fields, crypto::asBytes(json));
        writer.commit();
    }

    // Sends a report with a receipt and returns its reference.
    std::string report(const meldpunt::ReceiptKeys& keys)
    {
        FormData form;
        form.add("what", "Een man met een kind in het hotel");
        form.add("country", "NL");
        form.add("category", "travel_tourism");
        form.add("contact", "contact");
        form.add("email", "melder@example.org");
        form.add("consent", "yes");
        std::string json = meldpunt::ReportForm::toJson(form, "nl", "2026-07-14T16:30:00Z");
        json.insert(json.size() - 1, ",\"receipt\":{\"hash\":\"" + keys.verifier.hash + "\",\"public_key\":\""
                + crypto::toBase64(keys.verifier.publicKey) + "\"}");
        spool::Writer writer(spoolFolder, spool::EntryKind::Report, Uuid::generate(), intakeKey);
        writer.writeRecord(spool::RecordType::Fields, crypto::asBytes(json));
        const auto path = writer.commit();
        REQUIRE(ingester->runOnce().ingested == 1);
        const auto uuid = Uuid::parse(path.stem().string());
        REQUIRE(uuid);
        return meldpunt::referenceFromUuid(*uuid);
    }

    // Writes a report entry as meldpunt-public does: the fields, then the
    // receipt secret's bytes in their own record. `records` replaces that
    // order when a test needs a damaged entry.
    fs::path reportWithSecret(const std::vector<std::pair<spool::RecordType, std::vector<std::uint8_t>>>& records)
    {
        spool::Writer writer(spoolFolder, spool::EntryKind::Report, Uuid::generate(), intakeKey);
        for (const auto& [type, payload] : records)
            writer.writeRecord(type, payload);
        return writer.commit();
    }

    std::int64_t count(const std::string& table)
    {
        auto query = database->prepare("SELECT count(*) FROM " + table);
        REQUIRE(query.step());
        return query.columnInt(0);
    }

    std::string column(const std::string& sql, const std::string& reference)
    {
        auto query = database->prepare(sql);
        query.bind(1, reference);
        REQUIRE(query.step());
        return query.columnIsNull(0) ? "(null)" : query.columnText(0);
    }

    Poco::JSON::Object::Ptr published(const std::string& reference)
    {
        const auto uuid = meldpunt::uuidFromReference(reference);
        const fs::path file = publishFolder / "receipts" / (uuid->toString() + ".json");
        REQUIRE(fs::exists(file));
        Poco::JSON::Parser parser;
        return parser.parse(readFile(file)).extract<Poco::JSON::Object::Ptr>();
    }
};

std::string reporterEntry(const std::string& reference, const std::string& message = {})
{
    Poco::JSON::Object root;
    root.set("schema", 1);
    root.set("reference", reference);
    root.set("received_at", "2026-07-15T10:00:00Z");
    root.set("language", "nl");
    root.set("message", message);
    std::ostringstream out;
    root.stringify(out);
    return out.str();
}

std::vector<std::uint8_t> reportFields(const std::string& receiptJson = {})
{
    FormData form;
    form.add("what", "Een man met een kind in het hotel");
    form.add("country", "NL");
    form.add("category", "travel_tourism");
    form.add("contact", "anonymous");
    form.add("consent", "yes");
    std::string json = meldpunt::ReportForm::toJson(form, "nl", "2026-07-14T16:30:00Z");
    if (!receiptJson.empty())
        json.insert(json.size() - 1, ",\"receipt\":" + receiptJson);
    return {json.begin(), json.end()};
}

std::vector<std::uint8_t> secretBytes(const ReporterCode& secret)
{
    return {secret.bytes().begin(), secret.bytes().end()};
}

} // namespace

TEST_CASE("Receipt secrets are hashed at ingestion", "[core]")
{
    ReceiptBench bench;
    const auto secret = ReporterCode::generate(ReporterCode::Kind::Receipt);
    using Type = spool::RecordType;

    SECTION("the stored hash opens with the secret and gives the stored public key")
    {
        const auto path = bench.reportWithSecret({{Type::Fields, reportFields()}, {Type::ReceiptSecret, secretBytes(secret)}});
        REQUIRE(bench.ingester->runOnce().ingested == 1);
        const std::string reference = meldpunt::referenceFromUuid(*Uuid::parse(path.stem().string()));
        const std::string hash = bench.column(
            "SELECT secret_hash FROM receipts JOIN reports ON id = report_id WHERE reference = ?", reference);
        CHECK(hash.starts_with("$meldpunt-receipt$argon2id$v=19$m=1024,t=1,p=1$"));
        const auto opened = meldpunt::openReceipt(secret, hash);
        REQUIRE(opened);
        auto key = bench.database->prepare(
            "SELECT public_key FROM receipts JOIN reports ON id = report_id WHERE reference = ?");
        key.bind(1, reference);
        REQUIRE(key.step());
        const auto stored = key.columnBlob(0);
        CHECK(std::vector<std::uint8_t>(stored.begin(), stored.end())
            == std::vector<std::uint8_t>(opened->publicKey.begin(), opened->publicKey.end()));
        const auto other = ReporterCode::generate(ReporterCode::Kind::Receipt);
        CHECK_FALSE(meldpunt::openReceipt(other, hash));
    }
    SECTION("a report of the earlier format, with the hash in its fields, is still stored")
    {
        const auto keys = meldpunt::deriveReceiptKeys(secret, kTestCost);
        const std::string receipt = "{\"hash\":\"" + keys.verifier.hash + "\",\"public_key\":\""
            + crypto::toBase64(keys.verifier.publicKey) + "\"}";
        bench.reportWithSecret({{Type::Fields, reportFields(receipt)}});
        REQUIRE(bench.ingester->runOnce().ingested == 1);
        CHECK(bench.count("receipts") == 1);
    }
    SECTION("damaged receipt secret records are quarantined")
    {
        const auto keys = meldpunt::deriveReceiptKeys(secret, kTestCost);
        const std::string receipt = "{\"hash\":\"" + keys.verifier.hash + "\",\"public_key\":\""
            + crypto::toBase64(keys.verifier.publicKey) + "\"}";
        auto shortSecret = secretBytes(secret);
        shortSecret.pop_back();
        bench.reportWithSecret({{Type::Fields, reportFields()}, {Type::ReceiptSecret, shortSecret}});
        bench.reportWithSecret({{Type::Fields, reportFields(receipt)}, {Type::ReceiptSecret, secretBytes(secret)}});
        bench.reportWithSecret({{Type::ReceiptSecret, secretBytes(secret)}, {Type::Fields, reportFields()}});
        bench.reportWithSecret({{Type::Fields, reportFields()}, {Type::ReceiptSecret, secretBytes(secret)},
            {Type::ReceiptSecret, secretBytes(secret)}});
        const auto counts = bench.ingester->runOnce();
        CHECK(counts.quarantined == 4);
        CHECK(counts.ingested == 0);
        CHECK(bench.count("reports") == 0);
        CHECK(bench.count("receipts") == 0);
    }
}

TEST_CASE("Receipts are stored and published", "[core]")
{
    ReceiptBench bench;
    const auto secret = ReporterCode::generate(ReporterCode::Kind::Receipt);
    const auto keys = meldpunt::deriveReceiptKeys(secret, kTestCost);
    const std::string reference = bench.report(keys);

    SECTION("the receipt keeps the hash and the public key, never the secret")
    {
        CHECK(bench.column("SELECT secret_hash FROM receipts JOIN reports ON id = report_id WHERE reference = ?",
                  reference)
            == keys.verifier.hash);
        CHECK(readFile(bench.database->path()).find(secret.toString()) == std::string::npos);
    }
    SECTION("the published file has the hash and can be withdrawn")
    {
        CHECK(storage::publishReceipts(*bench.database, bench.publishFolder) == 1);
        const auto file = bench.published(reference);
        CHECK(file->getValue<std::string>("hash") == keys.verifier.hash);
        CHECK(file->getValue<std::string>("state") == "new");
        CHECK(file->getValue<bool>("can_withdraw"));
        CHECK(file->getArray("replies")->size() == 0);
        CHECK(storage::publishReceipts(*bench.database, bench.publishFolder) == 0);
    }
    SECTION("a staff message is published for the reporter's key only")
    {
        const auto id = storage::addStaffMessage(*bench.database, reference, "In welk hotel was dit?", "t");
        CHECK(storage::publishReceipts(*bench.database, bench.publishFolder) == 1);
        const auto replies = bench.published(reference)->getArray("replies");
        REQUIRE(replies->size() == 1);
        const auto box = crypto::fromBase64(replies->getObject(0)->getValue<std::string>("sealed"));
        const std::string context = "meldpunt reply " + reference + " " + std::to_string(id);
        const auto opened = meldpunt::openReceipt(secret, keys.verifier.hash);
        REQUIRE(opened);
        CHECK(crypto::openSealedBox(*opened, context, box) == "In welk hotel was dit?");
        CHECK_FALSE(crypto::openSealedBox(crypto::X25519KeyPair::generate(), context, box));
        CHECK_FALSE(crypto::openSealedBox(*opened, context + "1", box));
        auto flipped = box;
        flipped[40] ^= 0x01;
        CHECK_FALSE(crypto::openSealedBox(*opened, context, flipped));
    }
    SECTION("a staff message for an unknown reference is refused")
    {
        CHECK_THROWS_AS(storage::addStaffMessage(*bench.database, "00000-00000-00000-00000-00000", "x", "t"),
            storage::NoReceiptError);
    }
    SECTION("a follow-up is stored as the reporter's message")
    {
        bench.writeEntry(spool::EntryKind::FollowUp, reporterEntry(reference, "Het was hotel Zonneschijn"));
        CHECK(bench.ingester->runOnce().ingested == 1);
        CHECK(bench.column("SELECT body FROM reporter_messages m JOIN reports r ON r.id = m.report_id "
                           "WHERE r.reference = ? AND direction = 'from_reporter'",
                  reference)
            == "Het was hotel Zonneschijn");
    }
    SECTION("a withdrawal deletes the content and keeps the statistics")
    {
        storage::addStaffMessage(*bench.database, reference, "Vraag", "t");
        bench.writeEntry(spool::EntryKind::Withdrawal, reporterEntry(reference));
        CHECK(bench.ingester->runOnce().ingested == 1);
        CHECK(bench.column("SELECT what FROM reports WHERE reference = ?", reference).empty());
        CHECK(bench.column("SELECT contact_email FROM reports WHERE reference = ?", reference) == "(null)");
        CHECK(bench.column("SELECT category FROM reports WHERE reference = ?", reference) == "travel_tourism");
        CHECK(bench.column("SELECT country FROM reports WHERE reference = ?", reference) == "NL");
        CHECK(bench.column("SELECT count(*) FROM reporter_messages m JOIN reports r ON r.id = m.report_id "
                           "WHERE r.reference = ?",
                  reference)
            == "0");
        storage::publishReceipts(*bench.database, bench.publishFolder);
        const auto file = bench.published(reference);
        CHECK(file->getValue<std::string>("state") == "withdrawn");
        CHECK_FALSE(file->getValue<bool>("can_withdraw"));
        CHECK_THROWS_AS(storage::addStaffMessage(*bench.database, reference, "x", "t"), storage::NoReceiptError);
    }
    SECTION("a referred report is not withdrawn")
    {
        bench.database->prepare("UPDATE reports SET status = 'referred' WHERE reference = ?").bind(1, reference).run();
        bench.writeEntry(spool::EntryKind::Withdrawal, reporterEntry(reference));
        CHECK(bench.ingester->runOnce().ingested == 1);
        CHECK(bench.column("SELECT what FROM reports WHERE reference = ?", reference) == "Een man met een kind in het hotel");
        storage::publishReceipts(*bench.database, bench.publishFolder);
        CHECK_FALSE(bench.published(reference)->getValue<bool>("can_withdraw"));
    }
}
