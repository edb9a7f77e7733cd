#include "Daemon.h"

#include "IntakeKeys.h"
#include "KeySealer.h"
#include "FaultPoint.h"
#include "Log.h"
#include "PartnerRegistry.h"
#include "Publisher.h"
#include "MailOutbox.h"
#include "Notices.h"
#include "Mailer.h"
#include "Receipts.h"
#include "RecoveryWrap.h"
#include "RetentionSweep.h"
#include "Service.h"
#include "SiteContent.h"
#include "FileSystem.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>

#include <algorithm>

#include <unistd.h>

namespace meldpunt::daemon {

namespace {

// Security event ids in the journal; stable across releases.
constexpr const char* kUnsealFailedId = "8d0c6a3f2b7e4e51a9f0c1d2e3b4a596";
constexpr const char* kKeyCreatedId = "3e5b1c7d9a2f4b60b8c4d2e6f1a3c5e7";
constexpr const char* kRecoveredId = "5a7c2e9b1d3f4a6c8e0b2d4f6a8c0e13";
constexpr const char* kRecoveryRejectedId = "b1d3f5a7c9e24b6d8f0a2c4e6b8d0f25";
constexpr const char* kReferralDeliveredId = "c4e6a8b0d2f44c1e9a3b5d7f9e1c3a57";
constexpr const char* kReferralFailedId = "d5f7b9c1e3a54d2f8b4c6e8a0f2d4b68";
constexpr const char* kReferralAlertId = "e6a8c0d2f4b64e3a9c5d7f9b1a3e5c79";

constexpr std::chrono::seconds kMaxRecoveryWait{15 * 60};

std::string utcNow()
{
    return Poco::DateTimeFormatter::format(Poco::DateTime(), Poco::DateTimeFormat::ISO8601_FORMAT);
}

// Writes the recovery key to the terminal meldpuntd was started from,
// never to the log: only when standard error is a terminal does the first
// start make a recovery key at all.
void showOnTerminal(const keys::RecoveryKey& key)
{
    const std::string text = "\nRecovery key for this Meldpunt box. It is shown now and never again:\n\n    "
        + key.toString() + "\n\nWrite it down and keep it away from the box.\n\n";
    [[maybe_unused]] const auto written = ::write(STDERR_FILENO, text.data(), text.size());
}

// Shows the one-time setup code for the first admin on the terminal, the
// same way as the recovery key, never in the log.
void showSetupCodeOnTerminal(const std::string& code)
{
    const std::string text = "\nSetup code for the first staff admin. Type it on the staff page /setup:\n\n    "
        + code + "\n\n";
    [[maybe_unused]] const auto written = ::write(STDERR_FILENO, text.data(), text.size());
}

} // namespace

Daemon::Daemon(DaemonSettings settings)
    : settings_(std::move(settings))
{
    status_.lockedReason = "starting";
    if (settings_.health.stateFolder.empty())
        settings_.health.stateFolder = settings_.keys.stateFolder;
    if (settings_.health.spoolFolder.empty())
        settings_.health.spoolFolder = settings_.spoolFolder;
    const auto systemProbes = staff::systemProbes(settings_.health.timeSyncFile);
    if (!settings_.healthProbes.freeBytes)
        settings_.healthProbes.freeBytes = systemProbes.freeBytes;
    if (!settings_.healthProbes.clockSynchronised)
        settings_.healthProbes.clockSynchronised = systemProbes.clockSynchronised;
    healthBoard_ = std::make_shared<staff::HealthBoard>();
    settings_.staff.health = healthBoard_;
    noticeDeadlines_ = std::make_unique<staff::TriageDeadline>(settings_.staff.calendar, settings_.staff.zoneInfoFolder);
    if (!settings_.webuiFolder.empty()) {
        // The staff interface is in English; its text still goes through
        // the catalog, so that translations can follow. The catalog has
        // the site's languages too, for the annual report.
        std::vector<std::string> languages = {"en"};
        for (const auto& language : settings_.siteLanguages)
            if (language != "en")
                languages.push_back(language);
        staffCatalog_ = std::make_unique<Catalog>(settings_.webuiFolder / "locale",
            "/usr/share/iso-codes/json/iso_3166-1.json", "/usr/share/locale", languages);
        staffPages_ = std::make_unique<Pages>(settings_.webuiFolder / "templates" / "staff", *staffCatalog_);
    }
}

Daemon::~Daemon()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (retryThread_.joinable())
        retryThread_.join();
    if (ingestThread_.joinable())
        ingestThread_.join();
    if (mailThread_.joinable())
        mailThread_.join();
    if (backupThread_.joinable())
        backupThread_.join();
    if (sweepThread_.joinable())
        sweepThread_.join();
    if (outboxThread_.joinable())
        outboxThread_.join();
    if (healthThread_.joinable())
        healthThread_.join();
    // A stop that gets here is clean. A watchdog abort, a crash or a kill
    // leaves the marker for the next start to find.
    if (healthMonitor_)
        healthMonitor_->markStopped();
}

