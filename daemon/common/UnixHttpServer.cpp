#include "UnixHttpServer.h"

#include "Log.h"

#include <algorithm>
#include <thread>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponseImpl.h>
#include <Poco/Net/HTTPServerSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Exception.h>
#include <Poco/Timestamp.h>

#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace meldpunt {

// The connections being served, so that stop() can end them: a connection
// waiting for its next request is shut down at once, one with a request
// in progress after that request, unless it takes too long.
class ConnectionRegistry {
public:
    void remove(Poco::Net::StreamSocket& socket)
    {
        std::lock_guard lock(mutex_);
        busy_.erase(&socket);
        if (busy_.empty())
            ended_.notify_all();
    }

    // Registers the connection, with a request in progress (true) or
    // waiting for one (false). Returns false once stopping, and the
    // connection then ends without serving.
    bool mark(Poco::Net::StreamSocket& socket, bool busy)
    {
        std::lock_guard lock(mutex_);
        if (stopping_)
            return false;
        busy_[&socket] = busy;
        return true;
    }

    void stopAll(std::chrono::milliseconds grace)
    {
        std::unique_lock lock(mutex_);
        stopping_ = true;
        for (const auto& [socket, busy] : busy_) {
            if (!busy)
                shutDown(*socket);
        }
        if (ended_.wait_for(lock, grace, [this] { return busy_.empty(); }))
            return;
        for (const auto& [socket, busy] : busy_)
            shutDown(*socket);
        ended_.wait_for(lock, std::chrono::seconds(2), [this] { return busy_.empty(); });
    }

private:
    static void shutDown(Poco::Net::StreamSocket& socket)
    {
        try {
            socket.shutdown();
        } catch (const Poco::Exception&) {
            // Already closed by the peer.
        }
    }

    std::mutex mutex_;
    std::condition_variable ended_;
    std::map<Poco::Net::StreamSocket*, bool> busy_;
    bool stopping_ = false;
};

namespace {

// Poco keeps the count of bytes read ahead, and its read, to itself.
class ServerSession : public Poco::Net::HTTPServerSession {
public:
    using HTTPServerSession::HTTPServerSession;
    int readAhead() const { return buffered(); }
    // Returns bytes read ahead first, then reads the socket once.
    int readSome(char* buffer, std::streamsize size) { return read(buffer, size); }
};

// Waits until the socket has something to read, the peer closed it or it
// was shut down; false when `timeout` passes first.
bool waitReadable(int fd, Poco::Timespan timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(timeout.totalMicroseconds());
    pollfd entry{fd, POLLIN, 0};
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        const int ready = ::poll(&entry, 1, static_cast<int>(std::max<std::chrono::milliseconds::rep>(left.count(), 0)));
        if (ready > 0)
            return true;
        if (ready == 0 || errno != EINTR)
            return false;
    }
}

void sendError(Poco::Net::HTTPServerSession& session, Poco::Net::HTTPResponse::HTTPStatus status)
{
    Poco::Net::HTTPServerResponseImpl response(session);
    response.setVersion(Poco::Net::HTTPMessage::HTTP_1_1);
    response.setStatusAndReason(status);
    response.setKeepAlive(false);
    response.setContentLength(0);
    response.send();
}

class Connection : public Poco::Net::TCPServerConnection {
public:
    Connection(const Poco::Net::StreamSocket& socket, Poco::Net::HTTPServerParams::Ptr params,
        Poco::Net::HTTPRequestHandlerFactory::Ptr factory, std::shared_ptr<ConnectionRegistry> registry)
        : TCPServerConnection(socket)
        , params_(std::move(params))
        , factory_(std::move(factory))
        , registry_(std::move(registry))
    {
    }

