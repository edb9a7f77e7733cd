#include "KeyRotation.h"

#include "FileSystem.h"

#include <fcntl.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

namespace meldpunt::storage {

namespace fs = std::filesystem;

namespace {

fs::path folderOf(const fs::path& path)
{
    return path.parent_path().empty() ? fs::path(".") : path.parent_path();
}

void syncExistingFile(const fs::path& path)
{
    fsutil::FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        throw std::system_error(errno, std::generic_category(), "opening '" + path.string() + "'");
    fsutil::syncFile(fd.get(), path);
}

bool rotationPending(const RotationPaths& paths)
{
    return fs::exists(paths.databaseNext) || fs::exists(paths.sealedKeyNext) || fs::exists(paths.recoveryWrapNext);
}

// Removes the new key files before the exported database. The order
// matters for a crash halfway: as long as `databaseNext` exists,
// finishRotation rolls back, whereas a lone `recoveryWrapNext` would read
// as the last step of a completed rotation.
void abandonRotation(const RotationPaths& paths)
{
    fs::remove(paths.sealedKeyNext);
    fs::remove(paths.recoveryWrapNext);
    fsutil::syncDirectory(folderOf(paths.sealedKeyNext));
    removeDatabaseFiles(paths.databaseNext);
}

// Cleans up after a failed rotation without hiding the failure: what a
// failed cleanup leaves behind, finishRotation settles at the next start.
void abandonRotationQuietly(const RotationPaths& paths) noexcept
{
    try {
        abandonRotation(paths);
    } catch (...) {
    }
}

// Runs SQL while an exception is already on its way, whose message is more
// useful than that of a failed ROLLBACK or DETACH.
void execQuietly(Database& database, const char* sql) noexcept
{
    try {
        database.exec(sql);
    } catch (...) {
    }
}

// An emptied log proves that every committed page is in the main file, so
// the log may be removed later without losing a transaction. Busy means a
// reader of another connection still uses the log.
void emptyWriteAheadLog(Database& database)
{
    auto checkpoint = database.prepare("PRAGMA wal_checkpoint(TRUNCATE)");
    if (!checkpoint.step() || checkpoint.columnInt(0) != 0)
        throw DatabaseError(DatabaseError::Kind::Busy,
            "cannot empty the write-ahead log of '" + database.path().string()
                + "': another connection is still open");
}

// Removes the old database's -wal and -shm files, which must never be
// applied to the re-encrypted file that takes its name. A non-empty log
// here means another connection wrote after the checkpoint, and the
// rotation stops rather than lose that write.
void removeOldLog(const fs::path& database)
{
    const fs::path log = database.string() + "-wal";
    std::error_code error;
    const auto size = fs::file_size(log, error);
    if (!error && size != 0)
        throw DatabaseError(DatabaseError::Kind::Busy,
            "'" + log.string() + "' was written during the key rotation by another connection");
    fs::remove(log);
    fs::remove(database.string() + "-shm");
}

void exportUnderNewKey(const RotationPaths& paths, const SecretBytes& oldKey, const SecretBytes& newKey)
{
    removeDatabaseFiles(paths.databaseNext);
    {
        Database database(paths.database, oldKey.span(), OpenMode::MustExist);
        emptyWriteAheadLog(database);
        exportEncryptedCopy(database, paths.databaseNext, newKey);
    }
    removeOldLog(paths.database);
    syncExistingFile(paths.databaseNext);
    fsutil::syncDirectory(folderOf(paths.databaseNext));
}

void renameAndSync(const fs::path& from, const fs::path& to)
{
    fs::rename(from, to);
    fsutil::syncDirectory(folderOf(to));
}

} // namespace

SecretBytes rawKeyText(std::span<const std::uint8_t> key)
{
    if (key.size() != 32)
        throw std::invalid_argument("a database key must be 32 bytes");
    static constexpr char kDigits[] = "0123456789abcdef";
    SecretBytes text(3 + 2 * key.size());
    std::uint8_t* out = text.data();
    *out++ = 'x';
    *out++ = '\'';
    for (const std::uint8_t byte : key) {
        *out++ = static_cast<std::uint8_t>(kDigits[byte >> 4]);
        *out++ = static_cast<std::uint8_t>(kDigits[byte & 0x0f]);
    }
    *out = '\'';
    return text;
}

void removeDatabaseFiles(const fs::path& database)
{
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
        fs::remove(database.string() + suffix);
}

int exportEncryptedCopy(Database& source, const fs::path& target, const SecretBytes& key)
{
    // The target is created here, empty, which SQLite takes as an empty
    // database: a connection opened without SQLITE_OPEN_CREATE cannot
    // attach a file that does not exist, and the mode is set explicitly.
    fsutil::FileDescriptor created(::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!created)
        throw std::system_error(errno, std::generic_category(), "creating '" + target.string() + "'");
    created.reset();
    // The key is bound as a blob, so it goes from locked memory to SQLite
    // without a string. A NULL key would make SQLCipher reuse the main
    // database's key, which rawKeyText never produces.
    const SecretBytes keyText = rawKeyText(key.span());
    std::int64_t userVersion = 0;
    source.prepare("ATTACH DATABASE ? AS export_target KEY ?").bind(1, target.string()).bind(2, keyText.span()).run();
    try {
        source.exec("PRAGMA export_target.journal_mode = DELETE");
        // Set before the export makes the first table, so that a rotated
        // or restored database reclaims freed pages as the original does.
        source.exec("PRAGMA export_target.auto_vacuum = INCREMENTAL");
        // A deferred transaction: the first read fixes the snapshot that
        // every statement of the export reads, and writers on other
        // connections carry on meanwhile.
        source.exec("BEGIN DEFERRED");
        try {
            auto versions = source.prepare("SELECT (SELECT user_version FROM pragma_user_version),"
                                           " (SELECT application_id FROM pragma_application_id)");
            versions.step();
            userVersion = versions.columnInt(0);
            const auto applicationId = versions.columnInt(1);
            source.exec("SELECT sqlcipher_export('export_target')");
            source.exec("PRAGMA export_target.user_version = " + std::to_string(userVersion));
            source.exec("PRAGMA export_target.application_id = " + std::to_string(applicationId));
            source.exec("COMMIT");
        } catch (...) {
            execQuietly(source, "ROLLBACK");
            throw;
        }
    } catch (...) {
        execQuietly(source, "DETACH DATABASE export_target");
        throw;
    }
    source.exec("DETACH DATABASE export_target");
    return static_cast<int>(userVersion);
}

void rotateDatabaseKey(const RotationPaths& paths, const SecretBytes& oldKey, const SecretBytes& newKey,
    const PersistNewKey& persistNewKey)
{
    if (oldKey.size() != 32 || newKey.size() != 32)
        throw std::invalid_argument("database keys must be 32 bytes");
    if (rotationPending(paths))
        throw std::logic_error("a key rotation of '" + paths.database.string()
            + "' is pending; finishRotation must settle it first");
    try {
        exportUnderNewKey(paths, oldKey, newKey);
        persistNewKey(newKey);
        if (!fs::exists(paths.sealedKeyNext) || !fs::exists(paths.recoveryWrapNext))
            throw std::runtime_error("the new key was not stored in both '" + paths.sealedKeyNext.string()
                + "' and '" + paths.recoveryWrapNext.string() + "'");
    } catch (...) {
        abandonRotationQuietly(paths);
        throw;
    }
    // From here on the new key is stored in both places, so every state a
    // crash can leave is one that finishRotation completes.
    renameAndSync(paths.databaseNext, paths.database);
    fs::rename(paths.sealedKeyNext, paths.sealedKey);
    fs::rename(paths.recoveryWrapNext, paths.recoveryWrap);
    fsutil::syncDirectory(folderOf(paths.sealedKey));
    if (folderOf(paths.recoveryWrap) != folderOf(paths.sealedKey))
        fsutil::syncDirectory(folderOf(paths.recoveryWrap));
}

RotationRecovery finishRotation(const RotationPaths& paths,
    const std::function<bool(const fs::path& sealedKeyFile)>& keyFileOpensDatabase)
{
    if (!rotationPending(paths))
        return RotationRecovery::NothingPending;
    const bool nextKeyExists = fs::exists(paths.sealedKeyNext);
    if (nextKeyExists && keyFileOpensDatabase(paths.sealedKeyNext)) {
        // The re-encrypted file is already in place; what remains of the
        // export is a leftover, and the key files follow the database.
        removeDatabaseFiles(paths.databaseNext);
        renameAndSync(paths.sealedKeyNext, paths.sealedKey);
        if (fs::exists(paths.recoveryWrapNext))
            renameAndSync(paths.recoveryWrapNext, paths.recoveryWrap);
        return RotationRecovery::Completed;
    }
    if (!keyFileOpensDatabase(paths.sealedKey))
        throw std::runtime_error("neither '" + paths.sealedKey.string() + "' nor '" + paths.sealedKeyNext.string()
            + "' opens '" + paths.database.string() + "'; leaving every file as it is");
    if (nextKeyExists || fs::exists(paths.databaseNext)) {
        // The database still has the key of `sealedKey`: the rotation
        // stopped before the rename of the exported file.
        abandonRotation(paths);
        fsutil::syncDirectory(folderOf(paths.databaseNext));
        return RotationRecovery::RolledBack;
    }
    // Only the recovery wrap is left: the crash came between the two final
    // renames, after `sealedKey` already received the new key.
    renameAndSync(paths.recoveryWrapNext, paths.recoveryWrap);
    return RotationRecovery::Completed;
}

} // namespace meldpunt::storage
