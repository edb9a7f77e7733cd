#pragma once

// A migrated SQLCipher database with a spool, an ingester and the state's
// attachments folder, on a clock the test moves by hand: reports arrive
// the way meldpunt-public sends them.

#include "AttachmentStore.h"
#include "Clock.h"
#include "Database.h"
#include "Ingester.h"
#include "Process.h"
#include "RetentionSweep.h"
#include "Spool.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace meldpunt::test {

using Bytes = std::vector<std::uint8_t>;

// 2026-03-02T09:00:00Z.
inline constexpr std::int64_t kStartSeconds = 1772442000;

struct RetentionBench {
    explicit RetentionBench(const std::string& name);

    staff::Clock clock() const
    {
        return [this] {
            return now;
        };
    }
    void advanceDays(int days)
    {
        now += std::chrono::hours(24) * days;
    }
    std::string nowText() const
    {
        return staff::formatUtc(now);
    }

    // Sends a report through the spool and ingests it; every free-text
    // field, the contact name and the attachment's name carry `marker`.
    // Returns its id.
    std::int64_t sendReport(const std::string& marker, const std::vector<Bytes>& attachments = {});

    staff::SweepCounts sweep();
    std::int64_t count(const std::string& sql);
    std::int64_t countFor(const std::string& table, std::int64_t reportId);
    // Every row of every table that refers to a report, for `reportId`.
    std::int64_t rowsUnder(std::int64_t reportId);
    std::vector<std::string> fileIdsOf(std::int64_t reportId);

    ScratchFolder scratch;
    std::filesystem::path spoolFolder;
    std::filesystem::path publishFolder;
    std::filesystem::path attachmentsFolder;
    Bytes key;
    std::unique_ptr<storage::Database> database;
    std::mutex databaseMutex;
    spool::IntakePublicKey intakeKey;
    std::unique_ptr<storage::Ingester> ingester;
    staff::TimePoint now;
    RetentionPeriods periods;
};

} // namespace meldpunt::test
