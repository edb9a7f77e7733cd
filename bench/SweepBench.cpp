// Measures what a retention sweep of many expired reports costs a reporter
// who sends a report meanwhile. One run of the appliance (swtpm, both daemons,
// the nginx edges) measures, for reports sent one after another over
// HTTPS:
//   - the receipt latency: POST /en/report until the receipt page;
//   - the ingestion lag: from the entry appearing in the spool until
//     meldpuntd removed it after its commit;
// first without a sweep (the reference), then while meldpuntd sweeps
// --reports closed reports that expired long ago, stored into its
// database while it was stopped. The sweep runs at meldpuntd's start, so
// the reports are sent from READY=1 until the sweep's log line. Results go
// to stdout and <out>/sweep-results.json.

#include "Appliance.h"
#include "Reports.h"
#include "StoredReports.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace meldpunt::test;
using Steady = std::chrono::steady_clock;

namespace {

struct Settings {
    int reports = 100000;
    double referenceSeconds = 60;
    int pauseMs = 100;
    int batch = 50;
    fs::path out = fs::path(MELDPUNT_BINARY_DIR) / "bench-results";
};

double percentile(std::vector<double> values, double share)
{
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    const auto rank = static_cast<std::size_t>(share * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(rank, values.size() - 1)];
}

double millisecondsSince(Steady::time_point start)
{
    return std::chrono::duration<double, std::milli>(Steady::now() - start).count();
}

std::string fixed(double value)
{
    std::ostringstream out;
    out.setf(std::ios::fixed);
    out.precision(1);
    out << value;
    return out.str();
}

// Watches the spool every 2 ms: when each .entry file appeared and when it
// went, which meldpuntd does right after committing it.
class SpoolWatcher {
public:
    explicit SpoolWatcher(fs::path folder)
        : folder_(std::move(folder))
        , thread_([this] {
            run();
        })
    {
    }
    ~SpoolWatcher()
    {
        stop_ = true;
        thread_.join();
    }
    // The lags of the entries gone since the last call, in ms.
    std::vector<double> takeLags()
    {
        std::lock_guard lock(mutex_);
        return std::exchange(lags_, {});
    }

private:
    void run()
    {
        while (!stop_) {
            const auto now = Steady::now();
            std::map<std::string, Steady::time_point> present;
            std::error_code error;
            for (const auto& item : fs::directory_iterator(folder_, error)) {
                const std::string name = item.path().filename().string();
                if (name.ends_with(".entry"))
                    present.emplace(name, seen_.contains(name) ? seen_[name] : now);
            }
            {
                std::lock_guard lock(mutex_);
                for (const auto& [name, since] : seen_)
                    if (!present.contains(name))
                        lags_.push_back(std::chrono::duration<double, std::milli>(now - since).count());
            }
            seen_ = std::move(present);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }

    fs::path folder_;
    std::atomic<bool> stop_ { false };
    std::mutex mutex_;
    std::map<std::string, Steady::time_point> seen_;
    std::vector<double> lags_;
    std::thread thread_;
};

struct Phase {
    std::vector<double> receipts;
    std::vector<double> lags;
    int errors = 0;
};

// Sends reports one after another, `pauseMs` apart, while `going` returns
// true.
Phase sendWhile(Appliance& appliance, SpoolWatcher& watcher, const Settings& settings,
    const std::function<bool()>& going)
{
    Phase phase;
    const auto client = appliance.publicClient();
    const std::string body
        = formBody(validReport("Fictional benchmark report, written only to measure the appliance during a sweep."));
    for (int sent = 0; sent < 1000000 && going(); ++sent) {
        const auto start = Steady::now();
        const auto response = client.post("/en/report", body);
        if (response.status == 200)
            phase.receipts.push_back(millisecondsSince(start));
        else
            ++phase.errors;
        std::this_thread::sleep_for(std::chrono::milliseconds(settings.pauseMs));
    }
    appliance.waitForEmptySpool(std::chrono::seconds(120));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    phase.lags = watcher.takeLags();
    return phase;
}

void describe(std::ostream& out, const std::string& name, const Phase& phase)
{
    out << "  \"" << name << "\": {\"reports\": " << phase.receipts.size() << ", \"errors\": " << phase.errors
        << ", \"receipt_p50_ms\": " << fixed(percentile(phase.receipts, 0.5))
        << ", \"receipt_p99_ms\": " << fixed(percentile(phase.receipts, 0.99))
        << ", \"ingestion_lag_p50_ms\": " << fixed(percentile(phase.lags, 0.5))
        << ", \"ingestion_lag_p99_ms\": " << fixed(percentile(phase.lags, 0.99)) << "}";
}

} // namespace

int main(int argc, char** argv)
{
    Settings settings;
    const char* usage = "usage: meldpunt-bench-sweep [--reports N] [--reference-seconds S] [--pause-ms MS] "
                        "[--batch ROWS] [--out FOLDER]\n";
    // Options come in pairs, so a lone option (--help, say) is not taken
    // for a run with the defaults, which lasts about half an hour.
    if (argc % 2 == 0) {
        std::cerr << usage;
        return 2;
    }
    for (int index = 1; index + 1 < argc; index += 2) {
        const std::string name = argv[index];
        const std::string value = argv[index + 1];
        if (name == "--reports")
            settings.reports = std::atoi(value.c_str());
        else if (name == "--reference-seconds")
            settings.referenceSeconds = std::atof(value.c_str());
        else if (name == "--pause-ms")
            settings.pauseMs = std::atoi(value.c_str());
        else if (name == "--batch")
            settings.batch = std::atoi(value.c_str());
        else if (name == "--out")
            settings.out = value;
        else {
            std::cerr << usage;
            return 2;
        }
    }
    if (settings.reports < 1 || settings.referenceSeconds <= 0 || settings.pauseMs < 0 || settings.batch < 1) {
        std::cerr << "--reports and --batch must be at least 1, --reference-seconds above 0\n";
        return 2;
    }
    try {
        Appliance::Options options;
        // Hourly sweeps: only the sweep at start falls in the run.
        options.extraDaemonConfig
            = "[retention]\nsweep_minutes = 60\nsweep_batch = " + std::to_string(settings.batch) + "\n";
        Appliance appliance("bench-sweep", options);
        appliance.startAll();
        if (!appliance.waitForIntakeKey())
            throw std::runtime_error("meldpuntd published no intake key");
        SpoolWatcher watcher(appliance.spoolFolder());

        // The reference: no sweep runs (the one at start found nothing).
        const auto referenceEnd = Steady::now() + std::chrono::duration<double>(settings.referenceSeconds);
        const Phase reference = sendWhile(appliance, watcher, settings, [&] {
            return Steady::now() < referenceEnd;
        });
        std::cerr << "reference: " << reference.receipts.size() << " reports\n";

        appliance.stopDaemon();
        const auto storing = Steady::now();
        addClosedReports(appliance.stateFolder(), appliance.tpm().tcti(), settings.reports, "2020-01-01T00:00:00Z");
        std::cerr << "stored " << settings.reports << " expired reports in " << fixed(millisecondsSince(storing) / 1000)
                  << " s\n";
        // The sweep's journal line, found by plain search: std::regex
        // recurses per character and overflows the stack on a long log.
        const std::string marker = "Retention sweep in ";
        const auto logBefore = appliance.daemonLog().size();
        long sweepMs = -1;
        long deleted = 0;
        auto sweepDone = [&] {
            const std::string log = appliance.daemonLog();
            for (auto at = log.find(marker, std::min(logBefore, log.size())); at != std::string::npos;
                 at = log.find(marker, at + 1)) {
                const char* text = log.c_str() + at + marker.size();
                char* end = nullptr;
                const long milliseconds = std::strtol(text, &end, 10);
                const std::string rest(end, std::min<std::size_t>(40, std::strlen(end)));
                if (!rest.starts_with(" ms: deleted "))
                    continue;
                const long reports = std::strtol(end + std::strlen(" ms: deleted "), nullptr, 10);
                if (reports > 0) {
                    sweepMs = milliseconds;
                    deleted = reports;
                    return true;
                }
            }
            return false;
        };
        appliance.startDaemon();
        const auto sweepLimit = Steady::now() + std::chrono::hours(1);
        const Phase during = sendWhile(appliance, watcher, settings, [&] {
            return !sweepDone() && Steady::now() < sweepLimit;
        });
        if (sweepMs < 0)
            throw std::runtime_error("meldpuntd logged no sweep that deleted reports within an hour");
        fs::create_directories(settings.out);
        std::ostringstream json;
        json << "{\n  \"expired_reports\": " << settings.reports << ",\n  \"deleted_reports\": " << deleted
             << ",\n  \"batch_rows\": " << settings.batch << ",\n  \"sweep_ms\": " << sweepMs << ",\n";
        describe(json, "without_sweep", reference);
        json << ",\n";
        describe(json, "during_sweep", during);
        json << "\n}\n";
        std::ofstream(settings.out / "sweep-results.json") << json.str();
        std::cout << json.str();
        if (deleted != settings.reports || reference.errors + during.errors > 0) {
            std::cerr << "the sweep deleted " << deleted << " of " << settings.reports << " reports; "
                      << reference.errors + during.errors << " reports failed\n";
            return 1;
        }
    } catch (const std::exception& error) {
        std::cerr << "meldpunt-bench-sweep: " << error.what() << "\n";
        return 1;
    }
    return 0;
}
