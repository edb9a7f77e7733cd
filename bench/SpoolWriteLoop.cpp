// The reference for the report POST benchmark: the bare file system cost of
// what meldpunt-public does before it sends a receipt. Each iteration
// writes one file of the given size, fsyncs it, renames it to its final
// name and fsyncs the folder, as the spool writer does, with nothing else
// around it (no HTTP, no TLS, no encryption). With --threads T, T threads
// run the loop at once on their own files, as meldpunt-public's request
// threads do. The file system may then fold their fsyncs into shared
// journal commits. The loop stops after `count` files in all or `seconds`,
// whichever comes first, and prints one JSON line. It removes its files
// afterwards unless --keep is given.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace fs = std::filesystem;

namespace {

[[noreturn]] void failWith(const std::string& what)
{
    throw std::system_error(errno, std::generic_category(), what);
}

void writeAll(int fd, const std::vector<unsigned char>& data)
{
    std::size_t written = 0;
    while (written < data.size()) {
        const ssize_t result = ::write(fd, data.data() + written, data.size() - written);
        if (result < 0) {
            if (errno == EINTR)
                continue;
            failWith("write");
        }
        written += static_cast<std::size_t>(result);
    }
}

int usage()
{
    std::fprintf(stderr, "usage: meldpunt-bench-spool-write --folder DIR --size BYTES --count N --seconds S [--threads T] [--keep]\n");
    return 2;
}

} // namespace

int main(int argc, char** argv)
{
    fs::path folder;
    std::size_t size = 0;
    long count = 0;
    double seconds = 0;
    int threads = 1;
    bool keep = false;
    for (int index = 1; index < argc; index += 2) {
        const std::string name = argv[index];
        if (name == "--keep") {
            keep = true;
            --index;
            continue;
        }
        if (index + 1 >= argc)
            return usage();
        const char* value = argv[index + 1];
        if (name == "--folder")
            folder = value;
        else if (name == "--size")
            size = std::strtoul(value, nullptr, 10);
        else if (name == "--count")
            count = std::strtol(value, nullptr, 10);
        else if (name == "--seconds")
            seconds = std::strtod(value, nullptr);
        else if (name == "--threads")
            threads = std::atoi(value);
        else
            return usage();
    }
    if (folder.empty() || size == 0 || count <= 0 || seconds <= 0 || threads < 1 || threads > 256)
        return usage();

    try {
        fs::create_directories(folder);

        // Spool entries are ciphertext, so the reference writes bytes that
        // look random too, in case the file system treats runs specially.
        std::vector<unsigned char> data(size);
        std::mt19937 random(12345);
        for (auto& byte : data)
            byte = static_cast<unsigned char>(random());

        std::atomic<long> claimed{0};
        std::atomic<long> done{0};
        std::mutex mutex;
        std::vector<double> latencies;
        std::string failure;
        const auto start = std::chrono::steady_clock::now();
        const auto deadline = start + std::chrono::duration<double>(seconds);
        auto name = [&](long index, const char* suffix) { return folder / ("ref-" + std::to_string(index) + suffix); };
        auto loop = [&] {
            std::vector<double> own;
            try {
                const int folderFd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (folderFd < 0)
                    failWith("opening " + folder.string());
                while (std::chrono::steady_clock::now() < deadline) {
                    const long index = claimed++;
                    if (index >= count)
                        break;
                    const auto begin = std::chrono::steady_clock::now();
                    const fs::path temporary = name(index, ".tmp");
                    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                    if (fd < 0)
                        failWith("creating " + temporary.string());
                    writeAll(fd, data);
                    if (::fsync(fd) != 0)
                        failWith("fsync of a file");
                    ::close(fd);
                    if (::rename(temporary.c_str(), name(index, ".done").c_str()) != 0)
                        failWith("rename");
                    if (::fsync(folderFd) != 0)
                        failWith("fsync of the folder");
                    own.push_back(
                        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count());
                    ++done;
                }
                ::close(folderFd);
            } catch (const std::exception& error) {
                std::lock_guard lock(mutex);
                failure = error.what();
            }
            std::lock_guard lock(mutex);
            latencies.insert(latencies.end(), own.begin(), own.end());
        };
        std::vector<std::thread> workers;
        for (int index = 0; index < threads; ++index)
            workers.emplace_back(loop);
        for (auto& worker : workers)
            worker.join();
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

        // Removing the files is not part of what is measured.
        const long written = claimed.load() < count ? claimed.load() : count;
        for (long index = 0; index < written && !keep; ++index) {
            fs::remove(name(index, ".done"));
            fs::remove(name(index, ".tmp"));
        }
        if (!failure.empty())
            throw std::runtime_error(failure);

        double p99 = 0;
        if (!latencies.empty()) {
            std::sort(latencies.begin(), latencies.end());
            p99 = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
        }
        std::printf("{\"files\": %ld, \"threads\": %d, \"seconds\": %.3f, \"per_second\": %.1f, \"p99_ms\": %.3f}\n",
            done.load(), threads, elapsed, elapsed > 0 ? static_cast<double>(done.load()) / elapsed : 0.0, p99);
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "meldpunt-bench-spool-write: %s\n", error.what());
        return 1;
    }
}
