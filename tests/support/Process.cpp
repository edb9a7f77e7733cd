#include "Process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <system_error>

extern char** environ;

namespace meldpunt::test {

namespace fs = std::filesystem;

Process::Process(std::vector<std::string> argv, Options options)
    : logFile_(options.logFile)
{
    if (argv.empty())
        throw std::invalid_argument("Process needs a program to run");

    std::vector<std::string> environment;
    for (char** entry = environ; *entry != nullptr; ++entry)
        environment.emplace_back(*entry);
    for (auto& extra : options.environment)
        environment.push_back(extra);

    std::vector<char*> argvPointers;
    for (auto& argument : argv)
        argvPointers.push_back(argument.data());
    argvPointers.push_back(nullptr);
    std::vector<char*> environmentPointers;
    for (auto& entry : environment)
        environmentPointers.push_back(entry.data());
    environmentPointers.push_back(nullptr);

    int logFd = -1;
    if (!logFile_.empty()) {
        logFd = ::open(logFile_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (logFd < 0)
            throw std::system_error(errno, std::generic_category(), "opening " + logFile_.string());
    }

    pid_ = fork();
    if (pid_ < 0)
        throw std::system_error(errno, std::generic_category(), "fork");
    if (pid_ == 0) {
        setpgid(0, 0);
        if (logFd >= 0) {
            dup2(logFd, STDOUT_FILENO);
            dup2(logFd, STDERR_FILENO);
        }
        const std::string input = options.inputFile.empty() ? std::string("/dev/null") : options.inputFile.string();
        int nullFd = ::open(input.c_str(), O_RDONLY);
        if (nullFd >= 0)
            dup2(nullFd, STDIN_FILENO);
        if (!options.workingDirectory.empty() && chdir(options.workingDirectory.c_str()) != 0)
            _exit(126);
        sigset_t empty;
        sigemptyset(&empty);
        sigprocmask(SIG_SETMASK, &empty, nullptr);
        execve(argvPointers[0], argvPointers.data(), environmentPointers.data());
        execvpe(argvPointers[0], argvPointers.data(), environmentPointers.data());
        _exit(127);
    }
    if (logFd >= 0)
        ::close(logFd);
}

Process::~Process()
{
    if (pid_ > 0 && !status_)
        terminate();
}

bool Process::running()
{
    if (status_)
        return false;
    int status = 0;
    pid_t result = waitpid(pid_, &status, WNOHANG);
    if (result == pid_) {
        status_ = status;
        return false;
    }
    return true;
}

void Process::signal(int signalNumber)
{
    if (running())
        ::kill(pid_, signalNumber);
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout)
{
    if (status_)
        return status_;
    waitFor([this] { return !running(); }, timeout);
    return status_;
}

std::optional<int> Process::terminate(std::chrono::milliseconds timeout)
{
    if (status_)
        return status_;
    ::kill(pid_, SIGTERM);
    if (auto status = wait(timeout))
        return status;
    kill();
    return std::nullopt;
}

void Process::kill()
{
    if (status_)
        return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    if (waitpid(pid_, &status, 0) == pid_)
        status_ = status;
}

std::string Process::log() const
{
    if (logFile_.empty() || !fs::exists(logFile_))
        return {};
    return readFile(logFile_);
}

namespace {

bool portIsFree(unsigned port)
{
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return free;
}

// Claims `port` for this process until it exits: an flock on a file named
// after the port, which the kernel releases when the process ends, however
// it ends.
bool claimPort(unsigned port)
{
    const fs::path folder = fs::temp_directory_path() / "meldpunt-test-ports";
    std::error_code ignored;
    fs::create_directories(folder, ignored);
    fs::permissions(folder, fs::perms::all, ignored);
    const fs::path lock = folder / std::to_string(port);
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return false;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);
        return false;
    }
    return true; // the descriptor stays open, and the lock held, until exit
}

} // namespace

unsigned short freeLoopbackPort(unsigned consecutive)
{
    // Tests run in parallel processes that pick ports well before their
    // servers bind them, so a port that is free now may be taken by the
    // time it is used. Each port is therefore claimed with a lock that
    // other test processes respect, and taken from below Linux's default
    // ephemeral range (32768 and up), where outgoing connections never
    // land.
    constexpr unsigned kFirstPort = 12000;
    constexpr unsigned kEndPort = 32000;
    std::mt19937 random(std::random_device{}());
    std::uniform_int_distribution<unsigned> range(kFirstPort, kEndPort - consecutive);
    for (int attempt = 0; attempt < 500; ++attempt) {
        const unsigned first = range(random);
        bool usable = true;
        for (unsigned index = 0; index < consecutive && usable; ++index)
            usable = claimPort(first + index) && portIsFree(first + index);
        if (usable)
            return static_cast<unsigned short>(first);
    }
    throw std::runtime_error("no free loopback port found in 500 attempts");
}

namespace {

fs::path scratchBase()
{
    const char* base = std::getenv("MELDPUNT_TEST_SCRATCH");
    return base != nullptr ? fs::path(base) : fs::temp_directory_path() / "meldpunt-tests";
}

} // namespace

ScratchFolder::ScratchFolder(const std::string& name)
    : ScratchFolder(name, scratchBase())
{
}

ScratchFolder::ScratchFolder(const std::string& name, const fs::path& root)
{
    fs::create_directories(root);
    std::string pattern = (root / (name + "-XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr)
        throw std::system_error(errno, std::generic_category(), "creating scratch folder " + pattern);
    path_ = pattern;
    fs::permissions(path_, fs::perms(0755));
}

ScratchFolder::~ScratchFolder()
{
    if (std::getenv("MELDPUNT_KEEP_TEST_FILES") != nullptr)
        return;
    std::error_code ignored;
    fs::remove_all(path_, ignored);
}

fs::path socketScratchBase()
{
    return fs::temp_directory_path() / "meldpunt-sockets";
}

std::string readFile(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

} // namespace meldpunt::test
