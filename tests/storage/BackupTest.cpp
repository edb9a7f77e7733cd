#include "Backup.h"
#include "Process.h"

#include "Crypto.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

using meldpunt::SecretBytes;
using meldpunt::storage::BackupError;
using meldpunt::storage::BackupInfo;
using meldpunt::storage::createBackup;
using meldpunt::storage::Database;
using meldpunt::storage::DatabaseError;
using meldpunt::storage::kBackupChunkSize;
using meldpunt::storage::kBackupHeaderSize;
using meldpunt::storage::OpenMode;
using meldpunt::storage::restoreBackup;
using meldpunt::test::readFile;
using meldpunt::test::ScratchFolder;
using Catch::Matchers::ContainsSubstring;

namespace crypto = meldpunt::crypto;
namespace fs = std::filesystem;

namespace {

const std::string kMarker = "MARKER-only-inside-the-database-7f3a";

struct Fixture {
    ScratchFolder root;
    fs::path database;
    fs::path scratch;
    fs::path backup;
    fs::path restored;
    SecretBytes dataKey = SecretBytes::random(32);
    SecretBytes newKey = SecretBytes::random(32);
    crypto::X25519KeyPair recovery = crypto::X25519KeyPair::generate();

    explicit Fixture(const std::string& name)
        : root(name)
        , database(root.path() / "meldpunt.db")
        , scratch(root.path() / "scratch")
        , backup(root.path() / "backups" / "meldpunt.backup")
        , restored(root.path() / "restored" / "meldpunt.db")
    {
        fs::create_directories(scratch);
        fs::create_directories(backup.parent_path());
        fs::create_directories(restored.parent_path());
    }
};

void createNotes(Database& database, int rows, std::size_t payloadSize)
{
    database.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL, payload BLOB)");
    database.exec("CREATE TABLE pairs (id INTEGER PRIMARY KEY, side TEXT NOT NULL)");
    database.exec("PRAGMA user_version = 6");
    database.transaction([&] {
        for (int i = 0; i < rows; ++i)
            database.prepare("INSERT INTO notes (text, payload) VALUES (?, ?)")
                .bind(1, kMarker + " " + std::to_string(i))
                .bind(2, crypto::randomBytes(payloadSize))
                .run();
    });
}

std::string dump(Database& database)
{
    auto version = database.prepare("PRAGMA user_version");
    version.step();
    std::string text = "schema version " + std::to_string(version.columnInt(0)) + "\n";
    auto notes = database.prepare("SELECT id, text, hex(payload) FROM notes ORDER BY id");
    while (notes.step())
        text += std::to_string(notes.columnInt(0)) + "|" + notes.columnText(1) + "|" + notes.columnText(2) + "\n";
    auto pairs = database.prepare("SELECT id, side FROM pairs ORDER BY id");
    while (pairs.step())
        text += std::to_string(pairs.columnInt(0)) + "|" + pairs.columnText(1) + "\n";
    return text;
}

bool opensWith(const fs::path& path, const SecretBytes& key)
{
    try {
        Database database(path, key.span(), OpenMode::MustExist);
        database.exec("SELECT count(*) FROM notes");
        return true;
    } catch (const DatabaseError&) {
        return false;
    }
}

std::vector<std::string> filesIn(const fs::path& folder)
{
    std::vector<std::string> names;
    for (const auto& item : fs::directory_iterator(folder))
        names.push_back(item.path().filename().string());
    return names;
}

void writeBytes(const fs::path& path, const std::string& bytes)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Restores a changed copy of the backup and expects a rejection whose
// message contains `reason`, with nothing restored and nothing left over.
void expectRejected(Fixture& fixture, const std::string& content, const std::string& reason,
    std::span<const std::uint8_t> privateKey)
{
    const fs::path changed = fixture.root.path() / "changed.backup";
    writeBytes(changed, content);
    CHECK_THROWS_WITH(restoreBackup(changed, privateKey, fixture.scratch, fixture.restored, fixture.newKey),
        ContainsSubstring(reason));
    CHECK_FALSE(fs::exists(fixture.restored));
    CHECK(filesIn(fixture.restored.parent_path()).empty());
    CHECK(filesIn(fixture.scratch).empty());
}

long peakResidentKiB()
{
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0)
            return std::stol(line.substr(6));
    return -1;
}

// Writing 5 to clear_refs resets the peak to the current resident size,
// so that building the test database does not count. Where the kernel
// refuses, the peak of the whole test is measured, which only loosens it.
void resetPeakResident()
{
    std::ofstream("/proc/self/clear_refs") << "5";
}

} // namespace

