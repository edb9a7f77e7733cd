#include "KeyUnlock.h"

#include "FileSystem.h"
#include "Backup.h"
#include "KeyRotation.h"
#include "KeySealer.h"
#include "Migrations.h"
#include "RecoveryWrap.h"
#include "SealedKeyFile.h"
#include "Uuid.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace meldpunt::keys {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDatabaseFile = "meldpunt.db";
constexpr std::size_t kDataKeySize = 32;
constexpr unsigned kKeyFileMode = 0600;

std::string lockedByTpm(const tpm::TpmError& error)
{
    return std::string(tpm::describe(error.failure())) + ": " + error.what();
}

std::string utcNow()
{
    return Poco::DateTimeFormatter::format(Poco::DateTime(), Poco::DateTimeFormat::ISO8601_FORMAT);
}

void writeText(const fs::path& path, const std::string& text)
{
    fsutil::writeFileAtomically(path, crypto::asBytes(text), kKeyFileMode);
}

// Seals `key` with the TPM to its current PCR values and writes the
// sealed key file naming the database.
void sealToFile(const KeySettings& settings, const SecretBytes& key, const std::string& databaseId)
{
    tpm::SealedKeyFile file;
    tpm::Tpm tpm(settings.tcti);
    file.key = tpm.seal(key.span(), tpm::PcrSelection::parse(settings.pcrs));
    file.databaseId = databaseId;
    file.databaseFile = kDatabaseFile;
    file.writeAtomically(sealedKeyPath(settings.stateFolder));
}

// Stores a recovery key's public half and its wrap of the data key.
void writeRecoveryFiles(const KeySettings& settings, const SecretBytes& dataKey, const std::string& databaseId,
    const RecoveryKey& recoveryKey)
{
    const RecoveryPublicKey publicKey = RecoveryPublicKey::create(recoveryKey);
    const RecoveryWrap wrap = RecoveryWrap::wrap(dataKey.span(), publicKey, databaseId);
    // NOTE: two files, each replaced atomically but not together: a crash
    // between them leaves a wrap that neither the old nor the unseen new
    // key opens, until new-recovery-key runs again. Keeping both in one
    // file would close that window.
    writeText(recoveryWrapPath(settings.stateFolder), wrap.toJson());
    writeText(recoveryPublicPath(settings.stateFolder), publicKey.toJson());
}

// Stores a new recovery key's files and returns the key.
RecoveryKey writeRecoveryFiles(const KeySettings& settings, const SecretBytes& dataKey, const std::string& databaseId)
{
    RecoveryKey recoveryKey = RecoveryKey::generate();
    writeRecoveryFiles(settings, dataKey, databaseId, recoveryKey);
    return recoveryKey;
}

// Creates the database the sealed key names, with its id in `meta`.
std::unique_ptr<storage::Database> createDatabase(const fs::path& path, const SecretBytes& key,
    const std::string& databaseId)
{
    auto database = std::make_unique<storage::Database>(path, key.span(), storage::OpenMode::CreateNew);
    storage::migrate(*database);
    database->prepare("INSERT INTO meta (key, value) VALUES ('database_id', ?)").bind(1, databaseId).run();
    return database;
}

UnlockOutcome openExisting(const fs::path& path, const SecretBytes& key, const std::string& databaseId)
{
    UnlockOutcome outcome;
    outcome.databaseId = databaseId;
    try {
        auto database = std::make_unique<storage::Database>(path, key.span(), storage::OpenMode::MustExist);
        storage::migrate(*database);
        auto query = database->prepare("SELECT value FROM meta WHERE key = 'database_id'");
        if (!query.step()) {
            // A crash right after the database was created can leave it
            // without its id; the key opened it, so it is this database.
            database->prepare("INSERT INTO meta (key, value) VALUES ('database_id', ?)").bind(1, databaseId).run();
        } else if (query.columnText(0) != databaseId) {
            outcome.lockedReason = "the sealed key belongs to another database (database id differs)";
            return outcome;
        }
        outcome.database = std::move(database);
    } catch (const storage::DatabaseError& error) {
        if (error.kind() == storage::DatabaseError::Kind::WrongKey)
            outcome.lockedReason = "the unsealed key does not open '" + path.string()
                + "'; the sealed key file is foreign to this database";
        else
            outcome.lockedReason = std::string("cannot open the database: ") + error.what();
    }
    return outcome;
}

