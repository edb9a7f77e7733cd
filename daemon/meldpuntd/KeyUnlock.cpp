#include "KeyUnlock.h"

#include "KeySealer.h"
#include "Migrations.h"
#include "SealedKeyFile.h"
#include "Uuid.h"

namespace meldpunt::daemon {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDatabaseFile = "meldpunt.db";
constexpr std::size_t kDataKeySize = 32;

std::string lockedByTpm(const tpm::TpmError& error)
{
    return std::string(tpm::describe(error.failure())) + ": " + error.what();
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

UnlockOutcome firstStart(const KeyUnlockSettings& settings, const fs::path& dbPath)
{
    UnlockOutcome outcome;
    const auto pcrs = tpm::PcrSelection::parse(settings.pcrs);
    SecretBytes key = SecretBytes::random(kDataKeySize);
    tpm::SealedKeyFile file;
    try {
        tpm::Tpm tpm(settings.tcti);
        file.key = tpm.seal(key.span(), pcrs);
    } catch (const tpm::TpmError& error) {
        outcome.lockedReason = "cannot seal a new data key: " + lockedByTpm(error);
        return outcome;
    }
    file.databaseId = Uuid::generate().toString();
    file.databaseFile = kDatabaseFile;
    // The sealed key is on disk before the database exists, so a crash
    // in between leaves a key without a database (recoverable), never a
    // database without its key.
    file.writeAtomically(sealedKeyPath(settings.stateFolder));
    outcome.database = createDatabase(dbPath, key, file.databaseId);
    outcome.created = true;
    return outcome;
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

UnlockOutcome unlockDatabase(const KeyUnlockSettings& settings)
{
    const fs::path dbPath = databasePath(settings.stateFolder);
    const fs::path keyPath = sealedKeyPath(settings.stateFolder);
    const bool haveDatabase = fs::exists(dbPath);
    const bool haveSealedKey = fs::exists(keyPath);

    if (!haveDatabase && !haveSealedKey)
        return firstStart(settings, dbPath);

    UnlockOutcome outcome;
    if (!haveSealedKey) {
        outcome.lockedReason = "the database exists but its sealed key '" + keyPath.string()
            + "' is missing; restore that file from the box's backup or unlock with the recovery key";
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
        outcome.created = true;
    } else {
        outcome = openExisting(dbPath, *key, file.databaseId);
    }
    outcome.tpmWarning = tpmWarning;
    return outcome;
}

} // namespace meldpunt::daemon
