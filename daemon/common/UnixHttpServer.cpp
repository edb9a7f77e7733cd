#include "UnixHttpServer.h"

#include <algorithm>
#include <thread>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Exception.h>

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace meldpunt {

namespace {

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

    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(options.maxThreads);
    params->setMaxQueued(options.maxQueued);
    params->setTimeout(Poco::Timespan(options.requestTimeoutSeconds, 0));
    params->setKeepAlive(true);
    params->setMaxKeepAliveRequests(100);
    params->setKeepAliveTimeout(Poco::Timespan(15, 0));
    params->setServerName("meldpunt");
    server_ = std::make_unique<Poco::Net::HTTPServer>(factory, socket, params);
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
    server_->stopAll(true);
    server_.reset();
    ::unlink(options_.socketPath.c_str());
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