UnlockOutcome firstStart(const KeySettings& settings, const fs::path& dbPath)
{
    UnlockOutcome outcome;
    SecretBytes key = SecretBytes::random(kDataKeySize);
    const std::string databaseId = Uuid::generate().toString();
    // The sealed key is on disk before the database exists, so a crash in
    // between leaves a key without a database (recoverable), never a
    // database without its key.
    try {
        sealToFile(settings, key, databaseId);
    } catch (const tpm::TpmError& error) {
        outcome.lockedReason = "cannot seal a new data key: " + lockedByTpm(error);
        return outcome;
    }
    outcome.database = createDatabase(dbPath, key, databaseId);
    outcome.databaseId = databaseId;
    outcome.created = true;
    if (settings.recoveryKeyOnFirstStart) {
        outcome.newRecoveryKey = writeRecoveryFiles(settings, key, databaseId);
        recordKeyEvent(*outcome.database, "created", "with a recovery key");
    } else {
        recordKeyEvent(*outcome.database, "created", "without a recovery key");
    }
    return outcome;
}

storage::RotationPaths rotationPaths(const fs::path& state)
{
    storage::RotationPaths paths;
    paths.database = databasePath(state);
    paths.databaseNext = state / "meldpunt.db.next";
    paths.sealedKey = sealedKeyPath(state);
    paths.sealedKeyNext = state / "sealed-key.json.next";
    paths.recoveryWrap = recoveryWrapPath(state);
    paths.recoveryWrapNext = state / "recovery-wrap.json.next";
    return paths;
}

// Settles a rotation that a crash interrupted: whichever sealed key opens
// the database wins. Errors here leave the files for the next attempt.
void settleRotation(const KeySettings& settings)
{
    const auto paths = rotationPaths(settings.stateFolder);
    storage::finishRotation(paths, [&](const fs::path& sealedFile) {
        try {
            const auto file = tpm::SealedKeyFile::read(sealedFile);
            tpm::Tpm tpm(settings.tcti);
            const SecretBytes key = tpm.unseal(file.key);
            storage::Database database(paths.database, key.span(), storage::OpenMode::MustExist);
            return true;
        } catch (const std::exception&) {
            return false;
        }
    });
}

} // namespace

fs::path databasePath(const fs::path& stateFolder)
{
    return stateFolder / kDatabaseFile;
}

fs::path sealedKeyPath(const fs::path& stateFolder)
{
    return stateFolder / "sealed-key.json";
}

fs::path recoveryPublicPath(const fs::path& stateFolder)
{
    return stateFolder / "recovery-public.json";
}

fs::path recoveryWrapPath(const fs::path& stateFolder)
{
    return stateFolder / "recovery-wrap.json";
}

std::optional<StateLock> StateLock::tryAcquire(const fs::path& stateFolder)
{
    const fs::path path = stateFolder / "state.lock";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        throw std::system_error(errno, std::generic_category(), "opening '" + path.string() + "'");
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);
        return std::nullopt;
    }
    return StateLock(fd);
}

StateLock::StateLock(StateLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1))
{
}

