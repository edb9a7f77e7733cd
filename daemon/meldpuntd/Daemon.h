#pragma once

#include "Catalog.h"
#include "Ingester.h"
#include "KeyUnlock.h"
#include "Retention.h"
#include "Outbox.h"
#include "Referrals.h"
#include "Pages.h"
#include "HealthChecks.h"
#include "StaffApp.h"
#include "TriageDeadline.h"

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

namespace meldpunt::daemon {

// The outbox runs only when a signing certificate and key are set.
struct ReferralSettings {
    std::string organisation = "Meldpunt"; // named as the sender in each manifest
    std::filesystem::path signingCertificate;
    std::filesystem::path signingKey;
    std::filesystem::path partnersFile; // empty: keep the stored registry
    referral::OutboxSettings outbox;
    std::chrono::milliseconds outboxInterval{5000};
    // Where the coordinator's alert about an undelivered referral is
    // mailed, through the acknowledgement relay; empty: the staff
    // interface's notice only.
    std::string alertEmail;
};
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
    RetentionPeriods retention;
    // The retention sweep runs once the database opens and then at this
    // interval; the clock gives the time (tests move it by hand).
    std::chrono::milliseconds sweepInterval{60 * 60 * 1000};
    int sweepBatchSize = 50;
    // Each sweep makes a new intake key pair once the current one is this
    // old; a retired private half is deleted when no spool file made with
    // it is left and it was retired at least intakeKeyGrace ago (a report
    // may still be on its way under the old public key).
    std::chrono::hours intakeKeyLifetime{30 * 24};
    std::chrono::minutes intakeKeyGrace{60};
    staff::Clock clock = staff::systemClock();
    ReferralSettings referral;
    // The web files (templates/staff, locale); empty: no staff interface,
    // only the status page.
    std::filesystem::path webuiFolder;
    // The public site's languages, in which the annual report can be made.
    std::vector<std::string> siteLanguages = {"nl", "en", "fr", "de", "es", "ru"};
    staff::StaffSettings staff;
    std::shared_ptr<Mailer> mailer; // null: no acknowledgement e-mails
    // The health check and the staff notices run at this interval, locked
    // or open. Health alerts are mailed to healthAlertEmail (also while
    // locked) and to the admins' notice addresses (while open).
    staff::HealthSettings health;
    staff::HealthProbes healthProbes; // unset members: the system's probes
    std::chrono::milliseconds healthInterval{60 * 1000};
    std::string healthAlertEmail;
    // The staff interface's address, for the link in notice e-mails;
    // empty: no link.
    std::string staffUrl;
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

    // The referral calls of the case page and the partner outcome
    // endpoint; null while the database is locked or no signing key is
    // configured. The object lives as long as the daemon.
    referral::Referrals* referrals();
    // The staff interface, once the database is open; nullptr before, or
    // without a web folder. It lives as long as the daemon.
    staff::StaffApp* staffApp();

private:
    void open(keys::UnlockOutcome outcome);
    void announceSetupCode(const std::string& code);
    void retryLoop();
    void publishChangedReceipts();
    void mailLoop();
    void sendDueMails();
    void ingestLoop();
    void backupLoop();
    void sweepLoop();
    void sweepOnce();
    void backupOnce();
    void startOutbox();
    void outboxLoop();
    void mailReferralAlert(const referral::OutboxEvent& event);
    void healthLoop();
    void checkHealth();
    void mailHealthAlerts(const std::vector<staff::HealthCondition>& conditions, bool locked);
    void mailStaffNotices();

    DaemonSettings settings_;
    std::optional<keys::StateLock> stateLock_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    StaffStatus status_;
    std::unique_ptr<storage::Database> database_;
    std::mutex databaseMutex_;
    std::unique_ptr<storage::Ingester> ingester_;
    std::unique_ptr<Catalog> staffCatalog_;
    std::unique_ptr<Pages> staffPages_;
    std::unique_ptr<staff::StaffApp> staffApp_;
    std::chrono::steady_clock::time_point lastPass_ = std::chrono::steady_clock::now();

    struct RecoveryLimit {
        int failures = 0;
        std::chrono::steady_clock::time_point nextAllowed{};
    };
    std::mutex recoveryMutex_;
    // Held for the whole of open(), so that a recovery and the retry
    // thread that both unlock open the database once.
    std::mutex openMutex_;
    std::map<std::string, RecoveryLimit> recoveryLimits_;
    std::chrono::steady_clock::time_point lastRecoveryAttempt_{};

    std::thread retryThread_;
    std::thread ingestThread_;
    std::thread backupThread_;
    std::thread sweepThread_;
    std::unique_ptr<referral::Referrals> referrals_;
    std::unique_ptr<referral::Outbox> outbox_;
    std::thread outboxThread_;
    std::thread mailThread_;
    std::shared_ptr<staff::HealthBoard> healthBoard_;
    std::unique_ptr<staff::HealthMonitor> healthMonitor_;
    std::unique_ptr<staff::TriageDeadline> noticeDeadlines_;
    std::set<std::string> reportedConditions_; // ids logged as started, for the journal
    std::thread healthThread_;
};

} // namespace meldpunt::daemon
