#include "Swtpm.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>
#include <sys/wait.h>

namespace meldpunt::test {

namespace fs = std::filesystem;

namespace {

bool acceptsConnections(unsigned short port)
{
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return connected;
}

fs::path logFileFor(const fs::path& stateDir)
{
    return fs::path(stateDir.string() + ".log");
}

} // namespace

Swtpm::Swtpm(fs::path stateDir)
    : stateDir_(std::move(stateDir))
    , port_(freeLoopbackPort(2))
{
}

Swtpm::~Swtpm()
{
    stop();
}

void Swtpm::start()
{
    if (running())
        return;
    fs::create_directories(stateDir_);
    const std::string server = "type=tcp,port=" + std::to_string(port_) + ",bindaddr=127.0.0.1";
    const std::string control =
        "type=tcp,port=" + std::to_string(port_ + 1) + ",bindaddr=127.0.0.1";
    process_ =
        std::make_unique<Process>(std::vector<std::string>{ "swtpm", "socket", "--tpm2",
                                      "--tpmstate", "dir=" + stateDir_.string(), "--server", server,
                                      "--ctrl", control, "--flags", "not-need-init,startup-clear" },
            Process::Options{ {}, logFileFor(stateDir_), {} });

    // Tests use both ports, so both must accept connections.
    const bool up = waitFor(
        [this] {
            return !process_->running() ||
                (acceptsConnections(port_) && acceptsConnections(port_ + 1));
        },
        std::chrono::seconds(10));
    // Another swtpm already on these ports would also accept connections,
    // while this one exits for the failed bind; a moment later tells them
    // apart.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!up || !process_->running())
        throw std::runtime_error("swtpm did not start on port " + std::to_string(port_) +
            "; its log: " + process_->log());
}

void Swtpm::stop()
{
    if (process_) {
        process_->terminate();
        process_.reset();
    }
}

void Swtpm::kill()
{
    if (process_) {
        process_->kill();
        process_.reset();
    }
}

bool Swtpm::running()
{
    return process_ && process_->running();
}

std::string Swtpm::tcti() const
{
    return "swtpm:host=127.0.0.1,port=" + std::to_string(port_);
}

void Swtpm::allocatePcrBanks(const std::string& banks)
{
    fs::create_directories(stateDir_);
    Process setup({ "swtpm_setup", "--tpm2", "--tpmstate", stateDir_.string(), "--pcr-banks", banks,
                      "--overwrite" },
        Process::Options{ {}, logFileFor(stateDir_), {} });
    const auto status = setup.wait(std::chrono::seconds(60));
    if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
        throw std::runtime_error(
            "swtpm_setup --pcr-banks " + banks + " failed; its log: " + setup.log());
}

} // namespace meldpunt::test
