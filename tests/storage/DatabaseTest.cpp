#include "Database.h"
#include "Process.h"

#include "Crypto.h"

#include <catch2/catch_test_macros.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using meldpunt::storage::Database;
using meldpunt::storage::DatabaseError;
using meldpunt::storage::OpenMode;
using meldpunt::test::readFile;
using meldpunt::test::ScratchFolder;

namespace crypto = meldpunt::crypto;
namespace fs = std::filesystem;

namespace {

std::int64_t countRows(Database& database, const std::string& table)
{
    auto statement = database.prepare("SELECT count(*) FROM " + table);
    REQUIRE(statement.step());
    return statement.columnInt(0);
}

} // namespace

TEST_CASE("Databases open with their key", "[database]")
{
    ScratchFolder scratch("database-key");
    const fs::path path = scratch.path() / "meldpunt.db";
    const auto key = crypto::randomBytes(32);

    SECTION("A new database reopens with the same key")
    {
        {
            Database database(path, key, OpenMode::CreateNew);
            database.exec("CREATE TABLE notes (text TEXT NOT NULL)");
            database.prepare("INSERT INTO notes (text) VALUES (?)").bind(1, std::string("kept")).run();
        }
        REQUIRE(fs::exists(path));
        Database reopened(path, key, OpenMode::MustExist);
        auto query = reopened.prepare("SELECT text FROM notes");
        REQUIRE(query.step());
        CHECK(query.columnText(0) == "kept");
        CHECK_FALSE(query.step());
    }

    SECTION("A wrong key is WrongKey and leaves the file byte-identical")
    {
        {
            Database database(path, key, OpenMode::CreateNew);
            database.exec("CREATE TABLE notes (text TEXT)");
            database.exec("INSERT INTO notes VALUES ('one')");
        }
        const std::string before = readFile(path);
        REQUIRE_FALSE(before.empty());
        auto wrong = key;
        wrong[0] ^= 0x01;
        try {
            Database database(path, wrong, OpenMode::MustExist);
            FAIL("a wrong key opened the database");
        } catch (const DatabaseError& error) {
            CHECK(error.kind() == DatabaseError::Kind::WrongKey);
        }
        CHECK(readFile(path) == before);
        Database reopened(path, key, OpenMode::MustExist);
        CHECK(countRows(reopened, "notes") == 1);
    }

    SECTION("CreateNew on an existing file is rejected and the file untouched")
    {
        {
            Database database(path, key, OpenMode::CreateNew);
            database.exec("CREATE TABLE notes (text TEXT)");
        }
        const std::string before = readFile(path);
        CHECK_THROWS_AS(Database(path, crypto::randomBytes(32), OpenMode::CreateNew), DatabaseError);
        CHECK_THROWS_AS(Database(path, key, OpenMode::CreateNew), DatabaseError);
        CHECK(readFile(path) == before);
    }

    SECTION("MustExist on a missing file is rejected and creates nothing")
    {
        CHECK_THROWS_AS(Database(path, key, OpenMode::MustExist), DatabaseError);
        CHECK_FALSE(fs::exists(path));
    }

    SECTION("A key of the wrong size is rejected")
    {
        CHECK_THROWS_AS(Database(path, crypto::randomBytes(16), OpenMode::CreateNew), std::invalid_argument);
        CHECK_FALSE(fs::exists(path));
    }

    SECTION("A file that is not a database is WrongKey")
    {
        {
            std::ofstream out(path, std::ios::binary);
            out << std::string(8192, 'x');
        }
        try {
            Database database(path, key, OpenMode::MustExist);
            FAIL("a file of junk opened as a database");
        } catch (const DatabaseError& error) {
            CHECK(error.kind() == DatabaseError::Kind::WrongKey);
        }
    }
}

