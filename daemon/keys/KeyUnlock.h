#pragma once

#include "Database.h"
#include "RecoveryKey.h"
#include "SecretBytes.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace meldpunt::keys {

struct KeySettings {
    std::filesystem::path stateFolder; // meldpunt.db, sealed-key.json and the recovery files
    std::string tcti;
    std::string pcrs; // text form, such as "sha256:7"
    // Makes a recovery key too when the first start creates the data key;
    // the caller shows it once where no log can catch it.
    bool recoveryKeyOnFirstStart = false;
};

std::filesystem::path databasePath(const std::filesystem::path& stateFolder);
std::filesystem::path sealedKeyPath(const std::filesystem::path& stateFolder);
std::filesystem::path recoveryPublicPath(const std::filesystem::path& stateFolder);
std::filesystem::path recoveryWrapPath(const std::filesystem::path& stateFolder);

// The outcome of start-up: an open database, or the reason it stays
// closed. A locked meldpuntd keeps serving its status page and waits; it
// never creates a fresh key or database over existing ones.
struct UnlockOutcome {
    std::unique_ptr<storage::Database> database;
    std::string lockedReason; // empty when the database is open
    bool created = false;     // a new key and database were made
    std::string tpmWarning;   // a TPM condition worth reporting, such as lockout
    std::string databaseId;
    std::optional<RecoveryKey> newRecoveryKey; // made on the first start, to show once
};

// Releases the data key from the TPM and opens the database:
// - neither database nor sealed key: a new random key is sealed, the
//   sealed file written atomically, and only then the database created;
// - a sealed key without a database: the key is unsealed and the database
//   it names is created;
// - a database without a sealed key, a sealed key that will not unseal, or
//   one that does not open the database: locked, with the files untouched.
UnlockOutcome unlockDatabase(const KeySettings& settings);

// Sets up a new box: the data key, sealed by the TPM; the database; and a
// recovery key, whose public half and wrap of the data key are stored.
// Returns the recovery key, to be shown once and never stored. Throws
// std::runtime_error, changing nothing, when a database or any key file
// already exists.
RecoveryKey initializeKeys(const KeySettings& settings);

// Releases the data key with the recovery key when the TPM will not:
// verifies that it opens the database, seals it again to the TPM's
// current PCR values, records the event, and returns the open database.
// Throws WrongRecoveryKey for a key that does not match, std::runtime_error
// naming the missing file when the box has no recovery files, and
// tpm::TpmError when the TPM cannot seal.
UnlockOutcome recoverWithKey(const KeySettings& settings, const RecoveryKey& recoveryKey);

// Makes a new recovery key for the open database's data key and replaces
// the stored recovery files; the old recovery key stops working. Returns
// the new key, to be shown once.
RecoveryKey replaceRecoveryKey(const KeySettings& settings, storage::Database& database,
    const SecretBytes& dataKey, const std::string& databaseId);

// Stores the public half of `recoveryKey` and its wrap of the data key,
// replacing any stored recovery files, and records the event. The caller
// made the key with RecoveryKey::generate and had it confirmed by the
// person who keeps it (the setup page).
void storeRecoveryKey(const KeySettings& settings, storage::Database& database, const SecretBytes& dataKey,
    const std::string& databaseId, const RecoveryKey& recoveryKey);
// Same, with the data key unsealed again from the TPM (meldpuntd, which
// does not keep the data key after opening the database).
void storeRecoveryKeyWithTpm(const KeySettings& settings, storage::Database& database, const RecoveryKey& recoveryKey);

// Unseals the data key with the TPM (for tools that work on a stopped box).
SecretBytes unsealDataKey(const KeySettings& settings, std::string& databaseId);

// Re-encrypts the database under a new random data key, seals the new key
// and wraps it to the recovery public key (so the recovery key keeps
// working). meldpuntd must be stopped. A crash at any point leaves the
// database openable with the old key or the new; the next unlock
// finishes or rolls back the change. Throws std::runtime_error when no
// recovery key is set up.
void rotateDataKey(const KeySettings& settings);

// Writes an encrypted backup of the database to `output`, readable only
// with the recovery key. Works while meldpuntd runs.
void writeBackup(const KeySettings& settings, const std::filesystem::path& output,
    const std::filesystem::path& scratchFolder);
// Same, from an open database (meldpuntd's scheduled backups).
void writeBackup(const KeySettings& settings, storage::Database& database, const std::string& databaseId,
    const std::filesystem::path& output, const std::filesystem::path& scratchFolder);

// Restores a backup onto a box with no database and no keys: the recovery
// key opens the backup, the database is written under a new data key,
// which the TPM seals, and the same recovery key keeps working. Throws
// std::runtime_error, changing nothing, when the box is set up already.
void restoreFromBackup(const KeySettings& settings, const std::filesystem::path& backup,
    const RecoveryKey& recoveryKey, const std::filesystem::path& scratchFolder);

// An exclusive lock on the state folder, held by meldpuntd for its whole
// life and by the key commands that replace the database file (init,
// rotate, restore), so that none of them runs while meldpuntd has the
// database open. The kernel releases it when the process ends, however
// it ends.
class StateLock {
public:
    // Returns nullopt when another process holds the lock.
    static std::optional<StateLock> tryAcquire(const std::filesystem::path& stateFolder);
    StateLock(StateLock&& other) noexcept;
    StateLock& operator=(StateLock&& other) noexcept;
    StateLock(const StateLock&) = delete;
    ~StateLock();

private:
    explicit StateLock(int fd)
        : fd_(fd)
    {
    }
    int fd_ = -1;
};

// Finishes or rolls back a key rotation that a crash interrupted.
void settlePendingRotation(const KeySettings& settings);

// Appends an event to key_events: ids and names only, never key material.
void recordKeyEvent(storage::Database& database, const std::string& event, const std::string& detail = {});

} // namespace meldpunt::keys
