#include "HealthChecks.h"

#include "Crypto.h"
#include "FileSystem.h"
#include "Log.h"
#include "RunMarker.h"
#include "Spool.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include <sys/statvfs.h>
#include <sys/timex.h>

namespace meldpunt::staff {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDefaultTimeSyncFile = "/run/systemd/timesync/synchronized";

std::optional<std::uint64_t> statvfsFreeBytes(const fs::path& path)
{
    struct statvfs info {};
    if (::statvfs(path.c_str(), &info) != 0)
        return std::nullopt;
    return static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
}

// adjtimex() with no mode bits set only reads the kernel's state, which
// chrony, ntpd and systemd-timesyncd all keep. A seccomp filter (systemd's
// ProtectClock=) may reject the call, and then the marker file of
// systemd-timesyncd is used.
std::optional<bool> kernelClockSynchronised()
{
    struct timex state {};
    const int result = ::adjtimex(&state);
    if (result == -1) {
        std::error_code error;
        return fs::exists(kDefaultTimeSyncFile, error);
    }
    return result != TIME_ERROR && (state.status & STA_UNSYNC) == 0;
}

// The end of a PEM certificate's validity; nullopt with `problem` set when
// the file cannot be read or parsed.
std::optional<TimePoint> certificateEnd(const fs::path& file, std::string& problem)
{
    std::string pem;
    try {
        pem = fsutil::readSmallFile(file, 256 * 1024);
    } catch (const std::exception& error) {
        problem = error.what();
        return std::nullopt;
    }
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
    std::unique_ptr<X509, decltype(&X509_free)> certificate(
        bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, X509_free);
    if (!certificate) {
        problem = "it holds no PEM certificate";
        return std::nullopt;
    }
    std::tm end {};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(certificate.get()), &end) != 1) {
        problem = "its end date cannot be read";
        return std::nullopt;
    }
    return std::chrono::system_clock::from_time_t(::timegm(&end));
}

} // namespace

HealthProbes systemProbes(const fs::path& timeSyncFile)
{
    HealthProbes probes;
    probes.freeBytes = statvfsFreeBytes;
    if (timeSyncFile.empty()) {
        probes.clockSynchronised = kernelClockSynchronised;
    } else {
        probes.clockSynchronised = [timeSyncFile]() -> std::optional<bool> {
            std::error_code error;
            return fs::exists(timeSyncFile, error);
        };
    }
    return probes;
}

void HealthBoard::publish(std::vector<HealthCondition> conditions)
{
    std::lock_guard lock(mutex_);
    conditions_ = std::move(conditions);
}

std::vector<HealthCondition> HealthBoard::conditions() const
{
    std::lock_guard lock(mutex_);
    return conditions_;
}

HealthMonitor::HealthMonitor(HealthSettings settings, Clock clock, HealthProbes probes)
    : settings_(std::move(settings))
    , clock_(std::move(clock))
    , probes_(std::move(probes))
{
}

bool HealthMonitor::markStarted()
{
    return service::RunMarker(settings_.stateFolder, service::kDaemonRunName).start(clock_());
}

void HealthMonitor::markStopped()
{
    service::RunMarker(settings_.stateFolder, service::kDaemonRunName).stop();
}

std::vector<HealthCondition> HealthMonitor::check(bool locked, const std::string& lockedReason)
{
    const TimePoint now = clock_();
    std::vector<HealthCondition> found;
    if (locked) {
        found.push_back({HealthKind::Locked, "locked", "The database is locked", lockedReason,
            "Type the recovery key on the staff listener's start page, then find out why the TPM did not "
            "release the key (docs/recovery.md)."});
    }
    checkSpool(found, now);
    checkDisk(found);
    checkCertificates(found, now);
    checkBackup(found);
    checkUncleanStops(found, now);
    if (probes_.clockSynchronised) {
        const auto synchronised = probes_.clockSynchronised();
        if (synchronised && !*synchronised) {
            found.push_back({HealthKind::ClockUnsynchronised, "clock_unsynchronised",
                "The clock is not synchronised", "",
                "Check the time service (timedatectl timesync-status) and that the box reaches its time "
                "server. Deadlines, sessions and second-factor codes depend on the clock."});
        }
    }
    return found;
}

void HealthMonitor::checkSpool(std::vector<HealthCondition>& found, TimePoint now)
{
    std::vector<fs::path> entries;
    try {
        entries = spool::listEntries(settings_.spoolFolder);
    } catch (const std::exception& error) {
        found.push_back({HealthKind::SpoolBacklog, "spool_backlog", "The spool cannot be read", error.what(),
            "Check that the spool folder exists and that meldpuntd may read it."});
        return;
    }
    if (entries.empty())
        return;
    // listEntries sorts by modification time, the oldest first.
    std::error_code error;
    const auto written = fs::last_write_time(entries.front(), error);
    if (error)
        return;
    const auto age = now - std::chrono::file_clock::to_sys(written);
    if (age < settings_.spoolMaxAge)
        return;
    const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(age).count();
    found.push_back({HealthKind::SpoolBacklog, "spool_backlog", "Reports are waiting in the spool",
        std::to_string(entries.size()) + " entries, the oldest " + std::to_string(minutes) + " minutes old",
        "meldpuntd is not storing reports: check that the database is open and read the journal of "
        "meldpuntd.service for ingestion errors."});
}

