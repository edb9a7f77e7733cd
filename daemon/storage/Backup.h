#pragma once

// Backups of the report database, encrypted to the recovery public key.
// docs/backup-format.md describes the bytes.

#include "Crypto.h"
#include "Database.h"
#include "SecretBytes.h"

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace meldpunt::storage {

inline constexpr std::array<std::uint8_t, 8> kBackupMagic = {'M', 'L', 'D', 'B', 'A', 'C', 'K', 'P'};
inline constexpr std::uint16_t kBackupFormatVersion = 1;
inline constexpr std::size_t kBackupHeaderSize = 64;
inline constexpr std::uint32_t kBackupChunkSize = 64 * 1024;
// The name under which the database snapshot travels in a backup.
inline constexpr const char* kBackupDatabaseName = "meldpunt.db";

struct BackupInfo {
    std::string databaseId;
    int schemaVersion = 0;
    std::string createdAt; // UTC, as 2024-05-31T12:00:00Z
    std::vector<std::pair<std::string, std::uint64_t>> files; // name and size
};

// The backup is not one this version can restore: made for another key,
// damaged, truncated or of an unknown format. The message starts with
// which of these it is and names the place that failed.
class BackupError : public std::runtime_error {
public:
    using runtime_error::runtime_error;
};

// Writes a backup of `database` to `output`, encrypted to `recipient`
// (the recovery public key). The snapshot is taken inside one read
// transaction, so it is consistent while other connections go on writing;
// `database` must not be inside a transaction. The snapshot lies in
// `scratchFolder` only encrypted under a fresh random key, which travels
// inside the backup, and is removed before this returns. The backup is
// written to `output` + ".partial", synced, renamed and the folder synced.
// Memory use does not depend on the size of the database. Throws
// DatabaseError or std::system_error (a full disk, say) and leaves neither
// the partial file nor the snapshot behind.
BackupInfo createBackup(Database& database, const std::string& databaseId, const crypto::X25519PublicKey& recipient,
    const std::filesystem::path& scratchFolder, const std::filesystem::path& output);

// Verifies every chunk, the order of the records and every SHA-256 before
// anything is restored, then writes the database to `restoredDatabase`
// (which must not exist: std::invalid_argument otherwise) encrypted under `newDataKey`, through a
// ".partial" file that is synced and renamed. Throws BackupError when the
// backup is rejected and leaves no restored database behind; the
// encrypted snapshot in `scratchFolder` is removed in every case.
BackupInfo restoreBackup(const std::filesystem::path& backup, std::span<const std::uint8_t> recipientPrivateKey,
    const std::filesystem::path& scratchFolder, const std::filesystem::path& restoredDatabase,
    const SecretBytes& newDataKey);

} // namespace meldpunt::storage
