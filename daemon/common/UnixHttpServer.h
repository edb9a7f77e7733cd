#pragma once

#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/HTTPServerSession.h>
#include <Poco/Net/TCPServer.h>

#include <cstdint>
#include <filesystem>
#include <istream>
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

class ConnectionRegistry;

// A Poco HTTP server on a Unix socket. Before binding it removes a stale
// socket file left by a killed predecessor (after checking that nothing
// answers on it), then sets mode 0660 and the configured group, so that
// only the nginx instance in that group can connect. Throws
// std::runtime_error with the path and cause when the socket cannot be
// set up; the path must fit sockaddr_un (107 bytes).
//
// Each connection is served on one thread until it closes, as in Poco's
// own HTTP server. It waits for the next request with one poll(). Poco's
// server makes, arms and closes an epoll instance for that wait, and with
// the edge reusing its connections the wait comes before every page.
// stop() ends the waiting connections at once and lets requests in
// progress finish, for up to 10 seconds.
class UnixHttpServer {
public:
    UnixHttpServer(const UnixHttpServerOptions& options,
        Poco::Net::HTTPRequestHandlerFactory::Ptr factory);
    ~UnixHttpServer();

    void start();
    void stop();

private:
    UnixHttpServerOptions options_;
    std::shared_ptr<ConnectionRegistry> connections_;
    std::unique_ptr<Poco::Net::TCPServer> server_;
};

// Idle connections that each nginx worker of an edge keeps open to its
// daemon's page socket (`keepalive` in the edge template). Each occupies one
// of the daemon's workers while it waits, because UnixHttpServer serves a
// connection on one thread until it closes.
inline constexpr int kEdgeIdleConnectionsPerWorker = 64;

// Returns a page pool size that leaves `spare` workers free when every
// nginx worker (one per CPU) keeps all its idle connections open.
int pagePoolSize(int spare);

// Sends the response's header and `body` in one write to the request's
// socket, and on a HEAD request the header alone. Poco's own sending
// passes through a 4 KiB buffer, one write per 4 KiB, and nginx wakes for
// each. Falls back to Poco's sending for a request that is not from a
// server connection. Throws Poco::Net::NetException when the write fails.
void sendAtOnce(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
    const std::string& body);

// The body of one request, read straight from its connection for a body
// with a Content-Length: each read() is one recv() of up to the size asked
// for, where Poco's request stream reads 4 KiB at a time. Other bodies,
// and requests that are not from a server connection, are read through
// request.stream(). Use one object for the whole body, and do not read
// request.stream() beside it.
class RequestBody {
public:
    explicit RequestBody(Poco::Net::HTTPServerRequest& request);

    // Reads up to `size` bytes into `buffer` and returns how many arrived.
    // Returns 0 at the end of the body, and also when the connection
    // closed or timed out before the end, as Poco's stream does.
    std::size_t read(char* buffer, std::size_t size);
    // Returns a size for the caller's read buffer: `maxSize`, or less when
    // the request declared a shorter body, so that a small form gets no
    // large buffer.
    std::size_t bufferSize(std::size_t maxSize) const;

private:
    Poco::Net::HTTPServerSession* session_ = nullptr; // null: read the stream
    std::istream* stream_ = nullptr;
    std::uint64_t left_ = 0;
};

// Sends "GET path" over the Unix socket and returns the HTTP status, or
// -1 when the socket does not answer within the timeout.
int probeUnixSocket(const std::filesystem::path& socketPath, const std::string& path,
    int timeoutMilliseconds);

} // namespace meldpunt