TEST_CASE("Databases are SQLCipher encrypted", "[database]")
{
    ScratchFolder scratch("database-cipher");
    const fs::path path = scratch.path() / "meldpunt.db";
    Database database(path, crypto::randomBytes(32), OpenMode::CreateNew);

    SECTION("The cipher version is reported")
    {
        CHECK_FALSE(database.cipherVersion().empty());
    }

    SECTION("No plaintext marker reaches the file or its WAL")
    {
        const std::string marker = "MELDPUNT-DB-PLAINTEXT-MARKER-41c9";
        database.exec("CREATE TABLE notes (text TEXT NOT NULL)");
        database.transaction([&] {
            for (int i = 0; i < 50; ++i)
                database.prepare("INSERT INTO notes (text) VALUES (?)").bind(1, marker + std::to_string(i)).run();
        });
        const std::string main = readFile(path);
        const std::string wal = readFile(fs::path(path.string() + "-wal"));
        CHECK(main.size() + wal.size() > 0);
        CHECK(main.find(marker) == std::string::npos);
        CHECK(wal.find(marker) == std::string::npos);
        CHECK(main.find("SQLite format 3") == std::string::npos);
        database.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        CHECK(readFile(path).find(marker) == std::string::npos);
    }

    SECTION("Secure delete is on")
    {
        auto query = database.prepare("PRAGMA secure_delete");
        REQUIRE(query.step());
        CHECK(query.columnInt(0) == 1);
    }

    SECTION("The journal is a WAL and foreign keys are enforced")
    {
        auto journal = database.prepare("PRAGMA journal_mode");
        REQUIRE(journal.step());
        CHECK(journal.columnText(0) == "wal");
        auto foreignKeys = database.prepare("PRAGMA foreign_keys");
        REQUIRE(foreignKeys.step());
        CHECK(foreignKeys.columnInt(0) == 1);
    }
}

TEST_CASE("Database statements bind and fail", "[database]")
{
    ScratchFolder scratch("database-statements");
    Database database(scratch.path() / "meldpunt.db", crypto::randomBytes(32), OpenMode::CreateNew);
    database.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, text TEXT, data BLOB, number INTEGER UNIQUE)");

    SECTION("Text, blobs, integers and NULL round trip")
    {
        const std::string text("a\0b\xc3\xa9", 5);
        const std::vector<std::uint8_t> blob = {0, 1, 2, 0xff};
        database.prepare("INSERT INTO items (text, data, number) VALUES (?, ?, ?)")
            .bind(1, text)
            .bind(2, blob)
            .bind(3, std::int64_t{-7})
            .run();
        CHECK(database.lastInsertId() == 1);
        database.prepare("INSERT INTO items (text) VALUES (?)").bindNull(1).run();
        auto query = database.prepare("SELECT text, data, number FROM items ORDER BY id");
        REQUIRE(query.step());
        CHECK(query.columnText(0) == text);
        CHECK(query.columnBlob(1) == blob);
        CHECK(query.columnInt(2) == -7);
        REQUIRE(query.step());
        CHECK(query.columnIsNull(0));
        CHECK_FALSE(query.step());
    }

    SECTION("A constraint violation is Constraint")
    {
        database.exec("INSERT INTO items (number) VALUES (1)");
        try {
            database.prepare("INSERT INTO items (number) VALUES (1)").run();
            FAIL("a duplicate unique value was stored");
        } catch (const DatabaseError& error) {
            CHECK(error.kind() == DatabaseError::Kind::Constraint);
        }
    }

    SECTION("Invalid SQL is rejected")
    {
        CHECK_THROWS_AS(database.exec("NOT SQL"), DatabaseError);
        CHECK_THROWS_AS(database.prepare("SELECT FROM"), DatabaseError);
    }

    SECTION("A failed transaction rolls back")
    {
        CHECK_THROWS_AS(database.transaction([&] {
            database.exec("INSERT INTO items (number) VALUES (5)");
            throw std::runtime_error("stop");
        }),
            std::runtime_error);
        CHECK(countRows(database, "items") == 0);
    }
}
