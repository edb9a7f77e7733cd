#pragma once

#include "Database.h"
#include "SecretBytes.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace meldpunt::daemon {

struct KeyUnlockSettings {
    std::filesystem::path stateFolder; // holds meldpunt.db and sealed-key.json
    std::string tcti;
    std::string pcrs; // text form, such as "sha256:7"
};

// The outcome of start-up: an open database, or the reason it stays
// closed. A locked meldpuntd keeps serving its status page and waits; it
// never creates a fresh key or database over existing ones.
struct UnlockOutcome {
    std::unique_ptr<storage::Database> database;
    std::string lockedReason; // empty when the database is open
    bool created = false;     // a new key and database were made
    std::string tpmWarning;   // a TPM condition worth reporting, such as lockout
};

// Releases the data key from the TPM and opens the database:
// - neither database nor sealed key: a new random key is sealed, the
//   sealed file written atomically, and only then the database created;
// - a sealed key without a database: the key is unsealed and the database
//   it names is created;
// - a database without a sealed key, a sealed key that will not unseal, or
//   one that does not open the database: locked, with the files untouched.
UnlockOutcome unlockDatabase(const KeyUnlockSettings& settings);

std::filesystem::path databasePath(const std::filesystem::path& stateFolder);
std::filesystem::path sealedKeyPath(const std::filesystem::path& stateFolder);

} // namespace meldpunt::daemon