void HealthMonitor::checkUncleanStops(std::vector<HealthCondition>& found, TimePoint now)
{
    // meldpunt-public keeps its marker in the spool, the only folder it
    // shares with meldpuntd.
    const struct {
        const char* daemon;
        const fs::path& folder;
        const char* id;
        const char* title;
    } daemons[] = {
        {service::kDaemonRunName, settings_.stateFolder, "unclean_stop", "meldpuntd did not stop cleanly"},
        {service::kPublicRunName, settings_.spoolFolder, "unclean_stop_public", "meldpunt-public did not stop cleanly"},
    };
    for (const auto& daemon : daemons) {
        const auto startedAt = service::lastUncleanStart(daemon.folder, daemon.daemon);
        if (!startedAt || now - *startedAt >= settings_.restartNoticeFor)
            continue;
        found.push_back({HealthKind::UncleanStop, daemon.id, daemon.title, "restarted at " + formatUtc(*startedAt),
            std::string("The watchdog restarted it, or it crashed, was killed or lost power. Read the journal of ")
                + daemon.daemon + ".service before that time for the cause."});
    }
}

void HealthMonitor::checkDisk(std::vector<HealthCondition>& found)
{
    if (!probes_.freeBytes)
        return;
    const std::uint64_t minimum = settings_.minFreeMebibytes * 1024 * 1024;
    for (const auto& folder : {settings_.stateFolder, settings_.spoolFolder}) {
        const auto free = probes_.freeBytes(folder);
        if (!free || *free >= minimum)
            continue;
        found.push_back({HealthKind::DiskLow, "disk_low:" + folder.string(), "Disk space is low",
            folder.string() + ": " + std::to_string(*free / (1024 * 1024)) + " MiB free",
            "Free space on this file system: move old backups off the box, or give it a larger disk. A full "
            "disk stops new reports."});
    }
}

void HealthMonitor::checkCertificates(std::vector<HealthCondition>& found, TimePoint now)
{
    for (const auto& file : settings_.certificateFiles) {
        std::string problem;
        const auto end = certificateEnd(file, problem);
        if (!end) {
            found.push_back({HealthKind::CertificateExpiring, "certificate:" + file.string(),
                "A certificate cannot be checked", file.string() + ": " + problem,
                "Check the path in [health] certificates and that meldpuntd may read the file."});
            continue;
        }
        if (*end - now >= settings_.certificateWarning)
            continue;
        const auto daysLeft = std::chrono::floor<std::chrono::days>(*end - now).count();
        found.push_back({HealthKind::CertificateExpiring, "certificate:" + file.string(),
            "A certificate expires soon",
            file.string() + ": " + (daysLeft < 0 ? "expired at " : "valid until ") + formatUtc(*end)
                + (daysLeft < 0 ? "" : " (" + std::to_string(daysLeft) + " days)"),
            "Install a renewed certificate in /etc/meldpunt/tls/ and restart the edge unit that uses it."});
    }
}

void HealthMonitor::checkBackup(std::vector<HealthCondition>& found)
{
    const fs::path file = settings_.stateFolder / kBackupOutcomeFile;
    std::error_code error;
    if (!fs::exists(file, error))
        return;
    std::string text;
    try {
        text = fsutil::readSmallFile(file, 16 * 1024);
    } catch (const std::exception&) {
        return;
    }
    std::istringstream lines(text);
    std::string outcome;
    std::string at;
    std::string cause;
    std::getline(lines, outcome);
    std::getline(lines, at);
    std::getline(lines, cause);
    if (outcome != "failed")
        return;
    found.push_back({HealthKind::BackupFailed, "backup_failed", "The scheduled backup failed",
        at + ": " + cause,
        "Fix the cause (a full or missing backup folder, a TPM that does not release the key) and check that the "
        "next backup succeeds; until then the newest backup is older than planned."});
}

void recordBackupOutcome(const fs::path& stateFolder, bool succeeded, const std::string& error, TimePoint at)
{
    std::string cause = error;
    std::replace(cause.begin(), cause.end(), '\n', ' ');
    const std::string text = std::string(succeeded ? "succeeded" : "failed") + "\n" + formatUtc(at) + "\n" + cause + "\n";
    fsutil::writeFileAtomically(stateFolder / kBackupOutcomeFile, crypto::asBytes(text), 0600);
}

AlertLedger::AlertLedger(fs::path file)
    : file_(std::move(file))
{
}

std::vector<std::string> AlertLedger::read() const
{
    std::vector<std::string> ids;
    std::ifstream input(file_);
    for (std::string line; std::getline(input, line);)
        if (!line.empty())
            ids.push_back(line);
    return ids;
}

std::vector<HealthCondition> AlertLedger::unmailed(const std::vector<HealthCondition>& active) const
{
    const auto mailed = read();
    std::vector<HealthCondition> due;
    for (const auto& condition : active)
        if (std::find(mailed.begin(), mailed.end(), condition.id) == mailed.end())
            due.push_back(condition);
    return due;
}

void AlertLedger::update(const std::vector<HealthCondition>& active, const std::vector<HealthCondition>& mailed)
{
    std::set<std::string> activeIds;
    for (const auto& condition : active)
        activeIds.insert(condition.id);
    const auto previous = read();
    std::set<std::string> kept;
    for (const auto& id : previous)
        if (activeIds.contains(id))
            kept.insert(id);
    for (const auto& condition : mailed)
        kept.insert(condition.id);
    // The file is rewritten only when the set changed, not at every check.
    if (kept == std::set<std::string>(previous.begin(), previous.end()))
        return;
    std::string text;
    for (const auto& id : kept)
        text += id + "\n";
    fsutil::writeFileAtomically(file_, crypto::asBytes(text), 0600);
}

} // namespace meldpunt::staff