void Daemon::start()
{
    stateLock_ = keys::StateLock::tryAcquire(settings_.keys.stateFolder);
    if (!stateLock_)
        throw std::runtime_error("another meldpuntd or a key command (init, rotate, restore) is using '"
            + settings_.keys.stateFolder.string() + "'; stop it first");
    healthMonitor_ = std::make_unique<staff::HealthMonitor>(settings_.health, settings_.clock, settings_.healthProbes);
    try {
        if (healthMonitor_->markStarted())
            log::warning("The previous run of meldpuntd did not stop cleanly (a watchdog restart, a crash, a kill or "
                         "a power loss); the staff interface shows this to admins");
    } catch (const std::exception& error) {
        // Only the unclean-stop check depends on the marker, so the box
        // starts without it.
        log::error(std::string("Failed to write the running marker in the state folder: ") + error.what());
    }
    auto outcome = keys::unlockDatabase(settings_.keys);
    if (outcome.database) {
        if (outcome.created)
            log::securityEvent(kKeyCreatedId, "Created a new data key, sealed it with the TPM ("
                + settings_.keys.tcti + ", PCRs " + settings_.keys.pcrs + ") and created the database");
        if (outcome.newRecoveryKey)
            showOnTerminal(*outcome.newRecoveryKey);
        else if (!std::filesystem::exists(keys::recoveryWrapPath(settings_.keys.stateFolder)))
            log::warning("No recovery key is set up for this box; make it on the staff setup page, or run "
                         "'meldpunt-keys new-recovery-key' on its console");
        open(std::move(outcome));
        healthThread_ = std::thread([this] { healthLoop(); });
        return;
    }
    log::securityEvent(kUnsealFailedId, "Database locked: " + outcome.lockedReason + " (TCTI " + settings_.keys.tcti + ")");
    {
        std::lock_guard lock(mutex_);
        status_.lockedReason = outcome.lockedReason;
    }
    service::notifyReady("Locked: " + outcome.lockedReason);
    retryThread_ = std::thread([this] { retryLoop(); });
    healthThread_ = std::thread([this] { healthLoop(); });
}

