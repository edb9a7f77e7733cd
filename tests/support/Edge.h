#pragma once

#include "Process.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace meldpunt::test {

// One nginx edge instance, rendered from the installed template
// rootfs/etc/meldpunt/nginx-edge.conf.in with tools/render-edge-conf, in
// front of a daemon (or a test's stand-in) on a Unix socket. The instance
// folder (pid file, temporary paths, rendered configuration) is a fresh
// scratch folder. The constructor returns once the port accepts
// connections and throws std::runtime_error with nginx's output when it
// does not; the destructor stops nginx.
//
// When the test runs as root, nginx's workers run as the user nobody,
// because the template has no `user` directive. The upstream socket, the
// web UI and the folders above them must then be reachable for that user.
class Edge {
public:
    struct Options {
        std::filesystem::path sourceDir;     // the source tree, for the template and the renderer
        unsigned short port = 0;             // on 127.0.0.1; 0 picks a free port
        std::filesystem::path upstreamSocket;
        // Where POST requests go; empty: the upstream socket.
        std::filesystem::path formsSocket;
        std::filesystem::path certificate;
        std::filesystem::path certificateKey;
        std::uint64_t maxBodyBytes = 1048576;
        std::uint64_t reportBodyBytes = 1048576; // for /<language>/report
        std::filesystem::path webui;
        std::filesystem::path errorLog;      // empty: error.log in the instance folder
        std::string languages = "nl|en";
    };

    explicit Edge(Options options);
    ~Edge();

    Edge(const Edge&) = delete;
    Edge& operator=(const Edge&) = delete;

    unsigned short port() const { return port_; }
    // The instance folder that the template's @PREFIX@ names.
    const std::filesystem::path& prefix() const { return prefix_; }
    const std::filesystem::path& configuration() const { return configuration_; }
    const std::filesystem::path& errorLog() const { return errorLog_; }
    // Where nginx's own standard output and error go.
    const std::filesystem::path& outputLog() const { return outputLog_; }
    pid_t pid() const { return nginx_->pid(); }
    bool running() { return nginx_->running(); }

    // Stops nginx with SIGTERM and waits for it.
    void stop();

private:
    ScratchFolder scratch_;
    std::filesystem::path prefix_;
    std::filesystem::path configuration_;
    std::filesystem::path errorLog_;
    std::filesystem::path outputLog_;
    unsigned short port_ = 0;
    std::unique_ptr<Process> nginx_;
};

} // namespace meldpunt::test
