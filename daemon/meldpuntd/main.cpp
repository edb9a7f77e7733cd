// meldpuntd: owns the TPM-sealed SQLCipher database, ingests the spool,
// publishes the intake key and serves the staff listener.

#include "Daemon.h"
#include "Mailer.h"
#include "Notices.h"
#include "DaemonRuntime.h"
#include "Log.h"
#include "Service.h"
#include "StaffServer.h"
#include "UnixHttpServer.h"

#include <algorithm>
#include <charconv>

#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace meldpunt;

namespace {

// The [staff] section: session timeouts and the organisation's calendar
// for triage deadlines.
staff::StaffSettings staffSettings(const Poco::Util::AbstractConfiguration& config)
{
    staff::StaffSettings settings;
    settings.sessions.idle = std::chrono::minutes(config.getInt("staff.idle_minutes", 30));
    settings.sessions.absolute = std::chrono::hours(config.getInt("staff.absolute_hours", 12));
    settings.calendar.timeZone = config.getString("staff.time_zone", "Europe/Amsterdam");
    settings.calendar.workingDays.clear();
    for (const auto& day : splitList(config.getString("staff.working_days", "1,2,3,4,5")))
        settings.calendar.workingDays.insert(std::stoi(day));
    for (const auto& holiday : splitList(config.getString("staff.holidays", "")))
        settings.calendar.holidays.insert(holiday);
    const std::string end = config.getString("staff.end_of_working_day", "17:00");
    if (end.size() != 5 || end[2] != ':')
        throw std::runtime_error("staff.end_of_working_day '" + end + "' is not of the form HH:MM");
    settings.calendar.endOfDayMinutes = std::stoi(end.substr(0, 2)) * 60 + std::stoi(end.substr(3, 2));
    settings.dueSoon = std::chrono::hours(config.getInt("staff.due_soon_hours", 8));
    settings.setupCodeFile = config.getString("staff.setup_code_file", "");
    settings.recoveryKeyOnSetupPage = config.getBool("staff.recovery_key_on_setup_page", true);
    settings.networkAndCertificateSteps = config.getBool("staff.network_and_certificate_on_setup_page", true);
    settings.updateFolder = config.getString("updates.folder", "");
    settings.updaterBusAddress = config.getString("updates.bus_address", "");
    settings.maxBundleBytes = config.getUInt64("updates.max_bundle_bytes", settings.maxBundleBytes);
    return settings;
}

// Reads a whole number from `section`.`key` between `minimum` and
// `maximum`. Throws std::invalid_argument naming the value and what to
// write.
std::int64_t boundedNumber(const Poco::Util::AbstractConfiguration& config, const std::string& section,
    const std::string& key, std::int64_t fallback, std::int64_t minimum, std::int64_t maximum, const std::string& unit)
{
    const std::string text = config.getString(section + "." + key, std::to_string(fallback));
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < minimum || value > maximum)
        throw std::invalid_argument("[" + section + "] " + key + " is '" + text + "'; write a whole number of " + unit
            + " from " + std::to_string(minimum) + " to " + std::to_string(maximum));
    return value;
}

