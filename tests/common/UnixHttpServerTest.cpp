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

#include <fstream>

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