    void run() override
    {
        Poco::Net::StreamSocket& connection = socket();
        if (!registry_->mark(connection, false))
            return;
        struct Removal {
            ConnectionRegistry& registry;
            Poco::Net::StreamSocket& socket;
            ~Removal() { registry.remove(socket); }
        } removal{*registry_, connection};

        ServerSession session(connection, params_);
        const int fd = connection.impl()->sockfd();
        int requestsLeft = params_->getMaxKeepAliveRequests();
        bool first = true;
        while (requestsLeft != 0) {
            const Poco::Timespan wait = first ? params_->getTimeout() : params_->getKeepAliveTimeout();
            if (session.readAhead() == 0 && !waitReadable(fd, wait))
                return;
            if (!registry_->mark(connection, true))
                return;
            first = false;
            if (requestsLeft > 0)
                --requestsLeft;
            const bool keepAlive = serve(session, requestsLeft != 0);
            if (!registry_->mark(connection, false) || !keepAlive)
                return;
        }
    }

private:
    // Reads one request, passes it to the handler, and returns whether the
    // connection stays open for another.
    bool serve(ServerSession& session, bool mayKeepAlive)
    {
        try {
            Poco::Net::HTTPServerResponseImpl response(session);
            Poco::Net::HTTPServerRequestImpl request(response, session, params_);
            response.setDate(Poco::Timestamp());
            response.setVersion(request.getVersion());
            response.setKeepAlive(params_->getKeepAlive() && request.getKeepAlive() && mayKeepAlive);
            std::unique_ptr<Poco::Net::HTTPRequestHandler> handler(factory_->createRequestHandler(request));
            if (!handler) {
                sendError(session, Poco::Net::HTTPResponse::HTTP_NOT_IMPLEMENTED);
                return false;
            }
            if (request.getExpectContinue() && response.getStatus() == Poco::Net::HTTPResponse::HTTP_OK)
                response.sendContinue();
            handler->handleRequest(request, response);
            return response.getKeepAlive();
        } catch (const Poco::Net::NoMessageException&) {
            return false; // closed before a request began
        } catch (const Poco::Net::MessageException& error) {
            log::debug("Rejected a malformed request with 400: " + error.displayText());
            try {
                sendError(session, Poco::Net::HTTPResponse::HTTP_BAD_REQUEST);
            } catch (const Poco::Exception&) {
                // The connection closes next, whether the 400 response was sent or not.
            }
            return false;
        } catch (const Poco::Exception& error) {
            // Debug level: a flood of slow clients would fill the journal.
            log::debug("Closed a connection after a timeout or network failure: " + error.displayText());
            return false;
        }
    }

    Poco::Net::HTTPServerParams::Ptr params_;
    Poco::Net::HTTPRequestHandlerFactory::Ptr factory_;
    std::shared_ptr<ConnectionRegistry> registry_;
};

class ConnectionFactory : public Poco::Net::TCPServerConnectionFactory {
public:
    ConnectionFactory(Poco::Net::HTTPServerParams::Ptr params, Poco::Net::HTTPRequestHandlerFactory::Ptr factory,
        std::shared_ptr<ConnectionRegistry> registry)
        : params_(std::move(params))
        , factory_(std::move(factory))
        , registry_(std::move(registry))
    {
    }

    Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override
    {
        return new Connection(socket, params_, factory_, registry_);
    }

private:
    Poco::Net::HTTPServerParams::Ptr params_;
    Poco::Net::HTTPRequestHandlerFactory::Ptr factory_;
    std::shared_ptr<ConnectionRegistry> registry_;
};

void removeStaleSocket(const std::filesystem::path& path)
{
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0)
        return;
    if (!S_ISSOCK(info.st_mode))
        throw std::runtime_error("'" + path.string() + "' exists and is not a socket; remove it by hand");
    if (probeUnixSocket(path, "/", 500) >= 0)
        throw std::runtime_error("another process is already serving on '" + path.string() + "'");
    if (::unlink(path.c_str()) != 0)
        throw std::runtime_error("cannot remove stale socket '" + path.string() + "': " + std::strerror(errno));
}

void restrictSocket(const std::filesystem::path& path, const std::string& group)
{
    if (!group.empty()) {
        // A group is given by name, or by number where no name exists
        // (test fixtures run the daemons under bare numeric ids).
        gid_t gid = 0;
        if (struct group* entry = ::getgrnam(group.c_str()))
            gid = entry->gr_gid;
        else if (!group.empty() && group.find_first_not_of("0123456789") == std::string::npos)
            gid = static_cast<gid_t>(std::stoul(group));
        else
            throw std::runtime_error("socket group '" + group + "' does not exist");
        if (::chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0)
            throw std::runtime_error("cannot give socket '" + path.string() + "' to group '" + group
                + "': " + std::strerror(errno) + "; the daemon's user must be a member of that group");
    }
    if (::chmod(path.c_str(), 0660) != 0)
        throw std::runtime_error("cannot set the mode of socket '" + path.string() + "': " + std::strerror(errno));
}

} // namespace

UnixHttpServer::UnixHttpServer(const UnixHttpServerOptions& options,
    Poco::Net::HTTPRequestHandlerFactory::Ptr factory)
    : options_(options)
{
    if (options.socketPath.string().size() >= sizeof(sockaddr_un::sun_path))
        throw std::runtime_error("socket path '" + options.socketPath.string() + "' is longer than "
            + std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes; choose a shorter path");
    removeStaleSocket(options.socketPath);

    // The socket is created with umask 0177 so that no moment exists in
    // which another user could connect before the mode is set.
    const mode_t previous = ::umask(0177);
    Poco::Net::ServerSocket socket;
    try {
        socket.bind(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, options.socketPath.string()));
        socket.listen(options.maxQueued);
    } catch (const Poco::Exception& error) {
        ::umask(previous);
        throw std::runtime_error("cannot listen on '" + options.socketPath.string() + "': " + error.displayText());
    }
    ::umask(previous);
    restrictSocket(options.socketPath, options.socketGroup);

    // One counted reference, shared by the server and the connections.
    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(options.maxThreads);
    params->setMaxQueued(options.maxQueued);
    params->setTimeout(Poco::Timespan(options.requestTimeoutSeconds, 0));
    params->setKeepAlive(true);
    params->setMaxKeepAliveRequests(100);
    params->setKeepAliveTimeout(Poco::Timespan(15, 0));
    params->setServerName("meldpunt");
    connections_ = std::make_shared<ConnectionRegistry>();
    server_ = std::make_unique<Poco::Net::TCPServer>(
        new ConnectionFactory(params, factory, connections_), socket, params);
}

