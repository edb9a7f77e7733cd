#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace meldpunt::test {

// A child process started by a test. Its standard output and error go to
// a log file that the test can read afterwards. The destructor sends
// SIGTERM, waits up to five seconds, then sends SIGKILL, so no test leaves
// a process behind.
class Process {
public:
    struct Options {
        // A constructor, not aggregate initialisation, so that call sites may
        // leave out the trailing members.
        Options(std::vector<std::string> environmentIn = {}, std::filesystem::path logFileIn = {},
            std::filesystem::path workingDirectoryIn = {}, std::filesystem::path inputFileIn = {})
            : environment(std::move(environmentIn))
            , logFile(std::move(logFileIn))
            , workingDirectory(std::move(workingDirectoryIn))
            , inputFile(std::move(inputFileIn))
        {
        }

        std::vector<std::string> environment; // "NAME=value" added to the test's own
        std::filesystem::path logFile;        // empty: inherit the test's output
        std::filesystem::path workingDirectory;
        std::filesystem::path inputFile; // empty: /dev/null
    };

    Process(std::vector<std::string> argv, Options options);
    ~Process();

    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return pid_; }
    bool running();

    // Sends the signal without waiting.
    void signal(int signalNumber);

    // Sends SIGTERM and waits; returns the exit status as from waitpid, or
    // nullopt when the process had to be killed after the timeout.
    std::optional<int> terminate(std::chrono::milliseconds timeout = std::chrono::seconds(5));

    // Sends SIGKILL and reaps the process.
    void kill();

    // Waits for the process to end by itself; nullopt on timeout.
    std::optional<int> wait(std::chrono::milliseconds timeout);

    std::string log() const;

private:
    pid_t pid_ = -1;
    std::optional<int> status_;
    std::filesystem::path logFile_;
};

// Returns a TCP port on 127.0.0.1 that was free a moment ago. With
// `consecutive` > 1, ports port..port+consecutive-1 were all free.
unsigned short freeLoopbackPort(unsigned consecutive = 1);

// Polls `condition` every 20 ms until it returns true or `timeout` passes.
template <typename Condition>
bool waitFor(Condition condition, std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition())
            return true;
        struct timespec pause = {0, 20'000'000};
        nanosleep(&pause, nullptr);
    }
    return condition();
}

// Returns a fresh folder under the build tree's test scratch area, removed
// by the destructor unless MELDPUNT_KEEP_TEST_FILES is set.
class ScratchFolder {
public:
    explicit ScratchFolder(const std::string& name);
    // A folder under `base` rather than MELDPUNT_TEST_SCRATCH.
    ScratchFolder(const std::string& name, const std::filesystem::path& base);
    ~ScratchFolder();
    ScratchFolder(const ScratchFolder&) = delete;
    ScratchFolder& operator=(const ScratchFolder&) = delete;

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// A short base for scratch folders that hold sockets: a socket's path may
// have at most 107 bytes, and MELDPUNT_TEST_SCRATCH is as deep as the
// checkout.
std::filesystem::path socketScratchBase();

std::string readFile(const std::filesystem::path& path);

} // namespace meldpunt::test