void Daemon::open(keys::UnlockOutcome outcome)
{
    // The retry thread and a recovery may both unlock; the first opens
    // the database, and the second, waiting here, finds it open.
    std::lock_guard opening(openMutex_);
    {
        std::lock_guard lock(mutex_);
        if (!status_.locked)
            return;
    }
    pausePoint("open-after-locked-check");
    auto& database = *outcome.database;
    log::info("Opened the database with SQLCipher " + database.cipherVersion());
    // The intake key's age counts on the clock the sweep rotates it by.
    const std::string openedAt = staff::formatUtc(settings_.clock());
    const auto intakeKey = storage::IntakeKeys(database).ensureCurrent(openedAt);
    storage::Publisher publisher(settings_.publishFolder);
    publisher.setRetention(settings_.retention);
    publisher.publish(intakeKey, openedAt);
    log::info("Published the intake key");

    std::unique_ptr<staff::StaffApp> staffApp;
    if (staffPages_) {
        // The first admin makes the recovery key on the setup page when
        // no console made one. The store runs under databaseMutex_, which
        // StaffApp holds while it handles a request.
        staff::StaffSettings staffSettings = settings_.staff;
        const keys::KeySettings keySettings = settings_.keys;
        if (staffSettings.recoveryKeyOnSetupPage) {
            staffSettings.recoveryKeyExists = [keySettings] {
                return std::filesystem::exists(keys::recoveryWrapPath(keySettings.stateFolder));
            };
            staffSettings.storeRecoveryKey = [keySettings, &database](const keys::RecoveryKey& key) {
                keys::storeRecoveryKeyWithTpm(keySettings, database, key);
            };
        }
        staffApp = std::make_unique<staff::StaffApp>(database, databaseMutex_, *staffPages_, std::move(staffSettings),
            settings_.clock);
        announceSetupCode(staffApp->prepareFirstSetup());
    }

    std::lock_guard lock(mutex_);
    database_ = std::move(outcome.database);
    staffApp_ = std::move(staffApp);
    ingester_ = std::make_unique<storage::Ingester>(*database_, databaseMutex_, settings_.spoolFolder,
        settings_.spoolFolder / "quarantine");
    status_.locked = false;
    status_.lockedReason.clear();
    status_.tpmWarning = outcome.tpmWarning;
    lastPass_ = std::chrono::steady_clock::now();
    ingestThread_ = std::thread([this] { ingestLoop(); });
    if (!settings_.backupFolder.empty())
        backupThread_ = std::thread([this] { backupLoop(); });
    sweepThread_ = std::thread([this] { sweepLoop(); });
    startOutbox();
    try {
        std::lock_guard databaseLock(databaseMutex_);
        referral::publishPartners(*database_, settings_.publishFolder);
    } catch (const std::exception& error) {
        log::error(std::string("Failed to publish the partners for the public site: ") + error.what());
    }
    try {
        std::lock_guard databaseLock(databaseMutex_);
        storage::publishSiteContent(*database_, settings_.publishFolder);
    } catch (const std::exception& error) {
        log::error(std::string("Failed to publish the site content for the public site: ") + error.what());
    }
    if (staffApp_)
        staffApp_->attachReferrals(referrals_.get(), database_->path().parent_path() / "attachments");
    if (settings_.mailer)
        mailThread_ = std::thread([this] { mailLoop(); });
    if (outcome.tpmWarning.empty()) {
        service::notifyReady("Database open; ingesting the spool");
    } else {
        log::warning("The TPM reports: " + outcome.tpmWarning
            + "; the data key is not affected, but check what failed authorisations");
        service::notifyReady("Database open; ingesting the spool; " + outcome.tpmWarning);
    }
}

void Daemon::announceSetupCode(const std::string& code)
{
    if (code.empty())
        return;
    if (::isatty(STDERR_FILENO) == 1)
        showSetupCodeOnTerminal(code);
    if (!settings_.staff.setupCodeFile.empty())
        log::notice("No staff account exists yet; the setup code for the first admin is in '"
            + settings_.staff.setupCodeFile.string() + "'");
    else
        log::notice("No staff account exists yet; run 'meldpunt-keys new-admin-code' on the console for a setup code");
}

void Daemon::retryLoop()
{
    std::unique_lock lock(mutex_);
    while (!stopping_ && status_.locked) {
        wake_.wait_for(lock, settings_.unlockRetryInterval, [this] { return stopping_ || !status_.locked; });
        if (stopping_ || !status_.locked)
            return;
        lock.unlock();
        // Another process may have sealed the key again meanwhile (the
        // recovery command on the console), or the TPM may be back.
        auto outcome = keys::unlockDatabase(settings_.keys);
        lock.lock();
        if (outcome.database && status_.locked) {
            lock.unlock();
            log::notice("Unlocked the database on a later attempt");
            open(std::move(outcome));
            return;
        }
        if (!outcome.database)
            status_.lockedReason = outcome.lockedReason;
    }
}

