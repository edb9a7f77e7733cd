#include "Process.h"
#include "UnixHttpServer.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <thread>
#include <utility>

using Catch::Matchers::ContainsSubstring;
using meldpunt::UnixHttpServer;
using meldpunt::UnixHttpServerOptions;
using meldpunt::test::ScratchFolder;
namespace fs = std::filesystem;

namespace {

class OkHandler : public Poco::Net::HTTPRequestHandler {
public:
    void handleRequest(Poco::Net::HTTPServerRequest&, Poco::Net::HTTPServerResponse& response) override
    {
        response.send() << "ok";
    }
};

class OkFactory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override
    {
        return new OkHandler;
    }
};

UnixHttpServerOptions optionsFor(const fs::path& socket)
{
    UnixHttpServerOptions options;
    options.socketPath = socket;
    return options;
}

} // namespace

TEST_CASE("Unix server rejects long paths", "[core]")
{
    ScratchFolder scratch("unix-server");
    const fs::path tooLong = scratch.path() / std::string(120, 's');
    CHECK_THROWS_WITH(UnixHttpServer(optionsFor(tooLong), new OkFactory), ContainsSubstring("longer than 107 bytes"));
    CHECK_FALSE(fs::exists(tooLong));
}

TEST_CASE("Unix server replaces stale sockets", "[core]")
{
    ScratchFolder scratch("unix-server");
    const fs::path socket = scratch.path() / "http.sock";

    SECTION("a stale socket file from a killed process is removed")
    {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket.c_str());
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        ::close(fd);
        REQUIRE(fs::is_socket(socket));

        UnixHttpServer server(optionsFor(socket), new OkFactory);
        server.start();
        CHECK(meldpunt::probeUnixSocket(socket, "/", 2000) == 200);
        CHECK((fs::status(socket).permissions() & fs::perms::all) == fs::perms(0660));
    }
    SECTION("a socket that still answers is left to its server")
    {
        UnixHttpServer first(optionsFor(socket), new OkFactory);
        first.start();
        CHECK_THROWS_WITH(UnixHttpServer(optionsFor(socket), new OkFactory), ContainsSubstring("already serving"));
        CHECK(meldpunt::probeUnixSocket(socket, "/", 2000) == 200);
    }
    SECTION("a regular file in the way is not removed")
    {
        { std::ofstream(socket) << "not a socket"; }
        CHECK_THROWS_WITH(UnixHttpServer(optionsFor(socket), new OkFactory), ContainsSubstring("is not a socket"));
        CHECK(fs::is_regular_file(socket));
    }
}

namespace {

// "/slow" waits until the test lets it go. Every path then gets a page of
// 40,000 bytes through sendAtOnce.
class PageHandler : public Poco::Net::HTTPRequestHandler {
public:
    PageHandler(std::atomic<bool>& slowStarted, std::atomic<bool>& slowRelease)
        : slowStarted_(slowStarted)
        , slowRelease_(slowRelease)
    {
    }

    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override
    {
        if (request.getURI() == "/slow") {
            slowStarted_ = true;
            for (int waited = 0; !slowRelease_ && waited < 500; ++waited)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        response.setContentType("text/plain");
        meldpunt::sendAtOnce(request, response, std::string(40000, 'p'));
    }

private:
    std::atomic<bool>& slowStarted_;
    std::atomic<bool>& slowRelease_;
};

class PageFactory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    PageFactory(std::atomic<bool>& slowStarted, std::atomic<bool>& slowRelease)
        : slowStarted_(slowStarted)
        , slowRelease_(slowRelease)
    {
    }

    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override
    {
        return new PageHandler(slowStarted_, slowRelease_);
    }

private:
    std::atomic<bool>& slowStarted_;
    std::atomic<bool>& slowRelease_;
};

// A raw client connection, so that the test reads exactly what the server
// writes and when it closes.
class RawClient {
public:
    explicit RawClient(const fs::path& socket)
        : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0))
    {
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket.c_str());
        REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        timeval timeout{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    }
    ~RawClient() { ::close(fd_); }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    void send(const std::string& text) { REQUIRE(::send(fd_, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size())); }

    // Reads one response: the header, then as many body bytes as its
    // Content-Length names (none for HEAD). Empty when the server closed
    // the connection first.
    // Bytes past the response stay for the next call.
    std::string response(bool head = false)
    {
        std::size_t end = std::string::npos;
        while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
            if (!readMore())
                return std::exchange(pending_, {});
        }
        std::size_t length = 0;
        const auto field = pending_.find("Content-Length: ");
        if (field != std::string::npos && field < end)
            length = std::stoul(pending_.substr(field + 16));
        const std::size_t total = end + 4 + (head ? 0 : length);
        while (pending_.size() < total && readMore()) {
        }
        std::string text = pending_.substr(0, std::min(total, pending_.size()));
        pending_.erase(0, text.size());
        return text;
    }

    // True when the server has closed the connection: a read returns 0.
    bool closedByServer()
    {
        char byte = 0;
        return ::recv(fd_, &byte, 1, 0) == 0;
    }

