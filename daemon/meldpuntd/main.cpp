// meldpuntd: owns the TPM-sealed SQLCipher database, ingests the spool,
// publishes the intake key and serves the staff listener.

#include "DaemonRuntime.h"
#include "Ingester.h"
#include "IntakeKeys.h"
#include "KeyUnlock.h"
#include "Log.h"
#include "Publisher.h"
#include "Service.h"
#include "StaffServer.h"
#include "UnixHttpServer.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace fs = std::filesystem;
using namespace meldpunt;

namespace {

// Security event ids in the journal; stable across releases.
constexpr const char* kUnsealFailedId = "8d0c6a3f2b7e4e51a9f0c1d2e3b4a596";
constexpr const char* kKeyCreatedId = "3e5b1c7d9a2f4b60b8c4d2e6f1a3c5e7";

std::string utcNow()
{
    return Poco::DateTimeFormatter::format(Poco::DateTime(), Poco::DateTimeFormat::ISO8601_FORMAT);
}

// Runs the ingester every interval on its own thread and records when its
// last pass finished, which the watchdog checks.
class IngestLoop {
public:
    IngestLoop(storage::Ingester& ingester, std::chrono::milliseconds interval)
        : ingester_(ingester)
        , interval_(interval)
        , thread_([this] { run(); })
    {
    }
    ~IngestLoop()
    {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }
    std::chrono::steady_clock::time_point lastPass() const { return lastPass_.load(); }

private:
    void run()
    {
        std::unique_lock lock(mutex_);
        while (!stop_) {
            lock.unlock();
            pass();
            lock.lock();
            wake_.wait_for(lock, interval_, [this] { return stop_; });
        }
    }
    void pass()
    {
        try {
            const auto counts = ingester_.runOnce();
            if (counts.ingested + counts.duplicates + counts.quarantined > 0)
                log::info("Ingested " + std::to_string(counts.ingested) + " spool entries, removed "
                    + std::to_string(counts.duplicates) + " already stored, quarantined "
                    + std::to_string(counts.quarantined));
            lastPass_ = std::chrono::steady_clock::now();
        } catch (const std::exception& error) {
            log::error(std::string("Failed to ingest the spool: ") + error.what());
        }
    }

    storage::Ingester& ingester_;
    std::chrono::milliseconds interval_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::atomic<std::chrono::steady_clock::time_point> lastPass_{std::chrono::steady_clock::now()};
    std::thread thread_;
};

int run(int argc, char** argv)
{
    auto config = loadConfiguration(argc, argv, "meldpuntd");
    service::disableCoreDumps();
    ::umask(0077);
    blockTerminationSignals();

    const fs::path spool = config->getString("paths.spool");
    const fs::path publish = config->getString("paths.publish");
    daemon::KeyUnlockSettings keySettings;
    keySettings.stateFolder = config->getString("paths.state");
    keySettings.tcti = config->getString("tpm.tcti", "device:/dev/tpmrm0");
    keySettings.pcrs = config->getString("tpm.pcrs", "sha256:7");
    const auto interval = std::chrono::milliseconds(config->getInt("ingest.interval_ms", 1000));

    std::mutex statusMutex;
    daemon::StaffStatus status;
    status.lockedReason = "starting";

    UnixHttpServerOptions serverOptions;
    serverOptions.socketPath = config->getString("paths.socket");
    serverOptions.socketGroup = config->getString("socket.group", "");
    serverOptions.maxThreads = 8;
    serverOptions.maxQueued = 32;
    UnixHttpServer server(serverOptions, daemon::makeStaffHandlerFactory([&] {
        std::lock_guard lock(statusMutex);
        return status;
    }));
    server.start();
    log::info("Serving the staff listener on '" + serverOptions.socketPath.string() + "'");

    auto outcome = daemon::unlockDatabase(keySettings);
    std::mutex databaseMutex;
    std::unique_ptr<storage::Ingester> ingester;
    std::unique_ptr<IngestLoop> loop;
    if (outcome.database) {
        auto& database = *outcome.database;
        if (outcome.created)
            log::securityEvent(kKeyCreatedId, "Created a new data key, sealed it with the TPM ("
                + keySettings.tcti + ", PCRs " + keySettings.pcrs + ") and created the database");
        log::info("Opened the database with SQLCipher " + database.cipherVersion());
        const auto intakeKey = storage::IntakeKeys(database).ensureCurrent(utcNow());
        storage::Publisher(publish).publish(intakeKey, utcNow());
        log::info("Published the intake key");
        ingester = std::make_unique<storage::Ingester>(database, databaseMutex, spool, spool / "quarantine");
        loop = std::make_unique<IngestLoop>(*ingester, interval);
        std::lock_guard lock(statusMutex);
        status.locked = false;
        status.lockedReason.clear();
        if (outcome.tpmWarning.empty()) {
            service::notifyReady("Database open; ingesting the spool");
        } else {
            log::warning("The TPM reports: " + outcome.tpmWarning
                + "; the data key is not affected, but check what failed authorisations");
            service::notifyReady("Database open; ingesting the spool; " + outcome.tpmWarning);
        }
    } else {
        log::securityEvent(kUnsealFailedId, "Database locked: " + outcome.lockedReason + " (TCTI "
            + keySettings.tcti + ")");
        std::lock_guard lock(statusMutex);
        status.lockedReason = outcome.lockedReason;
        service::notifyReady("Locked: " + outcome.lockedReason);
    }

    // The watchdog is fed only while the daemon answers on its own socket
    // and, when open, the ingester finished a pass recently.
    const auto stale = std::max(interval * 10, std::chrono::milliseconds(30000));
    WatchdogThread watchdog([&] {
        if (probeUnixSocket(serverOptions.socketPath, "/healthz", 2000) != 200)
            return false;
        return !loop || std::chrono::steady_clock::now() - loop->lastPass() < stale;
    });

    const int signalNumber = waitForTermination();
    log::info("Stopping on signal " + std::to_string(signalNumber));
    service::notifyStopping();
    loop.reset();
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