// Receipts change when reports arrive, when staff write to a reporter
// (possibly while meldpuntd was stopped) and on withdrawal; each pass
// publishes those that changed.
void Daemon::publishChangedReceipts()
{
    std::lock_guard databaseLock(databaseMutex_);
    const int written = storage::publishReceipts(*database_, settings_.publishFolder);
    if (written > 0)
        log::debug("Published " + std::to_string(written) + " receipts");
}

// Sends the acknowledgements that are due, one connection each, outside
// the database lock, and records every outcome. A failure is retried with
// a doubling delay, up to maxAttempts. The log names the outbox id and the
// cause, never the address.
void Daemon::sendDueMails()
{
    const auto& mail = settings_.mailer->settings();
    std::vector<storage::PendingMail> due;
    {
        std::lock_guard databaseLock(databaseMutex_);
        due = storage::dueMails(*database_, utcNow(), 20);
    }
    for (const auto& pending : due) {
        try {
            settings_.mailer->sendAcknowledgement(pending.recipient, pending.language, pending.reference);
            std::lock_guard databaseLock(databaseMutex_);
            storage::markMailSent(*database_, pending.id, utcNow());
            log::info("Sent the acknowledgement e-mail of outbox entry " + std::to_string(pending.id));
        } catch (const MailError& error) {
            const auto delay = mail.firstRetry * (1LL << std::min(pending.attempts, 20));
            const std::string next = Poco::DateTimeFormatter::format(
                Poco::DateTime() + Poco::Timespan(static_cast<long>(delay.count()), 0), Poco::DateTimeFormat::ISO8601_FORMAT);
            std::lock_guard databaseLock(databaseMutex_);
            storage::markMailFailed(*database_, pending.id, error.what(), next, mail.maxAttempts);
            const bool givenUp = pending.attempts + 1 >= mail.maxAttempts;
            log::warning("Failed to send the acknowledgement e-mail of outbox entry " + std::to_string(pending.id)
                + " (attempt " + std::to_string(pending.attempts + 1) + "): " + error.what()
                + (givenUp ? "; giving up" : "; retrying at " + next));
        }
    }
}

void Daemon::mailLoop()
{
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        try {
            sendDueMails();
        } catch (const std::exception& error) {
            log::error(std::string("Failed to run the e-mail outbox: ") + error.what());
        }
        lock.lock();
        wake_.wait_for(lock, settings_.ingestInterval, [this] { return stopping_; });
    }
}

// The time one ingest pass may take before it publishes receipts and
// starts the next pass; the watchdog counts a pass older than 30 s as
// stalled.
constexpr std::chrono::seconds kIngestPassBudget{5};

void Daemon::ingestLoop()
{
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        bool more = false;
        try {
            // A pass ends after a few seconds even with entries left, so a
            // backlog (each report costs an Argon2id run) neither delays
            // the receipts of the reports already stored nor starves the
            // watchdog, and a stop request ends it between two entries.
            const auto counts = ingester_->runOnce(kIngestPassBudget, [this] {
                std::lock_guard stopLock(mutex_);
                return stopping_;
            });
            more = counts.stoppedEarly;
            if (counts.ingested + counts.duplicates + counts.quarantined > 0)
                log::info("Ingested " + std::to_string(counts.ingested) + " spool entries, removed "
                    + std::to_string(counts.duplicates) + " already stored, quarantined "
                    + std::to_string(counts.quarantined));
            publishChangedReceipts();
            lock.lock();
            lastPass_ = std::chrono::steady_clock::now();
        } catch (const std::exception& error) {
            log::error(std::string("Failed to ingest the spool: ") + error.what());
            lock.lock();
        }
        if (!more)
            wake_.wait_for(lock, settings_.ingestInterval, [this] { return stopping_; });
    }
}

