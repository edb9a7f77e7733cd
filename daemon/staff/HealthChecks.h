#pragma once

// The box's health as admins see it: the conditions that need the
// technician, found by probes that tests replace. They are a locked
// database, a spool backlog, low disk space, a certificate near its end,
// a failed backup, an unclean stop and an unsynchronised clock.
// Conditions carry no case content.

#include "Clock.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace meldpunt::staff {

struct HealthSettings {
    std::filesystem::path stateFolder;
    std::filesystem::path spoolFolder;
    // The spool's oldest committed entry may wait this long.
    std::chrono::minutes spoolMaxAge{30};
    // Each of the state and spool file systems needs this much free space
    // for an unprivileged process, in MiB.
    std::uint64_t minFreeMebibytes = 1024;
    // PEM certificates to watch (the edge TLS certificates), and how long
    // before their end they raise a condition.
    std::vector<std::filesystem::path> certificateFiles;
    std::chrono::hours certificateWarning{21 * 24};
    // Present while the clock is synchronised (systemd-timesyncd writes
    // /run/systemd/timesync/synchronized); empty: ask the kernel with
    // adjtimex() and use that file only when adjtimex() is not allowed.
    std::filesystem::path timeSyncFile;
    // How long the notice of an unclean stop stays up after the start that
    // found it.
    std::chrono::hours restartNoticeFor{24};
};

enum class HealthKind {
    Locked,
    SpoolBacklog,
    DiskLow,
    CertificateExpiring,
    BackupFailed,
    UncleanStop,
    ClockUnsynchronised,
};

// One condition that needs the technician. `id` is stable while the
// condition lasts (the kind, and the path for per-file kinds), so that its
// alert is mailed once per onset. `title` and `action` are English
// catalog keys, as all staff text is. `detail` contains numbers and
// paths, never case content.
struct HealthCondition {
    HealthKind kind = HealthKind::Locked;
    std::string id;
    std::string title;
    std::string detail;
    std::string action;
};

// The measurements behind the checks, which tests replace.
struct HealthProbes {
    // Free bytes for an unprivileged process on the file system of a path;
    // nullopt when statvfs() fails.
    std::function<std::optional<std::uint64_t>(const std::filesystem::path&)> freeBytes;
    // True while the system clock is synchronised; nullopt when unknown.
    std::function<std::optional<bool>()> clockSynchronised;
};

// The probes of the running system: statvfs(), and adjtimex() or
// `timeSyncFile` (see HealthSettings).
HealthProbes systemProbes(const std::filesystem::path& timeSyncFile);

// The newest conditions, shared between the check that writes them and
// the staff pages that show them. Thread-safe.
class HealthBoard {
public:
    void publish(std::vector<HealthCondition> conditions);
    std::vector<HealthCondition> conditions() const;

private:
    mutable std::mutex mutex_;
    std::vector<HealthCondition> conditions_;
};

// Runs every probe and returns the conditions found. Not thread-safe.
class HealthMonitor {
public:
    HealthMonitor(HealthSettings settings, Clock clock, HealthProbes probes);

    // Records this start in the state folder and returns whether the
    // previous run of meldpuntd ended without a clean stop (its marker was
    // still there): a watchdog restart, a crash, a kill or a power loss.
    // Throws std::system_error when the marker cannot be written.
    bool markStarted();
    // Removes the marker; called on a clean stop.
    void markStopped();

    // `locked` is the daemon's state, `lockedReason` its cause.
    std::vector<HealthCondition> check(bool locked, const std::string& lockedReason);

    const HealthSettings& settings() const { return settings_; }

private:
    void checkSpool(std::vector<HealthCondition>& found, TimePoint now);
    void checkUncleanStops(std::vector<HealthCondition>& found, TimePoint now);
    void checkDisk(std::vector<HealthCondition>& found);
    void checkCertificates(std::vector<HealthCondition>& found, TimePoint now);
    void checkBackup(std::vector<HealthCondition>& found);

    HealthSettings settings_;
    Clock clock_;
    HealthProbes probes_;
};

// Records the outcome of a scheduled backup in the state folder, where the
// health check reads it even while the database is locked.
void recordBackupOutcome(const std::filesystem::path& stateFolder, bool succeeded, const std::string& error,
    TimePoint at);

// The conditions already mailed, in a file in the state folder (the
// database may be locked, so it cannot hold them): one id a line. A
// condition gets a mail at its onset, and again only after it cleared and
// came back.
class AlertLedger {
public:
    explicit AlertLedger(std::filesystem::path file);

    // The active conditions that have had no mail since their onset.
    std::vector<HealthCondition> unmailed(const std::vector<HealthCondition>& active) const;
    // Forgets conditions that are no longer active and remembers those in
    // `mailed`. Throws std::system_error when the file cannot be written.
    void update(const std::vector<HealthCondition>& active, const std::vector<HealthCondition>& mailed);

private:
    std::vector<std::string> read() const;

    std::filesystem::path file_;
};

// Name of the ledger file and of the backup outcome file, both in the
// state folder.
inline constexpr const char* kAlertLedgerFile = "health-alerts-sent";
inline constexpr const char* kBackupOutcomeFile = "backup-outcome";


} // namespace meldpunt::staff
