// meldpunt-bench starts a whole appliance of its own: swtpm, meldpuntd,
// meldpunt-public and the nginx edges, on free loopback ports and in a
// scratch folder. It measures the appliance with wrk and runs the reference
// loops beside it, then writes the results as JSON and as a Markdown table. Every load goes to
// 127.0.0.1 on the ports this appliance chose, and every loop is bounded in
// count and in time. The figures are measurements: targets are reported as
// met or missed, never turned into a failing exit status.

#include "Appliance.h"
#include "Reports.h"

#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace meldpunt::test;
using Clock = std::chrono::steady_clock;

namespace {

struct Settings {
    double seconds = 10;   // length of each load run
    int repetitions = 3;   // runs per figure; the median is reported
    int startups = 5;      // daemon restarts for the start-up figure
    fs::path out = fs::path(MELDPUNT_BINARY_DIR) / "bench-results";
    // "form" measures only the form page against the static file, and
    // "post" only the report POST against the fsync loops. Both print the
    // medians and are quick enough to compare two builds. Empty runs
    // everything and writes the results.
    std::string only;
};

// One measured quantity: every run's value and the command that produced
// them.
struct Figure {
    std::string id;
    std::string label;
    std::string unit;
    std::string command;
    std::vector<double> runs;
    std::vector<std::string> details; // per run, where a number needs words
};

double median(std::vector<double> values)
{
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    const std::size_t middle = values.size() / 2;
    return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

double maximum(const std::vector<double>& values)
{
    return values.empty() ? 0 : *std::max_element(values.begin(), values.end());
}

double secondsSince(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

void pause(double seconds)
{
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

std::string joined(const std::vector<std::string>& words)
{
    std::string line;
    for (const auto& word : words)
        line += (line.empty() ? "" : " ") + word;
    return line;
}

std::string jsonString(const std::string& text)
{
    std::string out = "\"";
    for (const char c : text) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char escaped[8];
                std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
                out += escaped;
            } else {
                out += c;
            }
        }
    }
    return out + "\"";
}

std::string number(double value, int decimals = 1)
{
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    return text;
}

// Runs a command to its end, or for at most `timeout` seconds, with its
// output in a log file, and returns that output. While it runs, `during`
// is called about every 100 ms (to sample memory use, say).
template <typename During>
std::string runBounded(const std::vector<std::string>& command, const fs::path& log, double timeout, During during)
{
    // The log is appended to, so an earlier run's output must go first.
    fs::remove(log);
    Process process(command, Process::Options{{}, log, {}});
    const auto start = Clock::now();
    while (process.running() && secondsSince(start) < timeout) {
        during();
        pause(0.1);
    }
    const auto status = process.terminate(std::chrono::seconds(5));
    const std::string output = readFile(log);
    if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
        throw std::runtime_error(command.front() + " failed or timed out:\n" + output);
    return output;
}

std::string runBounded(const std::vector<std::string>& command, const fs::path& log, double timeout)
{
    return runBounded(command, log, timeout, [] {});
}

// Reads a "name=value" number from a line of text.
double field(const std::string& line, const std::string& name)
{
    const auto at = line.find(" " + name + "=");
    if (at == std::string::npos)
        throw std::runtime_error("no " + name + " in: " + line);
    return std::strtod(line.c_str() + at + name.size() + 2, nullptr);
}

// Reads a number from the one-line JSON object of a reference loop.
double jsonField(const std::string& text, const std::string& name)
{
    const auto at = text.find("\"" + name + "\":");
    if (at == std::string::npos)
        throw std::runtime_error("no " + name + " in: " + text);
    return std::strtod(text.c_str() + at + name.size() + 3, nullptr);
}

struct WrkResult {
    double requestsPerSecond = 0;
    double p99Ms = 0;
    double errors = 0; // socket errors, timeouts and responses of 400 and up
    double requests = 0;
    std::string errorDetail;
    std::string command;
};

template <typename During>
WrkResult runWrk(const Appliance& appliance, const std::string& path, int connections, double seconds,
    const std::string& postBodyFile, During during)
{
    std::vector<std::string> command = {"wrk", "-t2", "-c" + std::to_string(connections),
        "-d" + number(seconds, 0) + "s", "--timeout", "10s", "-s",
        (fs::path(MELDPUNT_SOURCE_DIR) / "bench/wrk-measure.lua").string(),
        "https://127.0.0.1:" + std::to_string(appliance.publicPort()) + path};
    if (!postBodyFile.empty()) {
        command.push_back("--");
        command.push_back(postBodyFile);
    }
    const std::string output
        = runBounded(command, appliance.root() / "logs/wrk.log", seconds + 60, during);
    const auto at = output.find("WRK-RESULT");
    if (at == std::string::npos)
        throw std::runtime_error("wrk printed no result:\n" + output);
    const std::string line = " " + output.substr(at + 11, output.find('\n', at) - at - 11);
    WrkResult result;
    result.requestsPerSecond = field(line, "requests") / (field(line, "duration_us") / 1e6);
    result.p99Ms = field(line, "p99_us") / 1000;
    result.errors = field(line, "connect") + field(line, "read") + field(line, "write") + field(line, "status")
        + field(line, "timeout");
    result.requests = field(line, "requests");
    result.errorDetail = "connect " + number(field(line, "connect"), 0) + ", read " + number(field(line, "read"), 0)
        + ", write " + number(field(line, "write"), 0) + ", status>=400 " + number(field(line, "status"), 0)
        + ", timeout " + number(field(line, "timeout"), 0);
    result.command = joined(command);
    return result;
}

// The children of this process, which are the appliance's processes and
// nothing else: other appliances (tests, a development run) may run
// daemons of the same name on the machine, so no process is ever looked
// up by name.
struct Child {
    pid_t pid;
    std::string exe;
    std::string commandLine;
};

std::vector<Child> childrenOf(pid_t parentPid)
{
    std::vector<Child> children;
    for (const auto& item : fs::directory_iterator("/proc")) {
        const std::string name = item.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos)
            continue;
        std::ifstream stat(item.path() / "stat");
        std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        const auto close = text.rfind(')');
        if (close == std::string::npos)
            continue;
        std::istringstream rest(text.substr(close + 2));
        std::string state;
        long parent = 0;
        rest >> state >> parent;
        if (parent != parentPid)
            continue;
        Child child{static_cast<pid_t>(std::stol(name)), {}, {}};
        std::error_code ignored;
        child.exe = fs::read_symlink(item.path() / "exe", ignored).string();
        // Another build may replace the binary while it runs, and the
        // kernel then marks the link's target as deleted.
        const std::string deleted = " (deleted)";
        if (child.exe.ends_with(deleted))
            child.exe.resize(child.exe.size() - deleted.size());
        std::ifstream cmdline(item.path() / "cmdline");
        std::string arguments((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
        std::replace(arguments.begin(), arguments.end(), '\0', ' ');
        child.commandLine = arguments;
        children.push_back(child);
    }
    return children;
}

std::vector<Child> ownChildren()
{
    return childrenOf(::getpid());
}

// User and system CPU seconds that a process has used so far.
double cpuSeconds(pid_t pid)
{
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto close = text.rfind(')');
    if (close == std::string::npos)
        return 0;
    std::istringstream rest(text.substr(close + 2));
    std::string skip;
    // After the name come state (field 3) to stime (field 15).
    for (int index = 3; index < 14; ++index)
        rest >> skip;
    double user = 0;
    double system = 0;
    rest >> user >> system;
    return (user + system) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// CPU seconds of the public edge's nginx workers, the children of its
// master process.
double edgeWorkersCpu(pid_t master)
{
    double total = 0;
    for (const auto& worker : childrenOf(master))
        total += cpuSeconds(worker.pid);
    return total;
}

pid_t childRunning(const fs::path& executable, const std::string& argumentPart = {})
{
    for (const auto& child : ownChildren()) {
        if (child.exe == executable.string() && child.commandLine.find(argumentPart) != std::string::npos)
            return child.pid;
    }
    throw std::runtime_error("no child process runs " + executable.string());
}

pid_t daemonPid()
{
    return childRunning(fs::path(MELDPUNT_BINARY_DIR) / "daemon/meldpuntd/meldpuntd");
}

pid_t publicPid()
{
    return childRunning(fs::path(MELDPUNT_BINARY_DIR) / "daemon/public/meldpunt-public");
}

// VmRSS and VmHWM of a process in MiB, or nullopt once it is gone.
struct Memory {
    double rss = 0;
    double hwm = 0;
};

std::optional<Memory> memoryOf(pid_t pid)
{
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    if (!status)
        return std::nullopt;
    Memory memory;
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0)
            memory.rss = std::strtod(line.c_str() + 6, nullptr) / 1024;
        else if (line.rfind("VmHWM:", 0) == 0)
            memory.hwm = std::strtod(line.c_str() + 6, nullptr) / 1024;
    }
    return memory;
}

std::size_t spoolEntries(const Appliance& appliance, std::uintmax_t* size = nullptr)
{
    std::size_t count = 0;
    for (const auto& item : fs::directory_iterator(appliance.spoolFolder())) {
        if (item.path().extension() != ".entry")
            continue;
        if (size != nullptr && count == 0)
            *size = item.file_size();
        ++count;
    }
    return count;
}

std::string replaceAll(std::string text, const std::string& from, const std::string& to, int& replaced)
{
    replaced = 0;
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
        ++replaced;
    }
    return text;
}

