// meldpuntd: owns the TPM-sealed SQLCipher database, ingests the spool,
// publishes the intake key and serves the staff listener.

#include "Daemon.h"
#include "Mailer.h"
#include "DaemonRuntime.h"
#include "Log.h"
#include "Service.h"
#include "StaffServer.h"
#include "UnixHttpServer.h"

#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace meldpunt;

namespace {

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
    serverOptions.maxThreads = 8;
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
