#pragma once

#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>

#include <filesystem>
#include <memory>
#include <string>

namespace meldpunt {

struct UnixHttpServerOptions {
    std::filesystem::path socketPath;
    std::string socketGroup; // empty: keep the process's own group
    int maxThreads = 8;
    int maxQueued = 32;
    int requestTimeoutSeconds = 60;
};

// A Poco HTTP server on a Unix socket. Before binding it removes a stale
// socket file left by a killed predecessor (after checking that nothing
// answers on it), then sets mode 0660 and the configured group, so that
// only the nginx instance in that group can connect. Throws
// std::runtime_error with the path and cause when the socket cannot be
// set up; the path must fit sockaddr_un (107 bytes).
class UnixHttpServer {
public:
    UnixHttpServer(const UnixHttpServerOptions& options,
        Poco::Net::HTTPRequestHandlerFactory::Ptr factory);
    ~UnixHttpServer();

    void start();
    void stop();

private:
    UnixHttpServerOptions options_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
};

// Idle connections that each nginx worker of an edge keeps open to its
// daemon's page socket (`keepalive` in the edge template). Each occupies one
// of the daemon's workers while it waits, because Poco serves a
// connection on one thread until it closes.
inline constexpr int kEdgeIdleConnectionsPerWorker = 16;

// Returns a page pool size that leaves `spare` workers free when every
// nginx worker (one per CPU) keeps all its idle connections open.
int pagePoolSize(int spare);

// Sends "GET path" over the Unix socket and returns the HTTP status, or
// -1 when the socket does not answer within the timeout.
int probeUnixSocket(const std::filesystem::path& socketPath, const std::string& path,
    int timeoutMilliseconds);

} // namespace meldpunt