UnixHttpServer::~UnixHttpServer()
{
    stop();
}

void UnixHttpServer::start()
{
    server_->start();
}

void UnixHttpServer::stop()
{
    if (!server_)
        return;
    server_->stop();
    connections_->stopAll(std::chrono::seconds(10));
    server_.reset();
    ::unlink(options_.socketPath.c_str());
}

RequestBody::RequestBody(Poco::Net::HTTPServerRequest& request)
{
    auto* served = dynamic_cast<Poco::Net::HTTPServerRequestImpl*>(&request);
    if (served != nullptr && request.hasContentLength() && !request.getChunkedTransferEncoding()
        && dynamic_cast<ServerSession*>(&served->session()) != nullptr) {
        session_ = &served->session();
        left_ = static_cast<std::uint64_t>(request.getContentLength64());
    } else {
        stream_ = &request.stream();
    }
}

std::size_t RequestBody::bufferSize(std::size_t maxSize) const
{
    if (session_ == nullptr)
        return maxSize;
    return static_cast<std::size_t>(std::clamp<std::uint64_t>(left_, 1, maxSize));
}

std::size_t RequestBody::read(char* buffer, std::size_t size)
{
    if (stream_ != nullptr) {
        stream_->read(buffer, static_cast<std::streamsize>(size));
        return static_cast<std::size_t>(stream_->gcount());
    }
    const std::size_t requested = static_cast<std::size_t>(std::min<std::uint64_t>(size, left_));
    if (requested == 0)
        return 0;
    int got = 0;
    try {
        got = static_cast<ServerSession*>(session_)->readSome(buffer, static_cast<std::streamsize>(requested));
    } catch (const Poco::Exception& error) {
        log::debug("Failed to read a request body, which ends here: " + error.displayText());
    }
    if (got <= 0) {
        left_ = 0; // closed or timed out, so the caller sees a body cut short
        return 0;
    }
    left_ -= static_cast<std::uint64_t>(got);
    return static_cast<std::size_t>(got);
}

void sendAtOnce(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
    const std::string& body)
{
    auto* served = dynamic_cast<Poco::Net::HTTPServerRequestImpl*>(&request);
    if (served == nullptr) {
        response.sendBuffer(body.data(), body.size());
        return;
    }
    response.setContentLength64(static_cast<Poco::Int64>(body.size()));
    response.setChunkedTransferEncoding(false);
    std::ostringstream headerText;
    response.write(headerText);
    const std::string header = headerText.str();
    const bool withBody = request.getMethod() != Poco::Net::HTTPRequest::HTTP_HEAD;
    iovec parts[2] = {{const_cast<char*>(header.data()), header.size()},
        {const_cast<char*>(body.data()), withBody ? body.size() : 0}};
    msghdr message{};
    message.msg_iov = parts;
    message.msg_iovlen = 2;
    Poco::Net::StreamSocket& socket = served->socket();
    while (parts[0].iov_len + parts[1].iov_len > 0) {
        const ssize_t sent = ::sendmsg(socket.impl()->sockfd(), &message, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            const int error = errno;
            // Part of the response may be out: nothing more may follow on
            // this connection, an error page least of all.
            response.setKeepAlive(false);
            try {
                socket.shutdown();
            } catch (const Poco::Exception&) {
                // The peer has closed it already.
            }
            throw Poco::Net::NetException(std::string("sending a response failed: ") + std::strerror(error));
        }
        std::size_t left = static_cast<std::size_t>(sent);
        for (iovec& part : parts) {
            const std::size_t consumed = std::min(left, part.iov_len);
            part.iov_base = static_cast<char*>(part.iov_base) + consumed;
            part.iov_len -= consumed;
            left -= consumed;
        }
    }
}

int probeUnixSocket(const std::filesystem::path& socketPath, const std::string& path,
    int timeoutMilliseconds)
{
    try {
        Poco::Net::StreamSocket socket;
        socket.connect(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, socketPath.string()),
            Poco::Timespan(0, timeoutMilliseconds * 1000));
        Poco::Net::HTTPClientSession session(socket);
        session.setTimeout(Poco::Timespan(0, timeoutMilliseconds * 1000));
        Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, path, Poco::Net::HTTPMessage::HTTP_1_1);
        request.setHost("localhost");
        session.sendRequest(request);
        Poco::Net::HTTPResponse response;
        session.receiveResponse(response).ignore(1 << 20);
        return static_cast<int>(response.getStatus());
    } catch (const std::exception&) {
        return -1;
    }
}

int pagePoolSize(int spare)
{
    const int processors = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    return kEdgeIdleConnectionsPerWorker * processors + spare;
}

} // namespace meldpunt
