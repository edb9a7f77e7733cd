#pragma once

// Re-encrypting the report database under a new data key, crash-safely,
// and the SQLCipher export that both key rotation and backups use.

#include "Database.h"
#include "SecretBytes.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>

namespace meldpunt::storage {

// A callback that stores a new key before the database switches to it: it
// seals the key with the TPM into `sealedKeyNext` and wraps it to the
// recovery public key into `recoveryWrapNext`, both written atomically and
// the sealed key first. It throws to abort the rotation.
using PersistNewKey = std::function<void(const SecretBytes& newKey)>;

struct RotationPaths {
    std::filesystem::path database;
    std::filesystem::path databaseNext;
    std::filesystem::path sealedKey;
    std::filesystem::path sealedKeyNext;
    std::filesystem::path recoveryWrap;
    std::filesystem::path recoveryWrapNext;
};

// Re-encrypts the database under `newKey`. The caller passes the path, not
// an open Database, and must have closed every connection of its own;
// the rotation fails with DatabaseError (Busy) when the write-ahead log
// cannot be emptied because another connection still reads it. Steps: empty the
// write-ahead log, export into `databaseNext`, sync it and the folder,
// call `persistNewKey`, rename `databaseNext` over `database`, sync, then
// rename the two key files into place and sync. A crash at any point
// leaves a state that finishRotation completes or rolls back. Throws
// std::logic_error when a rotation is still pending (any .next file
// exists), because finishRotation must settle it first.
void rotateDatabaseKey(const RotationPaths& paths, const SecretBytes& oldKey, const SecretBytes& newKey,
    const PersistNewKey& persistNewKey);

enum class RotationRecovery { NothingPending, Completed, RolledBack };

// Completes or rolls back a pending rotation; the daemon calls it at every
// start before it opens the database. When .next files exist, it decides
// from which key file's key opens `database` whether to complete
// the rotation (rename the .next files into place) or roll it back
// (delete them). `keyFileOpensDatabase` unseals the given key file and
// returns true when its key opens `database`. Never deletes the only key
// that opens the database; throws std::runtime_error when neither key
// file opens it, leaving every file as it was.
RotationRecovery finishRotation(const RotationPaths& paths,
    const std::function<bool(const std::filesystem::path& sealedKeyFile)>& keyFileOpensDatabase);

// The text x'<64 hex digits>' that SQLCipher reads as a raw 256-bit key,
// built in locked memory so that the key never passes through a string.
SecretBytes rawKeyText(std::span<const std::uint8_t> key);

// Copies the main database of `source` into the new file `target` (mode
// 0600; std::system_error when it exists),
// encrypted under `key` (32 bytes), with SQLCipher's sqlcipher_export
// inside one read transaction: the copy is consistent while other
// connections go on writing. The schema version (user_version) and the
// application id are carried over, which sqlcipher_export leaves out. The
// target uses a rollback journal, so once this returns the file alone
// contains every page and no -wal file exists beside it. Throws
// DatabaseError; a failed export may leave a partial `target` for the
// caller to remove. `source` must not be inside a transaction. Returns
// the schema version copied.
int exportEncryptedCopy(Database& source, const std::filesystem::path& target, const SecretBytes& key);

// Removes `database` and its -wal, -shm and -journal companions, ignoring
// those that do not exist.
void removeDatabaseFiles(const std::filesystem::path& database);

} // namespace meldpunt::storage