void Daemon::backupLoop()
{
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        backupOnce();
        lock.lock();
        wake_.wait_for(lock, settings_.backupInterval, [this] { return stopping_; });
    }
}

void Daemon::sweepLoop()
{
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        sweepOnce();
        lock.lock();
        wake_.wait_for(lock, settings_.sweepInterval, [this] { return stopping_; });
    }
}

// Deletes what passed its retention period, in batches that leave the
// database lock free between them, and logs the counts only.
void Daemon::sweepOnce()
{
    const auto started = std::chrono::steady_clock::now();
    try {
        staff::SweepSettings sweep;
        sweep.periods = settings_.retention;
        sweep.attachmentsFolder = database_->path().parent_path() / "attachments";
        sweep.publishFolder = settings_.publishFolder;
        sweep.batchSize = settings_.sweepBatchSize;
        sweep.stopRequested = [this] {
            std::lock_guard lock(mutex_);
            return stopping_;
        };
        const auto counts = staff::RetentionSweep(*database_, databaseMutex_, sweep, settings_.clock).run();
        const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
        log::info("Retention sweep in " + std::to_string(elapsed.count()) + " ms: " + counts.summary());
    } catch (const std::exception& error) {
        log::error(std::string("Failed to run the retention sweep: ") + error.what());
    }
    try {
        const auto now = settings_.clock();
        std::lock_guard databaseLock(databaseMutex_);
        storage::IntakeKeys keys(*database_);
        if (const auto fresh = keys.rotateIfCreatedBefore(
                staff::formatUtc(now - settings_.intakeKeyLifetime), staff::formatUtc(now))) {
            storage::Publisher publisher(settings_.publishFolder);
            publisher.setRetention(settings_.retention);
            publisher.publish(*fresh, staff::formatUtc(now));
            log::info("Made and published a new intake key; the old one goes once no spool entry needs it");
        }
        const int destroyed = keys.destroyUnusedRetired(settings_.spoolFolder, staff::formatUtc(now - settings_.intakeKeyGrace));
        if (destroyed > 0)
            log::info("Deleted " + std::to_string(destroyed) + " retired intake keys that no spool entry needs");
    } catch (const std::exception& error) {
        log::error(std::string("Failed to rotate the intake key: ") + error.what());
    }
}

// Writes one backup with its own connection (the TPM releases the key
// again), so ingestion goes on meanwhile, then keeps the newest ones.
void Daemon::backupOnce()
{
    namespace fs = std::filesystem;
    const auto started = std::chrono::steady_clock::now();
    std::string stamp = utcNow();
    std::replace(stamp.begin(), stamp.end(), ':', '-');
    const fs::path output = settings_.backupFolder / ("meldpunt-" + stamp + ".backup");
    // The health check reads the outcome from the state folder.
    auto recordBackupOutcome = [this](bool succeeded, const std::string& cause) {
        try {
            staff::recordBackupOutcome(settings_.keys.stateFolder, succeeded, cause, settings_.clock());
        } catch (const std::exception& error) {
            log::error(std::string("Failed to record the outcome of the scheduled backup: ") + error.what());
        }
    };
    try {
        keys::writeBackup(settings_.keys, output, settings_.backupFolder);
    } catch (const std::exception& error) {
        log::error("Failed to write the scheduled backup '" + output.string() + "': " + error.what());
        recordBackupOutcome(false, error.what());
        return;
    }
    recordBackupOutcome(true, {});
    std::vector<fs::path> backups;
    std::error_code error;
    for (const auto& item : fs::directory_iterator(settings_.backupFolder, error)) {
        const std::string name = item.path().filename().string();
        if (name.starts_with("meldpunt-") && name.ends_with(".backup"))
            backups.push_back(item.path());
    }
    std::sort(backups.begin(), backups.end());
    const auto excess = static_cast<std::ptrdiff_t>(backups.size()) - settings_.backupsKept;
    for (std::ptrdiff_t index = 0; index < excess; ++index)
        fs::remove(backups[static_cast<std::size_t>(index)], error);
    const auto seconds = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    log::info("Wrote the scheduled backup '" + output.filename().string() + "' in "
        + std::to_string(seconds.count()) + " ms; " + std::to_string(std::min<std::ptrdiff_t>(
            static_cast<std::ptrdiff_t>(backups.size()), settings_.backupsKept)) + " kept");
}

