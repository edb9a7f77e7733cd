#pragma once

#include "SecretBytes.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace meldpunt::storage {

class DatabaseError : public std::runtime_error {
public:
    enum class Kind { WrongKey, NotSqlCipher, Busy, Constraint, Other };
    DatabaseError(Kind kind, const std::string& message)
        : std::runtime_error(message)
        , kind_(kind)
    {
    }
    Kind kind() const { return kind_; }

private:
    Kind kind_;
};

class Statement {
public:
    Statement(sqlite3* db, const std::string& sql);
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, const std::string& value);
    Statement& bind(int index, std::span<const std::uint8_t> blob);
    Statement& bindNull(int index);

    // Returns true while a row is available; throws DatabaseError.
    bool step();
    void run(); // steps to completion

    std::int64_t columnInt(int index) const;
    std::string columnText(int index) const;
    std::vector<std::uint8_t> columnBlob(int index) const;
    bool columnIsNull(int index) const;

private:
    sqlite3* db_;
    sqlite3_stmt* statement_ = nullptr;
};

enum class OpenMode { MustExist, CreateNew };

// A SQLCipher 4 database opened with a raw 256-bit key (no passphrase
// KDF on the hot path). Opening verifies the key by reading the schema
// before anything is written, so a wrong key leaves the file untouched.
// Not thread-safe: callers serialise access.
class Database {
public:
    // Throws DatabaseError (WrongKey when the key does not open the file,
    // NotSqlCipher when the library is plain SQLite).
    Database(const std::filesystem::path& path, std::span<const std::uint8_t> rawKey, OpenMode mode);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    void exec(const std::string& sql);
    Statement prepare(const std::string& sql) { return Statement(db_.get(), sql); }
    std::string cipherVersion();
    std::int64_t lastInsertId() const;
    const std::filesystem::path& path() const { return path_; }

    // Runs `work` inside BEGIN IMMEDIATE ... COMMIT. On an exception it
    // rolls back and rethrows that exception. SQLite has already rolled
    // back by itself after some errors (a full disk, say), and a failed
    // ROLLBACK must not hide the error that caused it.
    template <typename Work>
    void transaction(Work&& work)
    {
        exec("BEGIN IMMEDIATE");
        try {
            work();
            exec("COMMIT");
        } catch (...) {
            rollbackQuietly();
            throw;
        }
    }

    // True while a transaction is open on this connection.
    bool inTransaction() const;

private:
    void rollbackQuietly() noexcept;

    struct Closer {
        void operator()(sqlite3* db) const;
    };
    std::filesystem::path path_;
    std::unique_ptr<sqlite3, Closer> db_;
};

} // namespace meldpunt::storage
