#pragma once

#include "Database.h"

#include <string>
#include <vector>

namespace meldpunt::storage {

struct Migration {
    int version;
    std::string name;
    std::string sql;
};

// The numbered schema migrations, oldest first. A migration is never
// edited once released; a change to the schema is a new migration.
const std::vector<Migration>& migrations();

// Applies every migration newer than PRAGMA user_version, each in its own
// transaction that also sets user_version. Throws DatabaseError when the
// database was made by a newer Meldpunt (its version is above the newest
// known migration). Returns the number of migrations applied.
int migrate(Database& database);

int schemaVersion(Database& database);

} // namespace meldpunt::storage
