// meldpunt-public: serves the public report site on a Unix socket behind
// the public nginx. It has no database key and cannot read a stored
// report; it only writes encrypted spool entries.

#include "Catalog.h"
#include "DaemonRuntime.h"
#include "Log.h"
#include "Pages.h"
#include "PublicSite.h"
#include "RunMarker.h"
#include "Service.h"
#include "Spool.h"
#include "UnixHttpServer.h"

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

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

// Puts the held files that a killed predecessor had moved beside an entry
// it never committed back into their forms, so that the reporter, who saw
// no receipt, can send the form again with them. meldpuntd removes a stored
// entry's pieces before the entry, so a piece without its entry belongs to
// no report. One that no form is waiting for is removed.
void returnOrphanPieces(const fs::path& spool, const site::HeldUploads& heldUploads)
{
    std::error_code error;
    for (const auto& item : fs::directory_iterator(spool, error)) {
        const std::string name = item.path().filename().string();
        const std::string uuid = name.substr(0, name.find('.'));
        if (!name.ends_with(spool::kPieceSuffix) || fs::exists(spool / (uuid + spool::kEntrySuffix)))
            continue;
        try {
            if (heldUploads.returnPiece(item.path())) {
                log::info("Returned piece '" + name + "' of an uncommitted entry to its form");
                continue;
            }
        } catch (const std::system_error& failure) {
            log::error("Failed to return piece '" + name + "' to its form, so it is removed: " + failure.what());
        }
        std::error_code removeError;
        fs::remove(item.path(), removeError);
    }
}

void sweepHeldUploads(site::PublicSite& site)
{
    try {
        const std::size_t removed = site.heldUploads().sweep(std::chrono::system_clock::now());
        if (removed > 0)
            log::info("Removed the held uploads of " + std::to_string(removed) + " expired forms");
    } catch (const std::system_error& error) {
        log::error(std::string("Failed to sweep the held uploads: ") + error.what());
    }
}

// Runs tasks, each on its own thread at its own interval, until stop().
class PeriodicTasks {
public:
    ~PeriodicTasks() { stop(); }

    void every(std::chrono::seconds interval, std::function<void()> task)
    {
        threads_.emplace_back([this, interval, task = std::move(task)] {
            std::unique_lock lock(mutex_);
            while (!wake_.wait_for(lock, interval, [&] { return stopping_; })) {
                lock.unlock();
                task();
                lock.lock();
            }
        });
    }

