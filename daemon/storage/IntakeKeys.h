#pragma once

#include "Database.h"
#include "Spool.h"

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

private:
    Database& database_;
};

} // namespace meldpunt::storage