private:
    bool readMore()
    {
        char buffer[65536];
        const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
        if (got <= 0)
            return false;
        pending_.append(buffer, static_cast<std::size_t>(got));
        return true;
    }

    int fd_;
    std::string pending_;
};

} // namespace

TEST_CASE("Unix server keep-alive and HEAD", "[core]")
{
    ScratchFolder scratch("unix-server");
    const fs::path socket = scratch.path() / "http.sock";
    std::atomic<bool> slowStarted{false};
    std::atomic<bool> slowRelease{true};
    UnixHttpServer server(optionsFor(socket), new PageFactory(slowStarted, slowRelease));
    server.start();

    RawClient client(socket);
    for (int request = 0; request < 3; ++request) {
        client.send("GET /page HTTP/1.1\r\nHost: x\r\n\r\n");
        const std::string page = client.response();
        CHECK_THAT(page, ContainsSubstring("HTTP/1.1 200 OK\r\n"));
        CHECK_THAT(page, ContainsSubstring("Content-Length: 40000\r\n"));
        CHECK(page.ends_with("\r\n\r\n" + std::string(40000, 'p')));
    }
    // HEAD gets the same header and no body: the next response on the
    // connection starts right after the header.
    client.send("HEAD /page HTTP/1.1\r\nHost: x\r\n\r\nGET /page HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string head = client.response(true);
    CHECK_THAT(head, ContainsSubstring("Content-Length: 40000\r\n"));
    CHECK(head.ends_with("\r\n\r\n"));
    const std::string after = client.response();
    CHECK(after.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(after.ends_with(std::string(40000, 'p')));

    SECTION("a malformed request gets 400 and the connection closes")
    {
        client.send("NOT HTTP AT ALL\r\n\r\n");
        CHECK_THAT(client.response(), ContainsSubstring("400"));
        CHECK(client.closedByServer());
    }
}

TEST_CASE("Unix server stop finishes busy requests", "[core]")
{
    ScratchFolder scratch("unix-server");
    const fs::path socket = scratch.path() / "http.sock";
    std::atomic<bool> slowStarted{false};
    std::atomic<bool> slowRelease{false};
    auto server = std::make_unique<UnixHttpServer>(optionsFor(socket), new PageFactory(slowStarted, slowRelease));
    server->start();

    RawClient idle(socket);
    idle.send("GET /page HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE_THAT(idle.response(), ContainsSubstring("200 OK"));

    RawClient busy(socket);
    busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    for (int waited = 0; !slowStarted && waited < 500; ++waited)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(slowStarted);

    std::thread stopper([&] { server->stop(); });
    // The waiting connection ends at once, while the request in progress
    // still keeps stop() waiting.
    CHECK(idle.closedByServer());
    slowRelease = true;
    const std::string slow = busy.response();
    stopper.join();
    CHECK_THAT(slow, ContainsSubstring("200 OK"));
    CHECK(slow.ends_with(std::string(40000, 'p')));
    CHECK(busy.closedByServer());
    CHECK_FALSE(fs::exists(socket));
}