StateLock& StateLock::operator=(StateLock&& other) noexcept
{
    if (this != &other) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

StateLock::~StateLock()
{
    if (fd_ >= 0)
        ::close(fd_);
}

void settlePendingRotation(const KeySettings& settings)
{
    settleRotation(settings);
}

void recordKeyEvent(storage::Database& database, const std::string& event, const std::string& detail)
{
    database.prepare("INSERT INTO key_events (at, event, detail) VALUES (?, ?, ?)")
        .bind(1, utcNow())
        .bind(2, event)
        .bind(3, detail)
        .run();
}

UnlockOutcome unlockDatabase(const KeySettings& settings)
{
    const fs::path dbPath = databasePath(settings.stateFolder);
    const fs::path keyPath = sealedKeyPath(settings.stateFolder);
    try {
        settleRotation(settings);
    } catch (const std::exception& error) {
        UnlockOutcome outcome;
        outcome.lockedReason = std::string("an interrupted key rotation cannot be settled: ") + error.what();
        return outcome;
    }
    const bool haveDatabase = fs::exists(dbPath);
    const bool haveSealedKey = fs::exists(keyPath);

    if (!haveDatabase && !haveSealedKey)
        return firstStart(settings, dbPath);

    UnlockOutcome outcome;
    if (!haveSealedKey) {
        outcome.lockedReason = "the database exists but its sealed key '" + keyPath.string()
            + "' is missing; unlock with the recovery key";
        return outcome;
    }
    tpm::SealedKeyFile file;
    try {
        file = tpm::SealedKeyFile::read(keyPath);
    } catch (const std::exception& error) {
        outcome.lockedReason = std::string("the sealed key file is unusable: ") + error.what();
        return outcome;
    }
    if (file.databaseFile != kDatabaseFile) {
        outcome.lockedReason = "the sealed key names database '" + file.databaseFile + "', not '" + kDatabaseFile + "'";
        return outcome;
    }
    std::optional<SecretBytes> key;
    std::string tpmWarning;
    try {
        tpm::Tpm tpm(settings.tcti);
        key = tpm.unseal(file.key);
        // The data key is noDA, so a lockout does not keep it sealed; it
        // still means something failed authorisations and deserves a look.
        if (tpm.inLockout())
            tpmWarning = std::string(tpm::describe(tpm::TpmFailure::Lockout));
    } catch (const tpm::TpmError& error) {
        outcome.lockedReason = lockedByTpm(error);
        return outcome;
    }
    if (!haveDatabase) {
        outcome.database = createDatabase(dbPath, *key, file.databaseId);
        outcome.databaseId = file.databaseId;
        outcome.created = true;
    } else {
        outcome = openExisting(dbPath, *key, file.databaseId);
    }
    outcome.tpmWarning = tpmWarning;
    return outcome;
}

RecoveryKey initializeKeys(const KeySettings& settings)
{
    for (const fs::path& path : {databasePath(settings.stateFolder), sealedKeyPath(settings.stateFolder),
             recoveryPublicPath(settings.stateFolder), recoveryWrapPath(settings.stateFolder)}) {
        if (fs::exists(path))
            throw std::runtime_error("'" + path.string() + "' already exists; this box is set up already");
    }
    SecretBytes key = SecretBytes::random(kDataKeySize);
    const std::string databaseId = Uuid::generate().toString();
    RecoveryKey recoveryKey = writeRecoveryFiles(settings, key, databaseId);
    sealToFile(settings, key, databaseId);
    auto database = createDatabase(databasePath(settings.stateFolder), key, databaseId);
    recordKeyEvent(*database, "created", "with a recovery key");
    return recoveryKey;
}

UnlockOutcome recoverWithKey(const KeySettings& settings, const RecoveryKey& recoveryKey)
{
    const fs::path publicPath = recoveryPublicPath(settings.stateFolder);
    const fs::path wrapPath = recoveryWrapPath(settings.stateFolder);
    for (const fs::path& path : {publicPath, wrapPath}) {
        if (!fs::exists(path))
            throw std::runtime_error("'" + path.string() + "' is missing, so no recovery key can unlock this box");
    }
    const auto publicKey = RecoveryPublicKey::fromJson(fsutil::readSmallFile(publicPath, 64 * 1024));
    const auto wrap = RecoveryWrap::fromJson(fsutil::readSmallFile(wrapPath, 64 * 1024));
    const SecretBytes privateKey = publicKey.privateKeyFor(recoveryKey);
    const SecretBytes dataKey = wrap.unwrap(privateKey.span());

    UnlockOutcome outcome = openExisting(databasePath(settings.stateFolder), dataKey, wrap.databaseId);
    if (!outcome.database)
        return outcome;
    // The key opened the database, so it is sealed again to the TPM as it
    // is now: after a firmware change, a board swap or a cleared TPM, the
    // next start unseals without the recovery key.
    sealToFile(settings, dataKey, wrap.databaseId);
    recordKeyEvent(*outcome.database, "recovered", "sealed again to PCRs " + settings.pcrs);
    return outcome;
}

RecoveryKey replaceRecoveryKey(const KeySettings& settings, storage::Database& database,
    const SecretBytes& dataKey, const std::string& databaseId)
{
    RecoveryKey recoveryKey = writeRecoveryFiles(settings, dataKey, databaseId);
    recordKeyEvent(database, "recovery_key_replaced");
    return recoveryKey;
}

void storeRecoveryKey(const KeySettings& settings, storage::Database& database, const SecretBytes& dataKey,
    const std::string& databaseId, const RecoveryKey& recoveryKey)
{
    // A failed write rolls the event back, so key_events never names a key
    // that was not stored.
    database.transaction([&] {
        recordKeyEvent(database, "recovery_key_replaced", "made on the setup page");
        writeRecoveryFiles(settings, dataKey, databaseId, recoveryKey);
    });
}

void storeRecoveryKeyWithTpm(const KeySettings& settings, storage::Database& database, const RecoveryKey& recoveryKey)
{
    std::string databaseId;
    const SecretBytes dataKey = unsealDataKey(settings, databaseId);
    storeRecoveryKey(settings, database, dataKey, databaseId, recoveryKey);
}

SecretBytes unsealDataKey(const KeySettings& settings, std::string& databaseId)
{
    const auto file = tpm::SealedKeyFile::read(sealedKeyPath(settings.stateFolder));
    tpm::Tpm tpm(settings.tcti);
    databaseId = file.databaseId;
    return tpm.unseal(file.key);
}

void rotateDataKey(const KeySettings& settings)
{
    const fs::path publicPath = recoveryPublicPath(settings.stateFolder);
    if (!fs::exists(publicPath))
        throw std::runtime_error("no recovery key is set up, and a new data key must be wrapped to one; "
                                 "run 'meldpunt-keys new-recovery-key' first");
    const auto recoveryPublic = RecoveryPublicKey::fromJson(fsutil::readSmallFile(publicPath, 64 * 1024));
    std::string databaseId;
    const SecretBytes oldKey = unsealDataKey(settings, databaseId);
    const SecretBytes newKey = SecretBytes::random(kDataKeySize);
    const auto paths = rotationPaths(settings.stateFolder);
    storage::rotateDatabaseKey(paths, oldKey, newKey, [&](const SecretBytes& key) {
        tpm::SealedKeyFile file;
        tpm::Tpm tpm(settings.tcti);
        file.key = tpm.seal(key.span(), tpm::PcrSelection::parse(settings.pcrs));
        file.databaseId = databaseId;
        file.databaseFile = kDatabaseFile;
        file.writeAtomically(paths.sealedKeyNext);
        writeText(paths.recoveryWrapNext, RecoveryWrap::wrap(key.span(), recoveryPublic, databaseId).toJson());
    });
    storage::Database database(paths.database, newKey.span(), storage::OpenMode::MustExist);
    recordKeyEvent(database, "rotated");
}

void writeBackup(const KeySettings& settings, storage::Database& database, const std::string& databaseId,
    const fs::path& output, const fs::path& scratchFolder)
{
    const fs::path publicPath = recoveryPublicPath(settings.stateFolder);
    if (!fs::exists(publicPath))
        throw std::runtime_error("no recovery key is set up, and backups are encrypted to it; "
                                 "run 'meldpunt-keys new-recovery-key' first");
    const auto recoveryPublic = RecoveryPublicKey::fromJson(fsutil::readSmallFile(publicPath, 64 * 1024));
    storage::createBackup(database, databaseId, recoveryPublic.publicKey, scratchFolder, output);
    recordKeyEvent(database, "backup_written", output.filename().string());
}

void writeBackup(const KeySettings& settings, const fs::path& output, const fs::path& scratchFolder)
{
    std::string databaseId;
    const SecretBytes key = unsealDataKey(settings, databaseId);
    storage::Database database(databasePath(settings.stateFolder), key.span(), storage::OpenMode::MustExist);
    writeBackup(settings, database, databaseId, output, scratchFolder);
}

void restoreFromBackup(const KeySettings& settings, const fs::path& backup, const RecoveryKey& recoveryKey,
    const fs::path& scratchFolder)
{
    for (const fs::path& path : {databasePath(settings.stateFolder), sealedKeyPath(settings.stateFolder)}) {
        if (fs::exists(path))
            throw std::runtime_error("'" + path.string() + "' already exists; restore only onto a box "
                                     "that is not set up");
    }
    const RecoveryPublicKey recoveryPublic = RecoveryPublicKey::create(recoveryKey);
    const SecretBytes recoveryPrivate = recoveryPublic.privateKeyFor(recoveryKey);
    const SecretBytes dataKey = SecretBytes::random(kDataKeySize);
    const auto info = storage::restoreBackup(backup, recoveryPrivate.span(), scratchFolder,
        databasePath(settings.stateFolder), dataKey);

    // The restored database keeps its id; the new key is sealed to this
    // box's TPM and wrapped to the same recovery key.
    writeText(recoveryWrapPath(settings.stateFolder), RecoveryWrap::wrap(dataKey.span(), recoveryPublic, info.databaseId).toJson());
    writeText(recoveryPublicPath(settings.stateFolder), recoveryPublic.toJson());
    sealToFile(settings, dataKey, info.databaseId);
    storage::Database database(databasePath(settings.stateFolder), dataKey.span(), storage::OpenMode::MustExist);
    storage::migrate(database);
    recordKeyEvent(database, "restored", "from a backup made " + info.createdAt);
}

} // namespace meldpunt::keys