// Points the public edge of this appliance at a scratch copy of the web UI
// that also contains the rendered form page as a static file, lifts the
// per-address connection limit and reloads nginx. Only the rendered
// configuration in the scratch folder changes. The repository's template
// and the shared build tree stay as they are.
void prepareStaticReference(Appliance& appliance, const std::string& formHtml)
{
    const fs::path webui = fs::path(MELDPUNT_BINARY_DIR) / "webui";
    const fs::path copy = appliance.root() / "webui-copy";
    fs::copy(webui, copy, fs::copy_options::recursive);
    std::ofstream(copy / "static" / "bench-form.html", std::ios::binary) << formHtml;
    for (const auto& item : fs::recursive_directory_iterator(copy))
        fs::permissions(item.path(), item.is_directory() ? fs::perms(0755) : fs::perms(0644));
    fs::permissions(copy, fs::perms(0755));

    const fs::path configuration = appliance.root() / "edge-public" / "nginx.conf";
    std::string text = readFile(configuration);
    int replaced = 0;
    text = replaceAll(text, webui.string(), copy.string(), replaced);
    if (replaced == 0)
        throw std::runtime_error("the edge configuration does not name " + webui.string());
    // wrk connects from 127.0.0.1 alone, while real reporters come from
    // many addresses. With the shipped limit of 20 requests in progress per
    // address, nginx would reject most of the load with 429.
    text = replaceAll(text, "limit_conn per_client 20;", "limit_conn per_client 65535;", replaced);
    if (replaced != 1)
        throw std::runtime_error("the edge configuration no longer has the expected per-address limit");
    std::ofstream(configuration, std::ios::trunc) << text;
    fs::permissions(configuration, fs::perms(0644));

    const pid_t edge = childRunning("/usr/sbin/nginx", configuration.string());
    ::kill(edge, SIGHUP);
    const bool served = waitFor(
        [&] {
            try {
                return appliance.publicClient().get("/static/bench-form.html").status == 200;
            } catch (const std::exception&) {
                return false;
            }
        },
        std::chrono::seconds(15));
    if (!served)
        throw std::runtime_error("nginx did not serve the static copy after a reload:\n" + appliance.edgeLog());
    // The old workers finish their connections and leave.
    pause(1);
}

