// meldpunt-bench-upload measures one large attachment on its way from a
// client to the receipt: a report with one file of --megabytes MiB (1024
// by default) sent with curl through the public edge, written encrypted by
// meldpunt-public as a held file, and moved into the spool as the entry's
// piece.
// It samples meldpunt-public's VmRSS every 20 ms during each upload and
// measures two references on the same machine and file system in the same
// run: `openssl speed -evp aes-256-gcm` and a write plus fsync of the same
// size with dd, once after each upload, since this virtual disk's speed
// moves from run to run. The appliance, the file and every load stay on loopback
// and in the bench's scratch folder. Results go to --out as
// upload-results.json and upload-results.md.

#include "Appliance.h"
#include "Reports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace meldpunt::test;
using Clock = std::chrono::steady_clock;

namespace {

struct Settings {
    std::uint64_t megabytes = 1024;
    int repetitions = 3;
    fs::path out = fs::path(MELDPUNT_BINARY_DIR) / "bench-results";
};

double median(std::vector<double> values)
{
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    const std::size_t middle = values.size() / 2;
    return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

std::string fixed(double value, int decimals = 1)
{
    std::ostringstream out;
    out.setf(std::ios::fixed);
    out.precision(decimals);
    out << value;
    return out.str();
}

// Writes `megabytes` MiB that libmagic reads as a PNG: the signature and
// header, then bytes from a fast generator, so that neither compression
// nor a search for the content could shortcut anything.
void writeUploadFile(const fs::path& path, std::uint64_t megabytes)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    const std::string header("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\x08\x06\0\0\0\x1f\x15\xc4\x89", 33);
    out << header;
    std::vector<std::uint64_t> block(1024 * 1024 / 8);
    std::uint64_t state = 0x9e3779b97f4a7c15ull;
    std::uint64_t remaining = megabytes * 1024 * 1024 - header.size();
    while (remaining > 0) {
        for (auto& word : block) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word = state;
        }
        const std::uint64_t take = std::min<std::uint64_t>(remaining, block.size() * 8);
        out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(take));
        remaining -= take;
    }
    if (!out)
        throw std::runtime_error("cannot write the upload file " + path.string());
}

std::optional<double> rssMib(pid_t pid)
{
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0)
            return std::strtod(line.c_str() + 6, nullptr) / 1024;
    }
    return std::nullopt;
}

// The pid of this process's meldpunt-public grandchild (the appliance
// starts it directly, or through setpriv, which execs it).
pid_t publicPid()
{
    const fs::path executable = fs::path(MELDPUNT_BINARY_DIR) / "daemon/public/meldpunt-public";
    for (const auto& item : fs::directory_iterator("/proc")) {
        const std::string name = item.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos)
            continue;
        std::error_code error;
        if (fs::read_symlink(item.path() / "exe", error) == executable && !error)
            return static_cast<pid_t>(std::stol(name));
    }
    return -1;
}

// Runs a command with a time limit and returns its standard output and
// error; throws when it fails.
std::string run(const std::vector<std::string>& command, const fs::path& log, std::chrono::seconds limit)
{
    // The fixture's log files are appended to, and each run must read
    // only its own output.
    fs::remove(log);
    Process process(command, {{}, log, {}});
    const auto status = process.wait(limit);
    if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
        throw std::runtime_error(command.front() + " failed or timed out: " + readFile(log));
    return readFile(log);
}

struct Upload {
    double seconds = 0;
    double peakRssMib = 0;
    double baselineRssMib = 0;
    int status = 0;
};

// curl's command for a valid report with `file` attached, posted to
// `address` and trusted through `caFile`.
std::vector<std::string> reportCommand(const fs::path& caFile, const fs::path& file, const fs::path& receipt,
    const std::string& address)
{
    std::vector<std::string> command = {"curl", "-sS", "--http1.1", "--max-time", "900", "--cacert", caFile.string(),
        "-o", receipt.string(), "-w", "%{http_code}"};
    for (const auto& [name, value] : validReport("Benchmark upload")) {
        if (name == "form_end")
            continue;
        command.push_back("-F");
        command.push_back(name + "=" + value);
    }
    command.push_back("-F");
    command.push_back("files=@" + file.string() + ";type=image/png");
    command.push_back("-F");
    command.push_back("form_end=1");
    command.push_back(address);
    return command;
}

