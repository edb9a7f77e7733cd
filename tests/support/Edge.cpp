#include "Edge.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <vector>

namespace meldpunt::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

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

std::string nginxProgram()
{
    return fs::exists("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";
}

} // namespace

Edge::Edge(Options options)
    : scratch_("edge")
    , prefix_(scratch_.path() / "instance")
    , configuration_(prefix_ / "nginx.conf")
    , errorLog_(options.errorLog.empty() ? prefix_ / "error.log" : options.errorLog)
    , outputLog_(scratch_.path() / "nginx-output.log")
    , port_(options.port != 0 ? options.port : freeLoopbackPort())
{
    fs::create_directories(prefix_);

    const auto renderLog = scratch_.path() / "render.log";
    Process render({(options.sourceDir / "tools/render-edge-conf").string(),
                    (options.sourceDir / "rootfs/etc/meldpunt/nginx-edge.conf.in").string(),
                    configuration_.string(),
                    "LISTEN=127.0.0.1:" + std::to_string(port_),
                    "PREFIX=" + prefix_.string(),
                    "UPSTREAM_SOCKET=" + options.upstreamSocket.string(),
                    "FORMS_SOCKET="
                        + (options.formsSocket.empty() ? options.upstreamSocket : options.formsSocket).string(),
                    "CERTIFICATE=" + options.certificate.string(),
                    "CERTIFICATE_KEY=" + options.certificateKey.string(),
                    "MAX_BODY_BYTES=" + std::to_string(options.maxBodyBytes),
                    "REPORT_BODY_BYTES=" + std::to_string(options.reportBodyBytes),
                    "WEBUI=" + options.webui.string(),
                    "LANGUAGES=" + options.languages,
                    "ERROR_LOG=" + errorLog_.string()},
                   Process::Options({}, renderLog));
    const auto rendered = render.wait(10s);
    if (!rendered || !WIFEXITED(*rendered) || WEXITSTATUS(*rendered) != 0)
        throw std::runtime_error("render-edge-conf failed to render the edge template: " + readFile(renderLog));

    nginx_ = std::make_unique<Process>(
        std::vector<std::string>{nginxProgram(), "-p", prefix_.string(), "-c", configuration_.string(), "-e",
                                 errorLog_.string()},
        Process::Options({}, outputLog_, prefix_));

    const bool up = waitFor([this] { return !nginx_->running() || acceptsConnections(port_); }, 10s);
    if (!up || !nginx_->running())
        throw std::runtime_error("nginx failed to start on port " + std::to_string(port_) + " within 10 s: " +
                                 readFile(outputLog_) + readFile(errorLog_));
}

Edge::~Edge()
{
    stop();
}

void Edge::stop()
{
    if (nginx_)
        nginx_->terminate();
}

} // namespace meldpunt::test