// Called by open() with mutex_ held. A partner file or signing key that
// cannot be used leaves the database open and the outbox off, because
// reports must still be ingested.
void Daemon::startOutbox()
{
    const auto& config = settings_.referral;
    if (config.signingCertificate.empty())
        return;
    try {
        if (!config.partnersFile.empty()) {
            const auto partners = referral::readPartnerFile(config.partnersFile);
            std::lock_guard databaseLock(databaseMutex_);
            referral::importPartners(*database_, partners, utcNow());
            log::info("Imported " + std::to_string(partners.size()) + " partners from '"
                + config.partnersFile.string() + "'");
        }
        referral::HotlineSigner signer{config.organisation,
            referral::Certificate::fromPem(fsutil::readSmallFile(config.signingCertificate, 256 * 1024),
                "'" + config.signingCertificate.string() + "'"),
            std::make_shared<referral::PrivateKey>(referral::PrivateKey::fromPem(
                fsutil::readSmallFile(config.signingKey, 256 * 1024), "'" + config.signingKey.string() + "'"))};
        if (!signer.key->matches(signer.certificate))
            throw std::runtime_error("the signing key does not belong to the signing certificate");
        referrals_ = std::make_unique<referral::Referrals>(*database_, databaseMutex_, std::move(signer));
        outbox_ = std::make_unique<referral::Outbox>(*database_, databaseMutex_, config.outbox);
    } catch (const std::exception& error) {
        log::error(std::string("Failed to start the referral outbox: ") + error.what());
        referrals_.reset();
        return;
    }
    outboxThread_ = std::thread([this] { outboxLoop(); });
    log::info("Started the referral outbox");
}

void Daemon::outboxLoop()
{
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        std::vector<referral::OutboxEvent> events;
        try {
            events = outbox_->runOnce(referral::Clock::now());
        } catch (const std::exception& error) {
            log::error(std::string("Failed to run the referral outbox: ") + error.what());
        }
        for (const auto& event : events) {
            const std::string subject = "referral " + std::to_string(event.referralId) + " to '" + event.partnerName + "'";
            switch (event.kind) {
            case referral::OutboxEventKind::Delivered:
                log::securityEvent(kReferralDeliveredId, "Delivered " + subject + " and stored its receipt");
                break;
            case referral::OutboxEventKind::Retrying:
                log::warning("Failed to push " + subject + ": " + event.detail);
                break;
            case referral::OutboxEventKind::Failed:
                log::securityEvent(kReferralFailedId, "Gave up " + subject + ": " + event.detail);
                break;
            case referral::OutboxEventKind::Alert:
                log::securityEvent(kReferralAlertId, "Raised an alert for " + subject + ": " + event.detail);
                mailReferralAlert(event);
                break;
            }
        }
        lock.lock();
        wake_.wait_for(lock, settings_.referral.outboxInterval, [this] { return stopping_; });
    }
}

// The alert stays in the staff interface until the referral is
// delivered, retracted or given up, so a mail that fails is not retried.
void Daemon::mailReferralAlert(const referral::OutboxEvent& event)
{
    if (!settings_.mailer || settings_.referral.alertEmail.empty())
        return;
    try {
        settings_.mailer->sendReferralAlert(settings_.referral.alertEmail, event.referralId, event.partnerName,
            event.detail);
        log::info("Mailed the alert about referral " + std::to_string(event.referralId) + " to the coordinators");
    } catch (const MailError& error) {
        log::warning("Failed to mail the alert about referral " + std::to_string(event.referralId) + ": "
            + error.what() + "; the staff interface shows it");
    }
}

