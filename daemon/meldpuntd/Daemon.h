#pragma once

#include "Ingester.h"
#include "KeyUnlock.h"

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace meldpunt::daemon {

struct DaemonSettings {
    keys::KeySettings keys;
    std::filesystem::path spoolFolder;
    std::filesystem::path publishFolder;
    std::chrono::milliseconds ingestInterval{1000};
    std::chrono::seconds unlockRetryInterval{60};
    std::filesystem::path backupFolder;   // empty: no scheduled backups
    std::chrono::minutes backupInterval{24 * 60};
    int backupsKept = 7;
};

struct StaffStatus {
    bool locked = true;
    std::string lockedReason;
    std::string tpmWarning;
};

enum class RecoveryResult { Unlocked, NotLocked, Malformed, WrongKey, TooSoon, Failed };

struct RecoveryAttempt {
    RecoveryResult result = RecoveryResult::Failed;
    std::string message;          // for Malformed and Failed: what to do
    std::chrono::seconds retryAfter{0}; // for TooSoon and WrongKey
};

// meldpuntd's state: locked, waiting for the TPM or the recovery key, or
// open, with the ingester running. A locked daemon tries the TPM again
// every unlockRetryInterval. Thread-safe.
class Daemon {
public:
    explicit Daemon(DaemonSettings settings);
    ~Daemon();

    // Tries to unlock once; the outcome shows in status().
    void start();
    StaffStatus status();

    // Unlocks with a recovery key typed by a technician. Wrong keys are
    // rate limited for the whole box: each failure doubles the wait before
    // the next attempt, up to 15 minutes, whichever address it comes from.
    RecoveryAttempt recover(const std::string& typedKey);

    // True while the ingester finished a pass recently (or the daemon is
    // locked, when there is no ingester to wait for).
    bool ingestionHealthy();

private:
    void open(keys::UnlockOutcome outcome);
    void retryLoop();
    void ingestLoop();
    void backupLoop();
    void backupOnce();

    DaemonSettings settings_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    StaffStatus status_;
    std::unique_ptr<storage::Database> database_;
    std::mutex databaseMutex_;
    std::unique_ptr<storage::Ingester> ingester_;
    std::chrono::steady_clock::time_point lastPass_ = std::chrono::steady_clock::now();

    std::mutex recoveryMutex_;
    int recoveryFailures_ = 0;
    std::chrono::steady_clock::time_point nextRecoveryAllowed_{};

    std::thread retryThread_;
    std::thread ingestThread_;
    std::thread backupThread_;
};

} // namespace meldpunt::daemon
