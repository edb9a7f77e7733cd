// meldpunt-public: serves the public report site on a Unix socket behind
// the public nginx. It has no database key and cannot read a stored
// report; it only writes encrypted spool entries.

#include "Catalog.h"
#include "DaemonRuntime.h"
#include "Log.h"
#include "Pages.h"
#include "PublicSite.h"
#include "Service.h"
#include "Spool.h"
#include "UnixHttpServer.h"

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include <sys/stat.h>
#include <memory>

namespace fs = std::filesystem;
using namespace meldpunt;

namespace {

// Removes partial entries a killed predecessor left behind. No receipt was
// shown for them, because the receipt comes only after the rename.
void removePartialEntries(const fs::path& spool)
{
    std::error_code error;
    for (const auto& item : fs::directory_iterator(spool, error)) {
        const std::string name = item.path().filename().string();
        if (name.starts_with(".") && name.ends_with(spool::kPartialSuffix))
            fs::remove(item.path(), error);
    }
}

void sweepDrafts(site::PublicSite& site)
{
    try {
        if (const std::size_t swept = site.drafts().sweep(); swept > 0)
            log::info("Swept " + std::to_string(swept) + " expired or partial draft files");
    } catch (const std::system_error& error) {
        log::error(std::string("Failed to sweep the drafts folder: ") + error.what());
    }
}

int run(int argc, char** argv)
{
    auto config = loadConfiguration(argc, argv, "meldpunt-public");
    service::disableCoreDumps();
    ::umask(0077);
    blockTerminationSignals();

    const fs::path webui = config->getString("paths.webui");
    Catalog catalog(webui / "locale",
        config->getString("paths.iso_codes", "/usr/share/iso-codes/json/iso_3166-1.json"),
        config->getString("paths.system_locale", "/usr/share/locale"),
        splitList(config->getString("site.languages", "nl,en,fr,de,es,ru")));
    const std::string origin = config->getString("site.origin", "https://localhost:8443");
    Pages pages(webui / "templates", catalog, origin);

    site::PublicSiteConfig siteConfig;
    siteConfig.spoolFolder = config->getString("paths.spool");
    siteConfig.publishFolder = config->getString("paths.publish");
    siteConfig.origin = origin;
    siteConfig.maxReportBytes = config->getUInt64("limits.max_report_bytes", 1024 * 1024);
    siteConfig.reportBurst = config->getUInt("limits.report_burst", 10);
    siteConfig.reportRefillSeconds = config->getUInt("limits.report_refill_seconds", 180);
    siteConfig.draftsFolder = config->getString("paths.drafts");
    siteConfig.draftLifetime = std::chrono::seconds(config->getUInt64("drafts.lifetime_seconds", 7 * 24 * 3600));
    siteConfig.draftSaveBurst = config->getUInt("limits.draft_save_burst", 30);
    siteConfig.draftSaveRefillSeconds = config->getUInt("limits.draft_save_refill_seconds", 60);
    siteConfig.resumeLimits.clientBurst = config->getUInt("limits.resume_burst", 10);
    siteConfig.resumeLimits.clientRefill = std::chrono::seconds(config->getUInt("limits.resume_refill_seconds", 360));
    siteConfig.resumeLimits.globalBurst = config->getUInt("limits.resume_global_burst", 1000);
    siteConfig.receiptLimits.clientBurst = config->getUInt("limits.receipt_burst", 10);
    siteConfig.receiptLimits.clientRefill = std::chrono::seconds(config->getUInt("limits.receipt_refill_seconds", 360));
    siteConfig.receiptLimits.globalBurst = config->getUInt("limits.receipt_global_burst", 1000);
    siteConfig.receiptLimits.globalRefill = std::chrono::seconds(config->getUInt("limits.receipt_global_refill_seconds", 2));
    siteConfig.slowHashConcurrency = config->getUInt("limits.slow_hash_concurrency", 4);
    siteConfig.resumeLimits.globalRefill = std::chrono::seconds(config->getUInt("limits.resume_global_refill_seconds", 2));
    removePartialEntries(siteConfig.spoolFolder);
    site::PublicSite site(siteConfig, pages);
    sweepDrafts(site);

    // Sixteen workers serve the site while a few slow uploads stream in.
    // Up to 256 connections wait beyond them: a burst from the edge (500
    // visitors at once, in the benchmarks) queues instead of failing, and a
    // waiting connection costs a socket, not a thread.
    UnixHttpServerOptions serverOptions;
    serverOptions.socketPath = config->getString("paths.socket");
    serverOptions.socketGroup = config->getString("socket.group", "");
    serverOptions.maxThreads = 16;
    serverOptions.maxQueued = 256;
    UnixHttpServer server(serverOptions, site.handlerFactory());
    server.start();
    log::info("Serving the public site on '" + serverOptions.socketPath.string() + "'");

    WatchdogThread watchdog([&] { return probeUnixSocket(serverOptions.socketPath, "/healthz", 2000) == 200; });
    service::notifyReady("Serving the public site");

    // Visit counts go to meldpuntd every flush interval and at stop.
    const auto flushInterval = std::chrono::seconds(config->getUInt("limits.visit_flush_seconds", 600));
    std::mutex flushMutex;
    std::condition_variable flushWake;
    bool stopping = false;
    std::thread flusher([&] {
        std::unique_lock lock(flushMutex);
        while (!flushWake.wait_for(lock, flushInterval, [&] { return stopping; }))
            site.flushVisitCounts();
    });
    // Expired drafts are swept at start, before serving, and then every
    // sweep interval.
    const auto sweepInterval = std::chrono::seconds(config->getUInt("drafts.sweep_seconds", 600));
    std::thread sweeper([&] {
        std::unique_lock lock(flushMutex);
        while (!flushWake.wait_for(lock, sweepInterval, [&] { return stopping; }))
            sweepDrafts(site);
    });

    const int signalNumber = waitForTermination();
    log::info("Stopping on signal " + std::to_string(signalNumber));
    service::notifyStopping();
    server.stop();
    {
        std::lock_guard lock(flushMutex);
        stopping = true;
    }
    flushWake.notify_all();
    flusher.join();
    sweeper.join();
    site.flushVisitCounts();
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        return run(argc, argv);
    } catch (const std::exception& error) {
        log::error(std::string("Failed to run meldpunt-public: ") + error.what());
        return 1;
    }
}
