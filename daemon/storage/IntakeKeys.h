#pragma once

#include "Database.h"
#include "Spool.h"

#include <filesystem>
#include <optional>

namespace meldpunt::storage {

// The intake key pairs inside the database. The private halves never
// leave it except into locked memory for decrypting an entry.
class IntakeKeys {
public:
    explicit IntakeKeys(Database& database)
        : database_(database)
    {
    }

    // Returns the newest key that is not retired, creating one when none is.
    spool::IntakePublicKey ensureCurrent(const std::string& nowUtc);
    std::optional<SecretBytes> privateKey(const spool::KeyId& id);

    // Retires the current key and makes a new one when the current key was
    // created before `createdBeforeUtc`. Returns the new key, to be
    // published, or nullopt when the current one stays.
    std::optional<spool::IntakePublicKey> rotateIfCreatedBefore(const std::string& createdBeforeUtc,
        const std::string& nowUtc);

    // Deletes the retired keys, private half and all, that were retired
    // before `retiredBeforeUtc` and that no file in `spoolFolder` was made
    // with: entries waiting, entries still being written (.partial) and
    // quarantined ones. A spool entry is thus never left without its key,
    // and remnants of ingested entries on flash become unreadable. Returns
    // how many keys went. Runs inside its own transaction.
    int destroyUnusedRetired(const std::filesystem::path& spoolFolder, const std::string& retiredBeforeUtc);

private:
    Database& database_;
};

} // namespace meldpunt::storage