TEST_CASE("Backup round trip keeps every row", "[backup]")
{
    Fixture fixture("backup-roundtrip");
    std::string rows;
    BackupInfo created;
    {
        Database database(fixture.database, fixture.dataKey.span(), OpenMode::CreateNew);
        createNotes(database, 300, 700);
        database.exec("INSERT INTO pairs (side) VALUES ('left'), ('right')");
        rows = dump(database);
        created = createBackup(database, "db-1234", fixture.recovery.publicKey, fixture.scratch, fixture.backup);
    }
    CHECK(created.databaseId == "db-1234");
    CHECK(created.schemaVersion == 6);
    CHECK(created.createdAt.size() == 20);
    REQUIRE(created.files.size() == 1);
    CHECK(created.files[0].first == "meldpunt.db");
    CHECK(filesIn(fixture.scratch).empty());
    CHECK(filesIn(fixture.backup.parent_path()) == std::vector<std::string>{"meldpunt.backup"});
    CHECK(readFile(fixture.backup).find(kMarker) == std::string::npos);
    CHECK(readFile(fixture.backup).find("meldpunt-backup") == std::string::npos);

    const BackupInfo restored = restoreBackup(fixture.backup, fixture.recovery.privateKey.span(), fixture.scratch,
        fixture.restored, fixture.newKey);
    CHECK(restored.databaseId == created.databaseId);
    CHECK(restored.createdAt == created.createdAt);
    CHECK(restored.files == created.files);
    CHECK(filesIn(fixture.scratch).empty());
    CHECK(filesIn(fixture.restored.parent_path()) == std::vector<std::string>{"meldpunt.db"});
    CHECK(readFile(fixture.restored).find(kMarker) == std::string::npos);
    CHECK_FALSE(opensWith(fixture.restored, fixture.dataKey));
    REQUIRE(opensWith(fixture.restored, fixture.newKey));
    Database reopened(fixture.restored, fixture.newKey.span(), OpenMode::MustExist);
    CHECK(dump(reopened) == rows);

    SECTION("A restore never overwrites a database")
    {
        CHECK_THROWS_AS(restoreBackup(fixture.backup, fixture.recovery.privateKey.span(), fixture.scratch,
                            fixture.restored, fixture.dataKey),
            std::invalid_argument);
        CHECK(dump(reopened) == rows);
    }
}

TEST_CASE("Damaged backup is rejected cleanly", "[backup]")
{
    Fixture fixture("backup-damage");
    {
        Database database(fixture.database, fixture.dataKey.span(), OpenMode::CreateNew);
        // Enough rows for several chunks, so that chunks can be reordered.
        createNotes(database, 400, 1000);
        createBackup(database, "db-1", fixture.recovery.publicKey, fixture.scratch, fixture.backup);
    }
    const std::string original = readFile(fixture.backup);
    const std::size_t sealedChunk = kBackupChunkSize + crypto::kGcmTagSize;
    REQUIRE(original.size() > kBackupHeaderSize + 3 * sealedChunk);
    const auto privateKey = fixture.recovery.privateKey.span();

    SECTION("A flipped byte anywhere")
    {
        for (const std::size_t at : {std::size_t{0}, std::size_t{9}, std::size_t{13}, std::size_t{20},
                 std::size_t{40}, kBackupHeaderSize, kBackupHeaderSize + 5, kBackupHeaderSize + sealedChunk - 1,
                 original.size() / 2, original.size() - 17, original.size() - 1}) {
            CAPTURE(at);
            std::string changed = original;
            changed[at] = static_cast<char>(changed[at] ^ 0x01);
            expectRejected(fixture, changed, "", privateKey);
        }
    }
    SECTION("A truncated file")
    {
        for (const std::size_t size : {std::size_t{0}, std::size_t{30}, kBackupHeaderSize,
                 kBackupHeaderSize + sealedChunk, kBackupHeaderSize + 2 * sealedChunk, original.size() / 2,
                 original.size() - 1}) {
            CAPTURE(size);
            expectRejected(fixture, original.substr(0, size), "truncated", privateKey);
        }
    }
    SECTION("Two chunks swapped")
    {
        std::string changed = original;
        const std::size_t first = kBackupHeaderSize + sealedChunk;
        changed.replace(first, sealedChunk, original, first + sealedChunk, sealedChunk);
        changed.replace(first + sealedChunk, sealedChunk, original, first, sealedChunk);
        expectRejected(fixture, changed, "damaged: chunk 1", privateKey);
    }
    SECTION("A chunk appended after the final one")
    {
        expectRejected(fixture, original + original.substr(kBackupHeaderSize, sealedChunk), "damaged", privateKey);
    }
    SECTION("Another recovery key")
    {
        const auto other = crypto::X25519KeyPair::generate();
        expectRejected(fixture, original, "wrong key", other.privateKey.span());
    }
    SECTION("Another file or another format version")
    {
        expectRejected(fixture, "SQLite format 3" + original.substr(15), "unknown format", privateKey);
        std::string later = original;
        later[9] = 2;
        expectRejected(fixture, later, "unknown format", privateKey);
    }
}

