#pragma once

#include "Clock.h"
#include "Database.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace meldpunt::staff {

// Who did something: the staff member (account id 0 and a descriptive
// name for the console or a failed login of an unknown name) and the
// staff client's address from X-Real-IP.
struct Actor {
    std::int64_t accountId = 0;
    std::string username;
    std::string address;
};

struct AuditEntry {
    std::int64_t id = 0;
    std::string at;
    std::int64_t accountId = 0;
    std::string username;
    std::string address;
    std::string action;     // "case.view", "login.failed", ...
    std::string objectType; // "case", "account", "audit", ...
    std::string objectId;   // a row id or a reference, never text typed by anyone
};

struct AuditVerification {
    bool intact = true;
    std::int64_t firstBrokenId = 0; // 0 when intact
    std::string problem;            // what is wrong with that entry
    std::int64_t entriesChecked = 0;
};

// The append-only, hash-chained audit log in the database. Each entry's
// hash is SHA-256 over the previous entry's hash and the entry's fields,
// each length-prefixed, so an entry changed, removed or inserted anywhere
// breaks the chain at that point. The database refuses updates, and
// deletes of entries after the newest checkpoint. Not thread-safe: the
// caller holds the database's lock.
class AuditLog {
public:
    AuditLog(storage::Database& database, Clock clock);

    // Appends an entry and returns its id. Throws storage::DatabaseError.
    std::int64_t record(const Actor& actor, const std::string& action, const std::string& objectType,
        const std::string& objectId);

    // Entries newest first, at most `limit`, starting below `beforeId` (0
    // for the newest).
    std::vector<AuditEntry> entries(std::size_t limit, std::int64_t beforeId = 0);
    std::vector<AuditEntry> allEntries();

    // Walks the chain from the newest checkpoint (or the start) and names
    // the first entry whose stored hash or link does not match.
    AuditVerification verify();

    // Deletes the entries recorded before `cutoff`, after writing a
    // checkpoint that carries the last deleted entry's id and hash, so the
    // entries kept still verify. Returns the number deleted.
    std::int64_t pruneBefore(TimePoint cutoff);

    // The entries as CSV with a header line, oldest first.
    std::string exportCsv();

private:
    storage::Database& database_;
    Clock clock_;
};

} // namespace meldpunt::staff