void Daemon::healthLoop()
{
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        try {
            checkHealth();
        } catch (const std::exception& error) {
            log::error(std::string("Failed to check the box's health: ") + error.what());
        }
        try {
            mailStaffNotices();
        } catch (const std::exception& error) {
            log::error(std::string("Failed to send the staff notices: ") + error.what());
        }
        lock.lock();
        wake_.wait_for(lock, settings_.healthInterval, [this] { return stopping_; });
    }
}

// Runs the probes, logs each condition's start and end, mails the
// conditions that started since the last mail, then shows them to admins.
// The mail goes first, so that a banner on the page means that the
// alerts of that check were sent.
void Daemon::checkHealth()
{
    const StaffStatus current = status();
    auto conditions = healthMonitor_->check(current.locked, current.lockedReason);
    std::set<std::string> ids;
    for (const auto& condition : conditions) {
        ids.insert(condition.id);
        if (!reportedConditions_.contains(condition.id))
            log::warning("Health: " + condition.title + (condition.detail.empty() ? "" : " (" + condition.detail + ")"));
    }
    for (const auto& id : reportedConditions_)
        if (!ids.contains(id))
            log::notice("Health: the condition '" + id + "' has cleared");
    reportedConditions_ = std::move(ids);
    mailHealthAlerts(conditions, current.locked);
    healthBoard_->publish(std::move(conditions));
}

// A condition is mailed once per onset. The ledger in the state folder
// records which, so a restart or a locked database sends no repeat. A
// mail that failed is tried again at the next check.
void Daemon::mailHealthAlerts(const std::vector<staff::HealthCondition>& conditions, bool locked)
{
    if (!settings_.mailer)
        return;
    staff::AlertLedger ledger(settings_.keys.stateFolder / staff::kAlertLedgerFile);
    const auto fresh = ledger.unmailed(conditions);
    if (fresh.empty()) {
        ledger.update(conditions, {});
        return;
    }
    std::vector<std::string> recipients;
    if (!settings_.healthAlertEmail.empty())
        recipients.push_back(settings_.healthAlertEmail);
    if (!locked) {
        std::lock_guard databaseLock(databaseMutex_);
        for (auto& address : staff::StaffNotices(*database_, *noticeDeadlines_, settings_.staff.dueSoon).adminAddresses())
            if (std::find(recipients.begin(), recipients.end(), address) == recipients.end())
                recipients.push_back(std::move(address));
    }
    const std::string subject = "Meldpunt: the box needs attention";
    std::string body = "The health check of the Meldpunt box found:\n\n";
    for (const auto& condition : fresh)
        body += "- " + condition.title + (condition.detail.empty() ? "" : " (" + condition.detail + ")") + ".\n  "
            + condition.action + "\n";
    if (!settings_.staffUrl.empty())
        body += "\nAdmins see the current state on every page of the staff interface:\n" + settings_.staffUrl + "\n";
    bool delivered = recipients.empty();
    for (const auto& recipient : recipients) {
        try {
            settings_.mailer->sendNotice(recipient, subject, body);
            delivered = true;
        } catch (const MailError& error) {
            log::warning(std::string("Failed to mail a health alert: ") + error.what() + "; retrying at the next check");
        }
    }
    if (delivered && !recipients.empty())
        log::info("Mailed a health alert about " + std::to_string(fresh.size()) + " conditions to "
            + std::to_string(recipients.size()) + " addresses");
    ledger.update(conditions, delivered ? fresh : std::vector<staff::HealthCondition>{});
}

