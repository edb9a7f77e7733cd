#pragma once

#include "Ingester.h"
#include "KeyUnlock.h"

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace meldpunt::daemon {

class Mailer;

struct DaemonSettings {
    keys::KeySettings keys;
    std::filesystem::path spoolFolder;
    std::filesystem::path publishFolder;
    std::chrono::milliseconds ingestInterval{1000};
    std::chrono::seconds unlockRetryInterval{60};
    std::filesystem::path backupFolder;   // empty: no scheduled backups
    std::chrono::minutes backupInterval{24 * 60};
    int backupsKept = 7;
    std::shared_ptr<Mailer> mailer; // null: no acknowledgement e-mails
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

    // Unlocks with a recovery key typed by a technician at `address` (the
    // staff client's address). Wrong keys are rate limited per address:
    // each failure doubles that address's wait, up to 15 minutes, so a
    // stranger on the network cannot lock a technician out; and the whole
    // box tries at most one key a second. With 160 random bits, guessing
    // is hopeless either way; the limits keep the log and the CPU quiet.
    RecoveryAttempt recover(const std::string& typedKey, const std::string& address);

    // True while the ingester finished a pass recently (or the daemon is
    // locked, when there is no ingester to wait for).
    bool ingestionHealthy();

private:
    void open(keys::UnlockOutcome outcome);
    void retryLoop();
    void publishChangedReceipts();
    void mailLoop();
    void sendDueMails();
    void ingestLoop();
    void backupLoop();
    void backupOnce();

    DaemonSettings settings_;
    std::optional<keys::StateLock> stateLock_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    StaffStatus status_;
    std::unique_ptr<storage::Database> database_;
    std::mutex databaseMutex_;
    std::unique_ptr<storage::Ingester> ingester_;
    std::chrono::steady_clock::time_point lastPass_ = std::chrono::steady_clock::now();

    struct RecoveryLimit {
        int failures = 0;
        std::chrono::steady_clock::time_point nextAllowed{};
    };
    std::mutex recoveryMutex_;
    std::map<std::string, RecoveryLimit> recoveryLimits_;
    std::chrono::steady_clock::time_point lastRecoveryAttempt_{};

    std::thread retryThread_;
    std::thread ingestThread_;
    std::thread backupThread_;
    std::thread mailThread_;
};

} // namespace meldpunt::daemon