TEST_CASE("Backup during writes is consistent", "[backup]")
{
    Fixture fixture("backup-concurrent");
    {
        Database database(fixture.database, fixture.dataKey.span(), OpenMode::CreateNew);
        createNotes(database, 2000, 1000);
    }
    // The writer adds a left and a right row in each transaction; a
    // consistent snapshot contains as many of one as of the other.
    std::atomic<bool> stop = false;
    std::atomic<int> written = 0;
    std::string writerError;
    std::thread writer([&] {
        try {
            Database database(fixture.database, fixture.dataKey.span(), OpenMode::MustExist);
            for (int i = 0; i < 100000 && !stop; ++i) {
                database.transaction([&] {
                    database.exec("INSERT INTO pairs (side) VALUES ('left')");
                    database.exec("INSERT INTO pairs (side) VALUES ('right')");
                });
                ++written;
            }
        } catch (const std::exception& error) {
            writerError = error.what();
        }
    });
    const bool started = meldpunt::test::waitFor([&] { return written > 10; }, std::chrono::seconds(10));
    const int writtenBefore = written;
    {
        Database database(fixture.database, fixture.dataKey.span(), OpenMode::MustExist);
        CHECK_NOTHROW(createBackup(database, "db-1", fixture.recovery.publicKey, fixture.scratch, fixture.backup));
    }
    const int writtenDuring = written - writtenBefore;
    stop = true;
    writer.join();
    CHECK(started);
    CHECK(writerError.empty());
    CHECK(writtenDuring > 0);

    restoreBackup(fixture.backup, fixture.recovery.privateKey.span(), fixture.scratch, fixture.restored,
        fixture.newKey);
    Database restored(fixture.restored, fixture.newKey.span(), OpenMode::MustExist);
    auto check = restored.prepare("PRAGMA integrity_check");
    REQUIRE(check.step());
    CHECK(check.columnText(0) == "ok");
    auto sides = restored.prepare("SELECT (SELECT count(*) FROM pairs WHERE side = 'left'),"
                                  " (SELECT count(*) FROM pairs WHERE side = 'right'), (SELECT count(*) FROM notes)");
    REQUIRE(sides.step());
    CHECK(sides.columnInt(0) > 0);
    CHECK(sides.columnInt(0) == sides.columnInt(1));
    CHECK(sides.columnInt(2) == 2000);
}

TEST_CASE("Large backup uses bounded memory", "[backup]")
{
#if defined(__SANITIZE_ADDRESS__)
    SKIP("AddressSanitizer keeps freed memory in quarantine, so the peak it shows is not the program's own");
#endif
    Fixture fixture("backup-large");
    {
        Database database(fixture.database, fixture.dataKey.span(), OpenMode::CreateNew);
        // About 50 MB of incompressible rows.
        createNotes(database, 800, 64 * 1024);
    }
    REQUIRE(fs::file_size(fixture.database) > 50'000'000);

    // A guard, not a measurement: the stream holds one chunk and one record
    // at a time and SQLite its page caches, so 64 MiB of growth would mean
    // that a whole file is being buffered somewhere.
    constexpr long kLimitKiB = 64 * 1024;
    {
        Database database(fixture.database, fixture.dataKey.span(), OpenMode::MustExist);
        resetPeakResident();
        const long before = peakResidentKiB();
        createBackup(database, "db-large", fixture.recovery.publicKey, fixture.scratch, fixture.backup);
        const long growth = peakResidentKiB() - before;
        CAPTURE(before, growth);
        CHECK(growth < kLimitKiB);
    }
    CHECK(fs::file_size(fixture.backup) > 50'000'000);

    resetPeakResident();
    const long before = peakResidentKiB();
    restoreBackup(fixture.backup, fixture.recovery.privateKey.span(), fixture.scratch, fixture.restored,
        fixture.newKey);
    const long growth = peakResidentKiB() - before;
    CAPTURE(before, growth);
    CHECK(growth < kLimitKiB);
    CHECK(filesIn(fixture.scratch).empty());
    Database restored(fixture.restored, fixture.newKey.span(), OpenMode::MustExist);
    auto count = restored.prepare("SELECT count(*), sum(length(payload)) FROM notes");
    REQUIRE(count.step());
    CHECK(count.columnInt(0) == 800);
    CHECK(count.columnInt(1) == 800 * 64 * 1024);
}