std::string cpuModel()
{
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("model name", 0) == 0)
            return line.substr(line.find(':') + 2);
    }
    return "unknown";
}

std::string utcDate()
{
    const std::time_t now = std::time(nullptr);
    std::tm parts{};
    gmtime_r(&now, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

// One row of the summary: a figure, its reference if any, and the target.
struct Row {
    std::string benchmark;
    const Figure* measured;
    const Figure* reference;
    std::string target;
    std::optional<bool> met;
};

// Returns the word for a row's target: met, missed, or none set.
const char* metText(const Row& row, const char* met, const char* missed, const char* none)
{
    if (!row.met)
        return none;
    return *row.met ? met : missed;
}

class Bench {
public:
    explicit Bench(Settings settings)
        : settings_(std::move(settings))
    {
    }

    int run();

private:
    Figure& figure(const std::string& id, const std::string& label, const std::string& unit)
    {
        figures_.push_back(std::make_unique<Figure>(Figure{id, label, unit, {}, {}, {}}));
        return *figures_.back();
    }
    void measureStartup(Appliance& appliance);
    void measureFormPage(Appliance& appliance);
    void measureReports(Appliance& appliance);
    void writeResults(const std::vector<Row>& rows);

    Settings settings_;
    std::vector<std::unique_ptr<Figure>> figures_;
    std::map<std::string, Figure*> byId_;

    Figure* find(const std::string& id) { return byId_.at(id); }
    Figure& add(const std::string& id, const std::string& label, const std::string& unit)
    {
        auto& created = figure(id, label, unit);
        byId_[id] = &created;
        return created;
    }
};

void Bench::measureStartup(Appliance& appliance)
{
    auto& startup = add("daemon_startup", "meldpuntd start to READY=1 (swtpm, unseal, open)", "ms");
    startup.command = "Appliance::startDaemon() after stopDaemon(), timed by the driver (20 ms polling)";
    for (int run = 0; run < settings_.startups; ++run) {
        appliance.stopDaemon();
        const auto start = Clock::now();
        appliance.startDaemon();
        startup.runs.push_back(secondsSince(start) * 1000);
        bool ready = false;
        for (const auto& message : appliance.daemonNotifications())
            ready = ready || message.find("READY=1") != std::string::npos;
        if (!ready)
            throw std::runtime_error("meldpuntd exited without READY=1:\n" + appliance.daemonLog());
        std::cerr << "start-up " << run + 1 << ": " << number(startup.runs.back()) << " ms\n";
    }
}

void Bench::measureFormPage(Appliance& appliance)
{
    const auto page = appliance.publicClient().get("/en/report");
    if (page.status != 200)
        throw std::runtime_error("GET /en/report returned status " + std::to_string(page.status));
    const pid_t site = publicPid();
    double sitePeak = 0;
    auto sample = [&] {
        if (auto memory = memoryOf(site))
            sitePeak = std::max(sitePeak, memory->rss);
    };

    // First with the edge exactly as shipped, to show what one address
    // meets at these concurrencies.
    for (const int connections : {50, 500}) {
        const std::string suffix = "_c" + std::to_string(connections);
        auto& rate = add("form_shipped_rps" + suffix, "GET /en/report as shipped, " + std::to_string(connections) + " conns", "req/s");
        auto& errors = add("form_shipped_errors" + suffix, "errors (mostly 429)", "count");
        for (int run = 0; run < settings_.repetitions; ++run) {
            const auto result = runWrk(appliance, "/en/report", connections, settings_.seconds, {}, sample);
            rate.runs.push_back(result.requestsPerSecond);
            errors.runs.push_back(result.errors);
            errors.details.push_back(result.errorDetail);
            rate.command = errors.command = result.command;
            std::cerr << "form as shipped c" << connections << ": " << number(result.requestsPerSecond) << " req/s, "
                      << result.errors << " errors\n";
        }
    }

    prepareStaticReference(appliance, page.body);
    for (const int connections : {50, 500}) {
        const std::string suffix = "_c" + std::to_string(connections);
        const std::string conns = std::to_string(connections) + " conns";
        add("form_rps" + suffix, "GET /en/report (rendered), " + conns, "req/s");
        add("form_p99" + suffix, "GET /en/report p99, " + conns, "ms");
        add("form_errors" + suffix, "GET /en/report errors, " + conns, "count");
        add("static_rps" + suffix, "same page as a static file, " + conns, "req/s");
        add("static_p99" + suffix, "static page p99, " + conns, "ms");
        add("static_errors" + suffix, "static page errors, " + conns, "count");
        add("form_cpu_public" + suffix, "meldpunt-public CPU per form GET, " + conns, "ms");
        add("form_cpu_edge" + suffix, "nginx workers' CPU per form GET, " + conns, "ms");
        add("static_cpu_edge" + suffix, "nginx workers' CPU per static GET, " + conns, "ms");
    }
    for (const char* id : {"form_cpu_public_c50", "form_cpu_public_c500", "form_cpu_edge_c50", "form_cpu_edge_c500",
             "static_cpu_edge_c50", "static_cpu_edge_c500"})
        find(id)->command = "utime+stime from /proc/PID/stat before and after the wrk run, divided by its requests";
    const pid_t edge = childRunning("/usr/sbin/nginx", (appliance.root() / "edge-public/nginx.conf").string());
    // Form and static runs alternate, so that drift in the machine's load
    // touches both alike.
    for (int run = 0; run < settings_.repetitions; ++run) {
        for (const int connections : {50, 500}) {
            const std::string suffix = "_c" + std::to_string(connections);
            for (const std::string kind : {"form", "static"}) {
                // Workers that exit during a run (after a reload) take their
                // CPU time with them, so the edge figure is a lower bound.
                const double publicBefore = cpuSeconds(site);
                const double edgeBefore = edgeWorkersCpu(edge);
                const auto result = runWrk(appliance, kind == "form" ? "/en/report" : "/static/bench-form.html",
                    connections, settings_.seconds, {}, sample);
                const double requests = std::max(1.0, result.requests);
                if (kind == "form")
                    find("form_cpu_public" + suffix)->runs.push_back((cpuSeconds(site) - publicBefore) * 1000 / requests);
                find(kind + "_cpu_edge" + suffix)->runs.push_back((edgeWorkersCpu(edge) - edgeBefore) * 1000 / requests);
                find(kind + "_errors" + suffix)->details.push_back(result.errorDetail);
                find(kind + "_rps" + suffix)->runs.push_back(result.requestsPerSecond);
                find(kind + "_p99" + suffix)->runs.push_back(result.p99Ms);
                find(kind + "_errors" + suffix)->runs.push_back(result.errors);
                for (const char* metric : {"_rps", "_p99", "_errors"})
                    find(kind + metric + suffix)->command = result.command;
                std::cerr << kind << " c" << connections << ": " << number(result.requestsPerSecond) << " req/s, p99 "
                          << number(result.p99Ms) << " ms, errors: " << result.errorDetail << "\n";
            }
        }
    }
    add("public_rss_form_load", "meldpunt-public peak VmRSS during the GET runs", "MiB").runs.push_back(sitePeak);
}

void Bench::measureReports(Appliance& appliance)
{
    // A report of ordinary length; the text is made up for measuring only.
    std::string text;
    while (text.size() < 600)
        text += "Fictional benchmark report text, written only to measure the appliance. ";
    const fs::path bodyFile = appliance.root() / "bench-post-body.txt";
    std::ofstream(bodyFile, std::ios::binary) << formBody(validReport(text));
    fs::permissions(bodyFile, fs::perms(0644));
    // The loops write into a hidden folder inside the spool folder, which
    // the ingester and meldpunt-public pass over. So their files come from
    // the same part of the file system as the spool entries, and the
    // ingester's mass deletes affect both alike.
    const fs::path referenceFolder = appliance.spoolFolder() / ".bench-fsync";
    fs::create_directories(referenceFolder);
    struct stat spoolStat {}, referenceStat {};
    if (::stat(appliance.spoolFolder().c_str(), &spoolStat) != 0
        || ::stat(referenceFolder.c_str(), &referenceStat) != 0 || spoolStat.st_dev != referenceStat.st_dev)
        throw std::runtime_error("the reference folder is not on the spool's file system");

    auto& postRate = add("post_rps", "POST /en/report until the receipt, 50 conns", "reports/s");
    auto& postP99 = add("post_p99", "POST p99", "ms");
    auto& postErrors = add("post_errors", "POST errors", "count");
    auto& fsyncRate = add("fsync_loop_rps", "bare write+fsync+rename+fsync-folder loop, 1 thread", "files/s");
    auto& fsyncP99 = add("fsync_loop_p99", "bare loop p99, 1 thread", "ms");
    auto& fsyncRate16 = add("fsync_loop16_rps", "the same loop in 16 threads (concurrent writers, as meldpunt-public's form workers are)", "files/s");
    auto& fsyncP99_16 = add("fsync_loop16_p99", "bare loop p99, 16 threads", "ms");
    auto& entrySize = add("spool_entry_bytes", "spool entry size", "bytes");
    auto& spooled = add("ingest_entries", "entries spooled before the daemon starts (N)", "count");
    entrySize.command = "size of the first .entry file in the spool after the POST run";
    spooled.command = "count of .entry files in the spool after the POST run";
    auto& ingestRate = add("ingest_rps", "ingestion, daemon start to empty spool", "reports/s");
    auto& ingestReadyRate = add("ingest_rps_after_ready", "ingestion, READY=1 to empty spool", "reports/s");
    auto& sqlRate = add("sqlcipher_loop_rps", "bare SQLCipher insert-and-commit loop", "commits/s");
    auto& publicRss = add("public_rss_post_load", "meldpunt-public peak VmRSS during POST runs", "MiB");
    auto& daemonRss = add("daemon_rss_ingest_load", "meldpuntd peak VmRSS during ingestion", "MiB");
    auto& daemonHwm = add("daemon_hwm_ingest_load", "meldpuntd VmHWM after ingestion", "MiB");

    const pid_t site = publicPid();
    for (int run = 0; run < settings_.repetitions; ++run) {
        // meldpuntd stays stopped while reports come in, so the POST figure
        // is the path up to the receipt alone and the entries stay for the
        // ingestion figure.
        appliance.stopDaemon();
        double peak = 0;
        const auto result = runWrk(appliance, "/en/report", 50, settings_.seconds, bodyFile.string(), [&] {
            if (auto memory = memoryOf(site))
                peak = std::max(peak, memory->rss);
        });
        postRate.runs.push_back(result.requestsPerSecond);
        postP99.runs.push_back(result.p99Ms);
        postErrors.runs.push_back(result.errors);
        postErrors.details.push_back(result.errorDetail);
        postRate.command = postP99.command = postErrors.command = result.command;
        publicRss.runs.push_back(peak);
        std::uintmax_t size = 0;
        const std::size_t entries = spoolEntries(appliance, &size);
        if (entries == 0)
            throw std::runtime_error("the POST run spooled nothing:\n" + appliance.publicLog());
        entrySize.runs.push_back(static_cast<double>(size));
        spooled.runs.push_back(static_cast<double>(entries));
        std::cerr << "post: " << number(result.requestsPerSecond) << " reports/s, p99 " << number(result.p99Ms)
                  << " ms, " << result.errors << " errors, " << entries << " entries of " << size << " bytes\n";

        // The loops run right after the POST run and keep their files
        // until the end, so that both meet the same file system. On ext4
        // without a journal, perf showed file creation spending most of
        // its time in recently_deleted() after a mass delete, so a delete
        // between the two runs would slow only the second.
        for (const int threads : {1, 16}) {
            const std::vector<std::string> fsyncCommand = {MELDPUNT_BENCH_SPOOL_WRITE, "--folder",
                (referenceFolder / (std::to_string(run) + "-" + std::to_string(threads))).string(), "--size", std::to_string(size), "--count", "1000000", "--seconds",
                number(settings_.seconds, 0), "--threads", std::to_string(threads), "--keep"};
            const std::string fsyncOutput
                = runBounded(fsyncCommand, appliance.root() / "logs/fsync-loop.log", settings_.seconds + 120);
            auto& rate = threads == 1 ? fsyncRate : fsyncRate16;
            auto& p99 = threads == 1 ? fsyncP99 : fsyncP99_16;
            rate.runs.push_back(jsonField(fsyncOutput, "per_second"));
            p99.runs.push_back(jsonField(fsyncOutput, "p99_ms"));
            rate.command = p99.command = joined(fsyncCommand);
            std::cerr << "fsync loop, " << threads << " thread(s): " << number(rate.runs.back()) << " files/s\n";
        }

        if (settings_.only == "post") {
            // A quick look at the POST path alone: the entries stay in the
            // spool, and the ingestion and SQLCipher figures are left out.
        } else {
            const auto start = Clock::now();
            appliance.startDaemon();
            const auto ready = Clock::now();
            const pid_t daemon = daemonPid();
            double daemonPeak = 0;
            double daemonHighWater = 0;
            const double limit = 900;
            while (spoolEntries(appliance) > 0 && secondsSince(start) < limit) {
                if (auto memory = memoryOf(daemon)) {
                    daemonPeak = std::max(daemonPeak, memory->rss);
                    daemonHighWater = std::max(daemonHighWater, memory->hwm);
                }
                pause(0.05);
            }
            const double total = secondsSince(start);
            const double afterReady = secondsSince(ready);
            if (spoolEntries(appliance) > 0)
                throw std::runtime_error("the spool did not empty within " + number(limit, 0) + " s");
            if (auto memory = memoryOf(daemon))
                daemonHighWater = std::max(daemonHighWater, memory->hwm);
            ingestRate.runs.push_back(static_cast<double>(entries) / total);
            ingestReadyRate.runs.push_back(static_cast<double>(entries) / afterReady);
            daemonRss.runs.push_back(daemonPeak);
            daemonHwm.runs.push_back(daemonHighWater);
            ingestRate.command = ingestReadyRate.command
                = "Appliance::startDaemon() with the POST run's entries spooled, then polling the spool every 50 ms";
            std::cerr << "ingest: " << entries << " entries in " << number(total, 2) << " s ("
                      << number(ingestRate.runs.back()) << " reports/s)\n";
        }

        if (settings_.only == "post")
            continue;
        const std::vector<std::string> sqlCommand = {MELDPUNT_BENCH_SQLCIPHER, "--database",
            (appliance.root() / "bench-sqlcipher.db").string(), "--size", std::to_string(size), "--count",
            std::to_string(entries), "--seconds", "600"};
        const std::string sqlOutput = runBounded(sqlCommand, appliance.root() / "logs/sqlcipher-loop.log", 700);
        sqlRate.runs.push_back(jsonField(sqlOutput, "per_second"));
        sqlRate.command = joined(sqlCommand);
        std::cerr << "sqlcipher loop: " << number(sqlRate.runs.back()) << " commits/s\n";
    }
    fs::remove_all(referenceFolder);
}

int Bench::run()
{
    fs::create_directories(settings_.out);
    if (std::getenv("MELDPUNT_TEST_SCRATCH") == nullptr)
        ::setenv("MELDPUNT_TEST_SCRATCH", (fs::path(MELDPUNT_BINARY_DIR) / "bench-scratch").c_str(), 1);

    // The site limits how many reports one address may send. wrk sends
    // every report from 127.0.0.1, so the limit is raised well above what
    // the POST runs can send (about 1,500 reports/s at most on two cores).
    Appliance::Options options;
    options.reportBurst = 1'000'000;
    Appliance appliance("bench", options);
    appliance.startAll();
    // Idle means started, with no request received yet.
    pause(2);
    const auto idlePublic = memoryOf(publicPid());
    const auto idleDaemon = memoryOf(daemonPid());
    add("public_rss_idle", "meldpunt-public VmRSS idle", "MiB").runs.push_back(idlePublic ? idlePublic->rss : 0);
    add("daemon_rss_idle", "meldpuntd VmRSS idle", "MiB").runs.push_back(idleDaemon ? idleDaemon->rss : 0);
    for (const char* id : {"public_rss_idle", "daemon_rss_idle"})
        find(id)->command = "VmRSS from /proc/PID/status of the driver's own child, 2 s after start";

    if (settings_.only == "form") {
        measureFormPage(appliance);
        for (const char* id : {"form_cpu_public_c50", "form_cpu_edge_c50", "static_cpu_edge_c50", "form_cpu_public_c500",
                 "form_cpu_edge_c500", "static_cpu_edge_c500"})
            std::cerr << id << ": " << number(median(find(id)->runs), 4) << " ms\n";
        return 0;
    }
    if (settings_.only == "post") {
        measureReports(appliance);
        for (const char* id : {"post_rps", "post_p99", "post_errors", "fsync_loop_rps", "fsync_loop16_rps"})
            std::cerr << id << ": " << number(median(find(id)->runs), 1) << "\n";
        return 0;
    }
    measureStartup(appliance);
    measureFormPage(appliance);
    measureReports(appliance);
    appliance.startDaemon();
    if (auto memory = memoryOf(publicPid()))
        add("public_hwm_end", "meldpunt-public VmHWM after all loads", "MiB").runs.push_back(memory->hwm);
    find("public_hwm_end")->command = "VmHWM from /proc/PID/status of the driver's own child";
    for (const char* id : {"public_rss_form_load", "public_rss_post_load", "daemon_rss_ingest_load", "daemon_hwm_ingest_load"})
        find(id)->command = "VmRSS sampled every 50-100 ms from /proc/PID/status of the driver's own child";

    auto ratioRow = [&](const std::string& name, const std::string& measured, const std::string& reference,
                        const std::string& target, double minimumRatio) {
        const Figure* a = find(measured);
        const Figure* b = find(reference);
        const bool met = median(b->runs) > 0 && median(a->runs) / median(b->runs) >= minimumRatio;
        return Row{name, a, b, target, met};
    };
    auto limitRow = [&](const std::string& name, const std::string& measured, const std::string& target,
                        double limit, bool useMaximum) {
        const Figure* a = find(measured);
        const double value = useMaximum ? maximum(a->runs) : median(a->runs);
        return Row{name, a, nullptr, target, value < limit};
    };
    std::vector<Row> rows = {
        ratioRow("Form GET, 50 conns", "form_rps_c50", "static_rps_c50", ">= 0.5 x static", 0.5),
        Row{"Form GET p99, 50 conns", find("form_p99_c50"), find("static_p99_c50"), "-", std::nullopt},
        Row{"  meldpunt-public CPU per form GET, 50 conns", find("form_cpu_public_c50"), nullptr, "-", std::nullopt},
        Row{"  nginx CPU per GET, form vs static, 50 conns", find("form_cpu_edge_c50"), find("static_cpu_edge_c50"), "-", std::nullopt},
        limitRow("Form GET errors, 50 conns", "form_errors_c50", "0", 1, true),
        ratioRow("Form GET, 500 conns", "form_rps_c500", "static_rps_c500", ">= 0.5 x static", 0.5),
        Row{"Form GET p99, 500 conns", find("form_p99_c500"), find("static_p99_c500"), "-", std::nullopt},
        limitRow("Form GET errors, 500 conns", "form_errors_c500", "0", 1, true),
        Row{"Form GET as shipped (limit 20/address), 500 conns", find("form_shipped_rps_c500"), nullptr, "-", std::nullopt},
        Row{"  errors as shipped, 500 conns", find("form_shipped_errors_c500"), nullptr, "-", std::nullopt},
        ratioRow("Report POST to receipt vs 1-thread loop", "post_rps", "fsync_loop_rps", ">= 0.5 x bare loop", 0.5),
        ratioRow("Report POST to receipt vs 16-thread loop", "post_rps", "fsync_loop16_rps", ">= 0.5 x bare loop", 0.5),
        Row{"Report POST p99 vs 16-thread loop", find("post_p99"), find("fsync_loop16_p99"), "-", std::nullopt},
        limitRow("Report POST errors", "post_errors", "0", 1, true),
        Row{"Ingestion (from daemon start)", find("ingest_rps"), find("sqlcipher_loop_rps"), "-", std::nullopt},
        Row{"Ingestion (from READY=1)", find("ingest_rps_after_ready"), find("sqlcipher_loop_rps"), "-", std::nullopt},
        Row{"  entries per ingestion run (N)", find("ingest_entries"), nullptr, "-", std::nullopt},
        Row{"  spool entry size", find("spool_entry_bytes"), nullptr, "-", std::nullopt},
        limitRow("meldpunt-public VmRSS idle", "public_rss_idle", "< 100 MiB", 100, true),
        limitRow("meldpunt-public peak VmRSS, GET load", "public_rss_form_load", "< 100 MiB", 100, true),
        limitRow("meldpunt-public peak VmRSS, POST load", "public_rss_post_load", "< 100 MiB", 100, true),
        limitRow("meldpunt-public VmHWM after all loads", "public_hwm_end", "< 100 MiB", 100, true),
        limitRow("meldpuntd VmRSS idle", "daemon_rss_idle", "< 100 MiB", 100, true),
        limitRow("meldpuntd peak VmRSS, ingestion", "daemon_rss_ingest_load", "< 100 MiB", 100, true),
        limitRow("meldpuntd VmHWM, ingestion", "daemon_hwm_ingest_load", "< 100 MiB", 100, true),
        limitRow("meldpuntd start-up to READY=1", "daemon_startup", "< 1000 ms", 1000, false),
    };
    writeResults(rows);
    return 0;
}

void Bench::writeResults(const std::vector<Row>& rows)
{
    utsname system{};
    ::uname(&system);
    const std::string date = utcDate();
    const std::string machine = std::to_string(std::thread::hardware_concurrency()) + " CPUs, " + cpuModel()
        + ", Linux " + system.release;

    std::ofstream json(settings_.out / "results.json");
    json << "{\n  \"date\": " << jsonString(date) << ",\n  \"machine\": {\"nproc\": "
         << std::thread::hardware_concurrency() << ", \"cpu\": " << jsonString(cpuModel())
         << ", \"kernel\": " << jsonString(system.release) << "},\n  \"settings\": {\"seconds\": "
         << number(settings_.seconds, 1) << ", \"repetitions\": " << settings_.repetitions
         << ", \"startups\": " << settings_.startups << "},\n  \"figures\": [\n";
    for (std::size_t index = 0; index < figures_.size(); ++index) {
        const auto& item = *figures_[index];
        json << "    {\"id\": " << jsonString(item.id) << ", \"label\": " << jsonString(item.label)
             << ", \"unit\": " << jsonString(item.unit) << ", \"median\": " << number(median(item.runs), 3)
             << ", \"runs\": [";
        for (std::size_t run = 0; run < item.runs.size(); ++run)
            json << (run == 0 ? "" : ", ") << number(item.runs[run], 3);
        json << "], \"details\": [";
        for (std::size_t run = 0; run < item.details.size(); ++run)
            json << (run == 0 ? "" : ", ") << jsonString(item.details[run]);
        json << "], \"command\": " << jsonString(item.command) << "}" << (index + 1 < figures_.size() ? "," : "")
             << "\n";
    }
    json << "  ],\n  \"targets\": [\n";
    for (std::size_t index = 0; index < rows.size(); ++index) {
        const auto& row = rows[index];
        json << "    {\"benchmark\": " << jsonString(row.benchmark) << ", \"measured\": " << jsonString(row.measured->id)
             << ", \"reference\": " << (row.reference ? jsonString(row.reference->id) : "null")
             << ", \"target\": " << jsonString(row.target) << ", \"met\": "
             << metText(row, "true", "false", "null") << "}" << (index + 1 < rows.size() ? "," : "")
             << "\n";
    }
    json << "  ]\n}\n";

    std::ostringstream table;
    table << "Measured " << date << " on " << machine << "; " << settings_.repetitions << " run(s) of "
          << number(settings_.seconds, 0) << " s per load figure, medians shown.\n\n"
          << "| Benchmark | Measured (median) | Reference (median) | Ratio | Target | Met |\n"
          << "| --- | --- | --- | --- | --- | --- |\n";
    for (const auto& row : rows) {
        const double value = median(row.measured->runs);
        const int decimals = row.measured->unit == "ms" && value < 10 ? 2 : 1;
        table << "| " << row.benchmark << " | " << number(value, decimals) << " " << row.measured->unit << " | ";
        if (row.reference != nullptr) {
            const double reference = median(row.reference->runs);
            table << number(reference, decimals) << " " << row.reference->unit << " | "
                  << (reference > 0 ? number(value / reference, 2) : "-") << " | ";
        } else {
            table << "- | - | ";
        }
        table << row.target << " | " << metText(row, "yes", "**no**", "-") << " |\n";
    }
    table << "\nRuns and commands:\n\n";
    for (const auto& item : figures_) {
        table << "- `" << item->id << "` (" << item->unit << "): ";
        for (std::size_t run = 0; run < item->runs.size(); ++run)
            table << (run == 0 ? "" : ", ") << number(item->runs[run], item->unit == "ms" ? 2 : 1)
                  << (run < item->details.size() ? " (" + item->details[run] + ")" : "");
        table << "; `" << item->command << "`\n";
    }
    std::ofstream(settings_.out / "results.md") << table.str();
    std::cout << table.str();
}

int usage()
{
    std::cerr << "usage: meldpunt-bench [--seconds S] [--repetitions N] [--startups N] [--out DIR] [--only form|post]\n";
    return 2;
}

} // namespace

int main(int argc, char** argv)
{
    Settings settings;
    for (int index = 1; index < argc; ++index) {
        const std::string name = argv[index];
        if (index + 1 >= argc)
            return usage();
        const std::string value = argv[++index];
        if (name == "--seconds")
            settings.seconds = std::stod(value);
        else if (name == "--repetitions")
            settings.repetitions = std::stoi(value);
        else if (name == "--startups")
            settings.startups = std::stoi(value);
        else if (name == "--out")
            settings.out = value;
        else if (name == "--only" && (value == "form" || value == "post"))
            settings.only = value;
        else
            return usage();
    }
    if (settings.seconds < 1 || settings.seconds > 120 || settings.repetitions < 1 || settings.repetitions > 20
        || settings.startups < 1 || settings.startups > 50)
        return usage();
    try {
        return Bench(settings).run();
    } catch (const std::exception& error) {
        std::cerr << "meldpunt-bench: " << error.what() << "\n";
        return 1;
    }
}
