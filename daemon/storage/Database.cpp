#include "Database.h"

#include "Crypto.h"

#define SQLITE_HAS_CODEC 1
#include <sqlite3.h>

#include <cstring>

namespace meldpunt::storage {

namespace {

DatabaseError::Kind kindOf(int code)
{
    switch (code & 0xff) {
    case SQLITE_NOTADB: return DatabaseError::Kind::WrongKey;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return DatabaseError::Kind::Busy;
    case SQLITE_CONSTRAINT: return DatabaseError::Kind::Constraint;
    default: return DatabaseError::Kind::Other;
    }
}

[[noreturn]] void fail(sqlite3* db, int code, const std::string& context)
{
    const char* detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
    throw DatabaseError(kindOf(code), context + ": " + detail);
}

} // namespace

void Database::Closer::operator()(sqlite3* db) const
{
    sqlite3_close_v2(db);
}

Database::Database(const std::filesystem::path& path, std::span<const std::uint8_t> rawKey, OpenMode mode)
    : path_(path)
{
    if (rawKey.size() != 32)
        throw std::invalid_argument("the database key must be 32 bytes");
    // SQLite has no exclusive create; refusing an existing file here keeps
    // a new key from ever being set on an existing database.
    if (mode == OpenMode::CreateNew && std::filesystem::exists(path))
        throw DatabaseError(DatabaseError::Kind::Other, "database '" + path.string() + "' already exists");
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX
        | (mode == OpenMode::CreateNew ? SQLITE_OPEN_CREATE : 0);
    sqlite3* handle = nullptr;
    const int opened = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
    db_.reset(handle);
    if (opened != SQLITE_OK)
        fail(handle, opened, "opening database '" + path.string() + "'");

    // SQLCipher reads a key of the form x'<64 hex digits>' as the raw
    // 256-bit key and skips PBKDF2. The text stays in locked memory.
    SecretBytes keyText(3 + 64);
    const std::string hex = crypto::toHex(rawKey);
    keyText.data()[0] = 'x';
    keyText.data()[1] = '\'';
    std::memcpy(keyText.data() + 2, hex.data(), hex.size());
    keyText.data()[66] = '\'';
    const int keyed = sqlite3_key(db_.get(), keyText.data(), static_cast<int>(keyText.size()));
    if (keyed != SQLITE_OK)
        fail(db_.get(), keyed, "setting the key of '" + path.string() + "'");

    if (cipherVersion().empty())
        throw DatabaseError(DatabaseError::Kind::NotSqlCipher,
            "the SQLite library in use is not SQLCipher; refusing to store reports unencrypted");
    exec("PRAGMA cipher_memory_security = ON");
    // Reading the schema is the first access that decrypts a page; a wrong
    // key fails here with SQLITE_NOTADB before anything is written.
    try {
        exec("SELECT count(*) FROM sqlite_schema");
    } catch (const DatabaseError& error) {
        if (error.kind() == DatabaseError::Kind::WrongKey)
            throw DatabaseError(DatabaseError::Kind::WrongKey,
                "the key does not open database '" + path.string() + "'");
        throw;
    }
    exec("PRAGMA journal_mode = WAL");
    exec("PRAGMA synchronous = FULL");
    exec("PRAGMA secure_delete = ON");
    exec("PRAGMA foreign_keys = ON");
    sqlite3_busy_timeout(db_.get(), 5000);
}

Database::~Database() = default;

void Database::exec(const std::string& sql)
{
    char* message = nullptr;
    const int result = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &message);
    if (result != SQLITE_OK) {
        const std::string detail = message != nullptr ? message : sqlite3_errstr(result);
        sqlite3_free(message);
        throw DatabaseError(kindOf(result), "running SQL on '" + path_.string() + "': " + detail);
    }
}

std::string Database::cipherVersion()
{
    Statement statement(db_.get(), "PRAGMA cipher_version");
    return statement.step() ? statement.columnText(0) : std::string();
}

std::int64_t Database::lastInsertId() const
{
    return sqlite3_last_insert_rowid(db_.get());
}

bool Database::inTransaction() const
{
    return sqlite3_get_autocommit(db_.get()) == 0;
}

void Database::rollbackQuietly() noexcept
{
    if (!inTransaction())
        return;
    // The caller rethrows the error that ended the transaction; an error
    // of the rollback itself adds nothing to it.
    sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
}

Statement::Statement(sqlite3* db, const std::string& sql)
    : db_(db)
{
    const int result = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &statement_, nullptr);
    if (result != SQLITE_OK)
        fail(db, result, "preparing SQL");
}

Statement::~Statement()
{
    sqlite3_finalize(statement_);
}

Statement& Statement::bind(int index, std::int64_t value)
{
    const int result = sqlite3_bind_int64(statement_, index, value);
    if (result != SQLITE_OK)
        fail(db_, result, "binding a parameter");
    return *this;
}

Statement& Statement::bind(int index, const std::string& value)
{
    const int result = sqlite3_bind_text(statement_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    if (result != SQLITE_OK)
        fail(db_, result, "binding a parameter");
    return *this;
}

Statement& Statement::bind(int index, std::span<const std::uint8_t> blob)
{
    const int result = sqlite3_bind_blob(statement_, index, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
    if (result != SQLITE_OK)
        fail(db_, result, "binding a parameter");
    return *this;
}

Statement& Statement::bindNull(int index)
{
    const int result = sqlite3_bind_null(statement_, index);
    if (result != SQLITE_OK)
        fail(db_, result, "binding a parameter");
    return *this;
}

bool Statement::step()
{
    const int result = sqlite3_step(statement_);
    if (result == SQLITE_ROW)
        return true;
    if (result == SQLITE_DONE)
        return false;
    fail(db_, result, "running a statement");
}

void Statement::run()
{
    while (step()) {
    }
}

std::int64_t Statement::columnInt(int index) const
{
    return sqlite3_column_int64(statement_, index);
}

std::string Statement::columnText(int index) const
{
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement_, index));
    return text != nullptr ? std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(statement_, index))) : std::string();
}

std::vector<std::uint8_t> Statement::columnBlob(int index) const
{
    const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(statement_, index));
    const auto size = static_cast<std::size_t>(sqlite3_column_bytes(statement_, index));
    return data != nullptr ? std::vector<std::uint8_t>(data, data + size) : std::vector<std::uint8_t>();
}

bool Statement::columnIsNull(int index) const
{
    return sqlite3_column_type(statement_, index) == SQLITE_NULL;
}

} // namespace meldpunt::storage