    void stop()
    {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (auto& thread : threads_) {
            if (thread.joinable())
                thread.join();
        }
    }

private:
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

// Reads the site's settings from public.ini. Drafts and the files held for
// an unsent form are kept equally long by default, so a resumed draft still
// has its files.
site::PublicSiteConfig readSiteConfig(const Poco::Util::AbstractConfiguration& config, const std::string& origin)
{
    site::PublicSiteConfig site;
    site.spoolFolder = config.getString("paths.spool");
    site.publishFolder = config.getString("paths.publish");
    site.origin = origin;
    site.maxReportBytes = config.getUInt64("limits.max_report_bytes", 1024 * 1024);
    site.reportBurst = config.getUInt("limits.report_burst", 10);
    site.reportRefillSeconds = config.getUInt("limits.report_refill_seconds", 180);

    site.draftsFolder = config.getString("paths.drafts");
    site.draftLifetime = std::chrono::seconds(config.getUInt64("drafts.lifetime_seconds", 7 * 24 * 3600));
    site.draftSaveBurst = config.getUInt("limits.draft_save_burst", 30);
    site.draftSaveRefillSeconds = config.getUInt("limits.draft_save_refill_seconds", 60);
    site.resumeLimits.clientBurst = config.getUInt("limits.resume_burst", 10);
    site.resumeLimits.clientRefill = std::chrono::seconds(config.getUInt("limits.resume_refill_seconds", 360));
    site.resumeLimits.globalBurst = config.getUInt("limits.resume_global_burst", 1000);
    site.resumeLimits.globalRefill = std::chrono::seconds(config.getUInt("limits.resume_global_refill_seconds", 2));
    site.receiptLimits.clientBurst = config.getUInt("limits.receipt_burst", 10);
    site.receiptLimits.clientRefill = std::chrono::seconds(config.getUInt("limits.receipt_refill_seconds", 360));
    site.receiptLimits.globalBurst = config.getUInt("limits.receipt_global_burst", 1000);
    site.receiptLimits.globalRefill = std::chrono::seconds(config.getUInt("limits.receipt_global_refill_seconds", 2));
    site.slowHashConcurrency = config.getUInt("limits.slow_hash_concurrency", 4);

    site.uploadsFolder = config.getString("paths.uploads");
    site.maxFileBytes = config.getUInt64("limits.max_file_bytes", site.maxFileBytes);
    site.maxUploadBytes = config.getUInt64("limits.max_upload_bytes", site.maxUploadBytes);
    site.maxFiles = config.getUInt("limits.max_files", static_cast<unsigned>(site.maxFiles));
    site.uploadHoldTime = std::chrono::seconds(
        config.getUInt64("limits.upload_hold_seconds", static_cast<std::uint64_t>(site.draftLifetime.count())));
    return site;
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

    const site::PublicSiteConfig siteConfig = readSiteConfig(*config, origin);
    removePartialEntries(siteConfig.spoolFolder);
    // The marker is in the spool, where meldpuntd's health check reads the
    // record of an unclean stop and shows it to admins.
    service::RunMarker runMarker(siteConfig.spoolFolder, service::kPublicRunName);
    try {
        if (runMarker.start(std::chrono::system_clock::now()))
            log::warning("The previous run of meldpunt-public did not stop cleanly (a watchdog restart, a crash, a "
                         "kill or a power loss); the staff interface shows this to admins");
    } catch (const std::exception& error) {
        // Only the unclean-stop check depends on the marker, so the site
        // starts without it.
        log::error(std::string("Failed to write the running marker in the spool: ") + error.what());
    }
    site::PublicSite site(siteConfig, pages);
    // No upload runs yet, so every unfinished held file is a remnant.
    site.heldUploads().removeUnfinished();
    returnOrphanPieces(siteConfig.spoolFolder, site.heldUploads());
    sweepDrafts(site);

    // Pages and form bodies are served by two pools on two sockets; the
    // edge sends every POST to the second. A form body arrives at the
    // sender's pace, so a slow or hostile sender holds a worker for as long
    // as it keeps trickling. With its own pool, even all of those workers
    // held at once leave the pages pool free: the form still opens for
    // everyone else. Connections beyond a pool wait in its queue, so a
    // burst queues instead of failing; a waiting connection costs a socket,
    // not a thread, and an idle worker costs little more than its stack.
    UnixHttpServerOptions pageOptions;
    pageOptions.socketPath = config->getString("paths.socket");
    pageOptions.socketGroup = config->getString("socket.group", "");
    // The edge's idle connections each hold a worker here, so the pool
    // has 32 workers more than those can ever take.
    pageOptions.maxThreads = pagePoolSize(32);
    pageOptions.maxQueued = 1024;
    UnixHttpServerOptions formOptions = pageOptions;
    formOptions.socketPath = config->getString(
        "paths.forms_socket", (pageOptions.socketPath.parent_path() / "forms.sock").string());
    formOptions.maxThreads = static_cast<int>(std::clamp(config->getUInt("limits.form_workers", 128), 4u, 1024u));
    UnixHttpServer pageServer(pageOptions, site.handlerFactory());
    UnixHttpServer formServer(formOptions, site.handlerFactory());
    pageServer.start();
    formServer.start();
    log::info("Serving the public site on '" + pageOptions.socketPath.string() + "' and its forms on '"
        + formOptions.socketPath.string() + "'");

    WatchdogThread watchdog([&] {
        return probeUnixSocket(pageOptions.socketPath, "/healthz", 2000) == 200
            && probeUnixSocket(formOptions.socketPath, "/healthz", 2000) == 200;
    });
    service::notifyReady("Serving the public site");

    // Visit counts go to meldpuntd every flush interval and at stop. Held
    // uploads of unused forms are removed every minute, or sooner with a
    // short hold time, and expired drafts every drafts.sweep_seconds.
    PeriodicTasks tasks;
    tasks.every(std::chrono::seconds(config->getUInt("limits.visit_flush_seconds", 600)),
        [&] { site.flushVisitCounts(); });
    tasks.every(std::clamp<std::chrono::seconds>(
                    siteConfig.uploadHoldTime, std::chrono::seconds(1), std::chrono::seconds(60)),
        [&] { sweepHeldUploads(site); });
    tasks.every(std::chrono::seconds(config->getUInt("drafts.sweep_seconds", 600)), [&] { sweepDrafts(site); });

    const int signalNumber = waitForTermination();
    log::info("Stopping on signal " + std::to_string(signalNumber));
    service::notifyStopping();
    pageServer.stop();
    formServer.stop();
    tasks.stop();
    site.flushVisitCounts();
    runMarker.stop();
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