// Mails each caseworker and coordinator with a notice address the counts
// of reports that arrived or neared their deadline since their last
// notice. A mail that failed is tried again at the next check.
void Daemon::mailStaffNotices()
{
    if (!settings_.mailer || status().locked)
        return;
    staff::StaffNotices notices(*database_, *noticeDeadlines_, settings_.staff.dueSoon);
    std::vector<staff::NoticeMail> due;
    {
        std::lock_guard databaseLock(databaseMutex_);
        due = notices.dueMails(settings_.clock());
    }
    for (const auto& mail : due) {
        const auto text = staff::noticeMailText(mail, settings_.staff.dueSoon, settings_.staffUrl);
        try {
            settings_.mailer->sendNotice(mail.recipient, text.subject, text.body);
        } catch (const MailError& error) {
            log::warning("Failed to mail a notice to staff account " + std::to_string(mail.accountId) + ": "
                + error.what() + "; retrying at the next check");
            continue;
        }
        std::lock_guard databaseLock(databaseMutex_);
        notices.markSent(mail, settings_.clock());
        log::info("Mailed a notice to staff account " + std::to_string(mail.accountId) + " ("
            + std::to_string(mail.arrived) + " new, " + std::to_string(mail.dueSoon) + " due soon)");
    }
}

referral::Referrals* Daemon::referrals()
{
    std::lock_guard lock(mutex_);
    return referrals_.get();
}

StaffStatus Daemon::status()
{
    std::lock_guard lock(mutex_);
    return status_;
}

staff::StaffApp* Daemon::staffApp()
{
    std::lock_guard lock(mutex_);
    return staffApp_.get();
}

bool Daemon::ingestionHealthy()
{
    std::lock_guard lock(mutex_);
    if (status_.locked)
        return true;
    const auto stale = std::max(settings_.ingestInterval * 10, std::chrono::milliseconds(30000));
    return std::chrono::steady_clock::now() - lastPass_ < stale;
}

RecoveryAttempt Daemon::recover(const std::string& typedKey, const std::string& address)
{
    // One attempt at a time: Argon2id costs memory, and the rate limit
    // must see every attempt in order.
    std::lock_guard recoveryLock(recoveryMutex_);
    RecoveryAttempt attempt;
    if (!status().locked) {
        attempt.result = RecoveryResult::NotLocked;
        return attempt;
    }
    std::optional<keys::RecoveryKey> key;
    try {
        key = keys::RecoveryKey::parse(typedKey);
    } catch (const keys::InvalidRecoveryKey& error) {
        // A typo caught by a check character is not a guess; it costs no
        // wait, and the message names the group to look at.
        attempt.result = RecoveryResult::Malformed;
        attempt.message = error.what();
        return attempt;
    }
    const auto now = std::chrono::steady_clock::now();
    RecoveryLimit& limit = recoveryLimits_[address];
    const auto boxAllowed = lastRecoveryAttempt_ + std::chrono::seconds(1);
    const auto allowed = std::max(limit.nextAllowed, boxAllowed);
    if (now < allowed) {
        attempt.result = RecoveryResult::TooSoon;
        attempt.retryAfter = std::chrono::ceil<std::chrono::seconds>(allowed - now);
        return attempt;
    }
    lastRecoveryAttempt_ = now;
    try {
        auto outcome = keys::recoverWithKey(settings_.keys, *key);
        if (!outcome.database) {
            attempt.message = outcome.lockedReason;
            return attempt;
        }
        recoveryLimits_.clear();
        log::securityEvent(kRecoveredId, "Unlocked the database with the recovery key and sealed the data key again");
        open(std::move(outcome));
        attempt.result = RecoveryResult::Unlocked;
    } catch (const keys::WrongRecoveryKey&) {
        ++limit.failures;
        const auto wait = std::min(kMaxRecoveryWait, std::chrono::seconds(1LL << std::min(limit.failures - 1, 10)));
        limit.nextAllowed = std::chrono::steady_clock::now() + wait;
        log::securityEvent(kRecoveryRejectedId, "Rejected a wrong recovery key (" + std::to_string(limit.failures)
            + " in a row from one staff client); its next attempt is possible in " + std::to_string(wait.count()) + " s");
        attempt.result = RecoveryResult::WrongKey;
        attempt.retryAfter = wait;
    } catch (const std::exception& error) {
        attempt.message = error.what();
    }
    return attempt;
}

} // namespace meldpunt::daemon