Upload uploadOnce(const Appliance& appliance, const fs::path& file, const fs::path& scratch)
{
    const pid_t site = publicPid();
    Upload upload;
    upload.baselineRssMib = rssMib(site).value_or(0);
    std::atomic<bool> done{false};
    double peak = upload.baselineRssMib;
    std::thread sampler([&] {
        while (!done) {
            peak = std::max(peak, rssMib(site).value_or(0));
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    });
    const auto command = reportCommand(appliance.caFile(), file, scratch / "receipt.html",
        "https://localhost:" + std::to_string(appliance.publicPort()) + "/en/report");

    const auto start = Clock::now();
    const std::string output = run(command, scratch / "curl.log", std::chrono::seconds(960));
    upload.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    done = true;
    sampler.join();
    upload.peakRssMib = peak;
    upload.status = std::atoi(output.c_str());
    return upload;
}

// Reads one HTTP request from `connection` and drops it: the header, then
// as many body bytes as its Content-Length names. Then it sends status 200
// and the caller closes the connection.
void dropRequest(int connection)
{
    std::vector<char> buffer(256 * 1024);
    std::string header;
    std::uint64_t bodyLeft = 0;
    bool inBody = false;
    for (;;) {
        const ssize_t got = ::recv(connection, buffer.data(), buffer.size(), 0);
        if (got <= 0)
            break;
        if (inBody) {
            bodyLeft -= std::min<std::uint64_t>(bodyLeft, static_cast<std::uint64_t>(got));
        } else {
            header.append(buffer.data(), static_cast<std::size_t>(got));
            const auto end = header.find("\r\n\r\n");
            if (end == std::string::npos)
                continue;
            std::string lower = header.substr(0, end);
            std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
            const auto length = lower.find("content-length:");
            bodyLeft = length == std::string::npos ? 0 : std::strtoull(lower.c_str() + length + 15, nullptr, 10);
            bodyLeft -= std::min<std::uint64_t>(bodyLeft, header.size() - end - 4);
            inBody = true;
        }
        if (inBody && bodyLeft == 0)
            break;
    }
    const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    [[maybe_unused]] const ssize_t sent = ::send(connection, reply.data(), reply.size(), MSG_NOSIGNAL);
}

// Measures the same upload through an nginx of its own, with the edge's TLS
// protocols and TLS 1.3 suite order, its body buffer and unbuffered
// proxying, to a socket that drops the body, in MiB/s. An upload through
// the edge that also stores the file can only be slower on this machine.
double transportMibPerSecond(const Appliance& appliance, const fs::path& file, const fs::path& scratch,
    std::uint64_t megabytes)
{
    const fs::path folder = scratch / "transport";
    fs::create_directories(folder / "temp");
    const fs::path socketPath = folder / "sink.sock";
    fs::remove(socketPath);
    const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socketPath.c_str(), sizeof(address.sun_path) - 1);
    if (listener < 0 || ::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0
        || ::chmod(socketPath.c_str(), 0666) != 0 || ::listen(listener, 4) != 0)
        throw std::runtime_error("failed to listen on " + socketPath.string() + ": " + std::strerror(errno));
    std::thread sink([listener] {
        const int connection = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (connection >= 0) {
            dropRequest(connection);
            ::close(connection);
        }
    });

    const unsigned short port = freeLoopbackPort();
    const fs::path pki = appliance.caFile().parent_path();
    std::ofstream(folder / "nginx.conf")
        << "worker_processes 1;\npid " << (folder / "nginx.pid").string() << ";\nerror_log "
        << (folder / "error.log").string() << ";\nevents { worker_connections 16; }\nhttp {\n"
        << "  access_log off;\n  client_body_temp_path " << (folder / "temp").string() << ";\n"
        << "  proxy_temp_path " << (folder / "temp").string() << ";\n"
        << "  ssl_protocols TLSv1.2 TLSv1.3;\n  ssl_prefer_server_ciphers on;\n"
        << "  ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;\n"
        << "  ssl_ecdh_curve X25519:prime256v1:secp384r1;\n"
        << "  server {\n    listen 127.0.0.1:" << port << " ssl;\n"
        << "    ssl_certificate " << (pki / "server.pem").string() << ";\n"
        << "    ssl_certificate_key " << (pki / "server.key").string() << ";\n"
        << "    location / {\n      client_max_body_size 0;\n      client_body_buffer_size 256k;\n      proxy_request_buffering off;\n"
        << "      proxy_http_version 1.1;\n      proxy_pass http://unix:" << socketPath.string() << ";\n"
        << "    }\n  }\n}\n";
    const std::string nginx = fs::exists("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";
    Process server({nginx, "-p", folder.string(), "-c", (folder / "nginx.conf").string(), "-g", "daemon off;"},
        {{}, folder / "nginx-output.log"});
    const bool listening = waitFor(
        [&] {
            const int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in target{};
            target.sin_family = AF_INET;
            target.sin_port = htons(port);
            target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            const bool connected = ::connect(probe, reinterpret_cast<const sockaddr*>(&target), sizeof target) == 0;
            ::close(probe);
            return connected;
        },
        std::chrono::seconds(10));
    double result = 0;
    std::string failure;
    if (!listening) {
        failure = "nginx did not listen on port " + std::to_string(port) + ": " + server.log();
    } else {
        const auto start = Clock::now();
        try {
            run(reportCommand(appliance.caFile(), file, folder / "reply.txt", "https://localhost:" + std::to_string(port) + "/"),
                folder / "curl.log", std::chrono::seconds(960));
            result = static_cast<double>(megabytes) / std::chrono::duration<double>(Clock::now() - start).count();
        } catch (const std::exception& error) {
            failure = error.what();
        }
    }
    // A sink still waiting for a connection is woken by shutting its
    // listener down.
    ::shutdown(listener, SHUT_RDWR);
    sink.join();
    ::close(listener);
    server.terminate();
    if (!failure.empty())
        throw std::runtime_error("the transport reference failed: " + failure);
    return result;
}

// AES-256-GCM throughput of this machine's OpenSSL for 16 KiB blocks, in
// MiB/s.
double opensslGcmMibPerSecond(const fs::path& scratch, std::string& line)
{
    const std::string output = run({"openssl", "speed", "-evp", "aes-256-gcm", "-seconds", "3", "-bytes", "16384"},
        scratch / "openssl.log", std::chrono::seconds(60));
    // The result line: "AES-256-GCM  123456.78k" (thousands of bytes per second).
    const std::regex result(R"((?:aes-256-gcm|AES-256-GCM)\s+([0-9.]+)k)");
    std::smatch match;
    if (!std::regex_search(output, match, result))
        throw std::runtime_error("cannot read openssl speed's output: " + output);
    line = match.str(0);
    return std::stod(match.str(1)) * 1000 / (1024 * 1024);
}

// A write of `megabytes` MiB plus fsync on the file system of `folder`,
// in MiB/s.
double writeFsyncMibPerSecond(const fs::path& folder, std::uint64_t megabytes)
{
    const fs::path target = folder / "dd-reference";
    const auto start = Clock::now();
    run({"dd", "if=/dev/zero", "of=" + target.string(), "bs=1M", "count=" + std::to_string(megabytes), "conv=fsync"},
        folder / "dd.log", std::chrono::seconds(600));
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    fs::remove(target);
    return static_cast<double>(megabytes) / seconds;
}

int benchmark(const Settings& settings)
{
    fs::create_directories(settings.out);
    if (std::getenv("MELDPUNT_TEST_SCRATCH") == nullptr)
        ::setenv("MELDPUNT_TEST_SCRATCH", (fs::path(MELDPUNT_BINARY_DIR) / "bench-scratch").c_str(), 1);
    Appliance::Options options;
    options.maxFileBytes = (settings.megabytes + 1) * 1024 * 1024;
    options.maxUploadBytes = options.maxFileBytes;
    Appliance appliance("bench-upload", options);
    appliance.startAll();
    const fs::path scratch = appliance.root() / "bench";
    fs::create_directories(scratch);
    const fs::path file = scratch / "upload.png";
    writeUploadFile(file, settings.megabytes);

    std::vector<double> throughput;
    std::vector<double> growth;
    std::vector<double> peaks;
    std::vector<double> disks;
    std::vector<double> transports;
    for (int repetition = 0; repetition < settings.repetitions; ++repetition) {
        const Upload upload = uploadOnce(appliance, file, scratch);
        if (upload.status != 200 || referenceOnReceipt(readFile(scratch / "receipt.html")).empty())
            throw std::runtime_error("upload " + std::to_string(repetition) + " got status " + std::to_string(upload.status)
                + " and no receipt:\n" + appliance.publicLog());
        throughput.push_back(static_cast<double>(settings.megabytes) / upload.seconds);
        growth.push_back(upload.peakRssMib - upload.baselineRssMib);
        peaks.push_back(upload.peakRssMib);
        // meldpuntd ingests the entry before the next upload starts, so
        // its disk load does not overlap the measured one.
        appliance.waitForEmptySpool(std::chrono::seconds(900));
        disks.push_back(writeFsyncMibPerSecond(scratch, settings.megabytes));
        transports.push_back(transportMibPerSecond(appliance, file, scratch, settings.megabytes));
    }
    std::string opensslLine;
    const double gcm = opensslGcmMibPerSecond(scratch, opensslLine);
    const double disk = median(disks);
    const double transport = median(transports);
    fs::remove(file);

    const double measured = median(throughput);
    const double slower = std::min(gcm, disk);
    const bool throughputMet = measured >= slower / 2;
    const bool memoryMet = *std::max_element(growth.begin(), growth.end()) < 64;

    std::ofstream json(settings.out / "upload-results.json");
    json << "{\"megabytes\": " << settings.megabytes << ", \"repetitions\": " << settings.repetitions
         << ", \"upload_mib_per_s\": " << fixed(measured) << ", \"public_rss_growth_mib_max\": "
         << fixed(*std::max_element(growth.begin(), growth.end())) << ", \"public_rss_peak_mib_max\": "
         << fixed(*std::max_element(peaks.begin(), peaks.end())) << ", \"openssl_aes_256_gcm_mib_per_s\": "
         << fixed(gcm) << ", \"write_fsync_mib_per_s\": " << fixed(disk) << ", \"transport_mib_per_s\": " << fixed(transport)
         << ", \"throughput_target_met\": "
         << (throughputMet ? "true" : "false") << ", \"memory_target_met\": " << (memoryMet ? "true" : "false")
         << "}\n";
    std::ofstream table(settings.out / "upload-results.md");
    table << "| figure | median | runs |\n|---|---|---|\n";
    auto runs = [](const std::vector<double>& values) {
        std::string text;
        for (double value : values)
            text += (text.empty() ? "" : ", ") + fixed(value);
        return text;
    };
    table << "| upload of " << settings.megabytes << " MiB to receipt, MiB/s | " << fixed(measured) << " | "
          << runs(throughput) << " |\n";
    table << "| meldpunt-public VmRSS growth during the upload, MiB | " << fixed(median(growth)) << " | "
          << runs(growth) << " |\n";
    table << "| meldpunt-public peak VmRSS, MiB | " << fixed(median(peaks)) << " | " << runs(peaks) << " |\n";
    table << "| reference: openssl speed -evp aes-256-gcm (16 KiB blocks), MiB/s | " << fixed(gcm) << " | "
          << opensslLine << " |\n";
    table << "| reference: dd " << settings.megabytes << " MiB with conv=fsync, same file system, after each upload, MiB/s | "
          << fixed(disk) << " | " << runs(disks) << " |\n";
    table << "| bound: the same upload with curl through nginx's TLS and proxy to a socket that drops it, MiB/s | "
          << fixed(transport) << " | " << runs(transports) << " |\n";
    table << "\nTarget: at least half of the slower reference (" << fixed(slower / 2) << " MiB/s): "
          << (throughputMet ? "met" : "missed") << ". RSS growth under 64 MiB: " << (memoryMet ? "met" : "missed")
          << ".\n";
    table.close();
    std::cout << readFile(settings.out / "upload-results.md");
    return 0;
}

int usage()
{
    std::cerr << "usage: meldpunt-bench-upload [--megabytes N] [--repetitions N] [--out DIR]\n";
    return 2;
}

} // namespace

int main(int argc, char** argv)
{
    Settings settings;
    for (int index = 1; index < argc; index += 2) {
        if (index + 1 >= argc)
            return usage();
        const std::string name = argv[index];
        const std::string value = argv[index + 1];
        if (name == "--megabytes")
            settings.megabytes = std::stoull(value);
        else if (name == "--repetitions")
            settings.repetitions = std::stoi(value);
        else if (name == "--out")
            settings.out = value;
        else
            return usage();
    }
    if (settings.megabytes < 1 || settings.megabytes > 4096 || settings.repetitions < 1 || settings.repetitions > 10)
        return usage();
    try {
        return benchmark(settings);
    } catch (const std::exception& error) {
        std::cerr << "meldpunt-bench-upload: " << error.what() << "\n";
        return 1;
    }
}
