#pragma once

// The retention sweep of meldpuntd: deletes what has passed its period
// (Retention.h), in small batches under the database lock, so that a
// sweep of many expired reports never stalls ingestion or the staff
// interface for longer than one batch. docs/architecture.md describes it.

#include "Clock.h"
#include "Database.h"
#include "Retention.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>

namespace meldpunt::staff {

struct SweepSettings {
    RetentionPeriods periods;
    // The state's attachments folder, whose files go with their rows.
    std::filesystem::path attachmentsFolder;
    // The publish folder, whose receipt files go with their reports;
    // empty: none are published.
    std::filesystem::path publishFolder;
    // Rows deleted per transaction.
    int batchSize = 50;
    // The shortest pause after each batch, in which the lock is free for
    // others; a batch that took longer is followed by a pause as long.
    std::chrono::milliseconds pause { 2 };
    // Returns true when the daemon is stopping: the sweep then ends after
    // the current batch, and the next one goes on from there. Empty: never.
    std::function<bool()> stopRequested;
};

// How many of each kind one sweep deleted; counts only, for the log.
struct SweepCounts {
    std::int64_t reportsClosed = 0;
    std::int64_t reportsNeverClosed = 0;
    std::int64_t reportsWithdrawn = 0;
    std::int64_t attachments = 0;
    std::int64_t attachmentFiles = 0;
    std::int64_t reporterMessages = 0;
    std::int64_t auditEntries = 0;
    std::int64_t referralCopies = 0;
    std::int64_t emails = 0;
    std::int64_t pagesReclaimed = 0;
    bool logEmptied = false;

    std::int64_t deleted() const;
    // One line of counts for the log, never an id or a reference.
    std::string summary() const;
};

class RetentionSweep {
public:
    // `database` is shared with the rest of meldpuntd, which holds
    // `databaseMutex` for each use.
    RetentionSweep(storage::Database& database, std::mutex& databaseMutex, SweepSettings settings, Clock clock);

    // Deletes everything past its period at the clock's time, except what
    // a case under legal hold holds, and never a row of a table whose name
    // starts with "statistics". When anything went, reclaims the freed
    // pages and empties the write-ahead log. Throws storage::DatabaseError.
    SweepCounts run();

private:
    template <typename DeleteOne>
    std::int64_t inBatches(const std::string& selectSql, const std::string& cutoff, DeleteOne&& deleteOne,
        SweepCounts& counts);
    void reclaim(SweepCounts& counts);
    std::string cutoff(int days) const;
    bool stopRequested() const;

    storage::Database& database_;
    std::mutex& databaseMutex_;
    SweepSettings settings_;
    Clock clock_;
    TimePoint now_ {};
};

} // namespace meldpunt::staff