// The [health] section: the thresholds of the health check and where its
// alerts go, and the staff interface's address for links in e-mails.
void readHealthSettings(const Poco::Util::AbstractConfiguration& config, daemon::DaemonSettings& settings)
{
    auto& health = settings.health;
    settings.healthInterval = std::chrono::seconds(boundedNumber(config, "health", "interval_seconds", 60, 1, 3600, "seconds"));
    health.spoolMaxAge = std::chrono::minutes(boundedNumber(config, "health", "spool_max_age_minutes", 30, 1, 7 * 24 * 60, "minutes"));
    health.minFreeMebibytes = static_cast<std::uint64_t>(
        boundedNumber(config, "health", "min_free_mib", 1024, 1, std::int64_t{1} << 30, "MiB"));
    health.certificateWarning = std::chrono::hours(24 * boundedNumber(config, "health", "certificate_warning_days", 21, 1, 365, "days"));
    health.restartNoticeFor = std::chrono::hours(boundedNumber(config, "health", "restart_notice_hours", 24, 1, 30 * 24, "hours"));
    for (const auto& file : splitList(config.getString("health.certificates", ""))) {
        if (!fs::path(file).is_absolute())
            throw std::invalid_argument("[health] certificates names '" + file
                + "', which is not an absolute path; write the absolute paths of PEM certificate files, separated by commas");
        health.certificateFiles.emplace_back(file);
    }
    health.timeSyncFile = config.getString("health.time_sync_file", "");
    if (!health.timeSyncFile.empty() && !health.timeSyncFile.is_absolute())
        throw std::invalid_argument("[health] time_sync_file '" + health.timeSyncFile.string()
            + "' is not an absolute path; write one, such as /run/systemd/timesync/synchronized, or leave it out");
    try {
        settings.healthAlertEmail = staff::validateNoticeEmail(config.getString("health.alert_email", ""));
    } catch (const staff::AccountError& error) {
        throw std::invalid_argument(std::string("[health] alert_email: ") + error.what());
    }
    settings.staffUrl = config.getString("staff.url", "");
    const bool plain = std::none_of(settings.staffUrl.begin(), settings.staffUrl.end(),
        [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
    if (!settings.staffUrl.empty() && (!settings.staffUrl.starts_with("https://") || !plain || settings.staffUrl.size() > 2048))
        throw std::invalid_argument("[staff] url '" + settings.staffUrl
            + "' is not an https:// address; write the address staff open in their browser, such as "
              "https://staff.example.org/, or leave it out");
}

int run(int argc, char** argv)
{
    auto config = loadConfiguration(argc, argv, "meldpuntd");
    service::disableCoreDumps();
    ::umask(0077);
    blockTerminationSignals();

    daemon::DaemonSettings settings;
    settings.keys.stateFolder = config->getString("paths.state");
    settings.keys.tcti = config->getString("tpm.tcti", "device:/dev/tpmrm0");
    settings.keys.pcrs = config->getString("tpm.pcrs", "sha256:7");
    // Only a terminal, not a log, may see a recovery key (under systemd,
    // standard error is the journal).
    settings.keys.recoveryKeyOnFirstStart = ::isatty(STDERR_FILENO) == 1;
    settings.spoolFolder = config->getString("paths.spool");
    settings.publishFolder = config->getString("paths.publish");
    settings.ingestInterval = std::chrono::milliseconds(config->getInt("ingest.interval_ms", 1000));
    settings.unlockRetryInterval = std::chrono::seconds(config->getInt("tpm.retry_seconds", 60));
    settings.backupFolder = config->getString("backup.folder", "");
    settings.backupInterval = std::chrono::minutes(config->getInt("backup.interval_minutes", 24 * 60));
    settings.backupsKept = config->getInt("backup.keep", 7);
    settings.retention = retentionFromConfig(*config);
    const int sweepMinutes = config->getInt("retention.sweep_minutes", 60);
    if (sweepMinutes < 1 || sweepMinutes > 7 * 24 * 60)
        throw std::invalid_argument("[retention] sweep_minutes is " + std::to_string(sweepMinutes)
            + "; write a whole number of minutes from 1 to 10080");
    settings.sweepInterval = std::chrono::minutes(sweepMinutes);
    const int sweepBatch = config->getInt("retention.sweep_batch", 50);
    if (sweepBatch < 1 || sweepBatch > 10000)
        throw std::invalid_argument("[retention] sweep_batch is " + std::to_string(sweepBatch)
            + "; write a whole number of rows from 1 to 10000");
    settings.sweepBatchSize = sweepBatch;
    const int rotateDays = config->getInt("intake.rotate_days", 30);
    if (rotateDays < 1 || rotateDays > 3650)
        throw std::invalid_argument("[intake] rotate_days is " + std::to_string(rotateDays)
            + "; write a whole number of days from 1 to 3650");
    settings.intakeKeyLifetime = std::chrono::hours(24 * rotateDays);
    settings.referral.organisation = config->getString("referral.organisation", "Meldpunt");
    settings.referral.signingCertificate = config->getString("referral.signing_certificate", "");
    settings.referral.signingKey = config->getString("referral.signing_key", "");
    settings.referral.partnersFile = config->getString("referral.partners", "");
    settings.referral.alertEmail = config->getString("referral.alert_email", "");
    settings.referral.outboxInterval = std::chrono::milliseconds(config->getInt("referral.interval_ms", 5000));
    settings.referral.outbox.firstRetry = std::chrono::seconds(config->getInt("referral.first_retry_seconds", 30));
    settings.referral.outbox.maxRetry = std::chrono::seconds(config->getInt("referral.max_retry_seconds", 6 * 3600));
    settings.referral.outbox.alertAfter = std::chrono::seconds(config->getInt("referral.alert_after_minutes", 240) * 60);
    settings.referral.outbox.giveUpAfter = std::chrono::seconds(config->getInt("referral.give_up_after_days", 14) * 86400);
    settings.webuiFolder = config->getString("paths.webui", "");
    settings.siteLanguages = splitList(config->getString("site.languages", "nl,en,fr,de,es,ru"));
    settings.staff = staffSettings(*config);
    settings.staff.publishFolder = settings.publishFolder;
    readHealthSettings(*config, settings);
    if (const std::string relay = config->getString("mail.relay_host", ""); !relay.empty()) {
        daemon::MailSettings mail;
        mail.relayHost = relay;
        mail.relayPort = static_cast<unsigned short>(config->getUInt("mail.relay_port", 587));
        mail.sender = config->getString("mail.sender");
        mail.heloName = config->getString("mail.helo_name", "localhost");
        mail.caFile = config->getString("mail.ca_file", "");
        mail.firstRetry = std::chrono::seconds(config->getUInt("mail.first_retry_seconds", 60));
        mail.maxAttempts = config->getInt("mail.max_attempts", 8);
        mail.webui = config->getString("paths.webui");
        mail.languages = splitList(config->getString("site.languages", "nl,en,fr,de,es,ru"));
        settings.mailer = std::make_shared<daemon::Mailer>(mail);
    }
    daemon::Daemon daemon(settings);

    // The staff listener comes up first, so that a locked box can show why
    // and take the recovery key.
    UnixHttpServerOptions serverOptions;
    serverOptions.socketPath = config->getString("paths.socket");
    serverOptions.socketGroup = config->getString("socket.group", "");
    // The staff edge's idle connections each hold a worker here, so the
    // pool has 16 workers more than those can ever take.
    serverOptions.maxThreads = pagePoolSize(16);
    serverOptions.maxQueued = 32;
    UnixHttpServer server(serverOptions, daemon::makeStaffHandlerFactory(daemon));
    server.start();
    log::info("Serving the staff listener on '" + serverOptions.socketPath.string() + "'");

    daemon.start();

    // The watchdog is fed only while the daemon responds on its own socket
    // and, when open, the ingester finished a pass recently.
    WatchdogThread watchdog([&] {
        return probeUnixSocket(serverOptions.socketPath, "/healthz", 2000) == 200 && daemon.ingestionHealthy();
    });

    const int signalNumber = waitForTermination();
    log::info("Stopping on signal " + std::to_string(signalNumber));
    service::notifyStopping();
    server.stop();
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        return run(argc, argv);
    } catch (const std::exception& error) {
        log::error(std::string("Failed to run meldpuntd: ") + error.what());
        return 1;
    }
}
