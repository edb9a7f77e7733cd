// Tests of the nginx edge template: every limit, buffering and logging
// directive in rootfs/etc/meldpunt/nginx-edge.conf.in, the TLS settings and
// the security headers. nginx runs in front of a recording HTTP server on a
// Unix socket written here, because the real daemons, by design, reveal
// nothing of the headers they receive. The client is OpenSSL on a raw
// socket, so the tests can send malformed requests, stall half-way, and bind
// the client to an address of their choosing.
//
// Limits and deadlines are read from the template itself, so the tests
// follow the values there. Every loop is bounded in count and in time.

#include "Edge.h"
#include "Process.h"
#include "UnixHttpServer.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using Catch::Matchers::ContainsSubstring;
using meldpunt::test::Edge;
using meldpunt::test::Process;
using meldpunt::test::readFile;
using meldpunt::test::ScratchFolder;
using meldpunt::test::waitFor;

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const fs::path sourceDir = MELDPUNT_SOURCE_DIR;
const fs::path templatePath = sourceDir / "rootfs/etc/meldpunt/nginx-edge.conf.in";

// The client address the tests connect from, so that the logs can be
// searched for it.
constexpr const char* clientAddress = "127.45.67.89";
constexpr const char* otherClientAddress = "127.45.67.90";

constexpr std::uint64_t maxBodyBytes = 1048576;

const std::vector<std::string> temporaryFolders = {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"};

// ----------------------------------------------------------------------
// Values from the template.

std::string templateText()
{
    return readFile(templatePath);
}

// The number in "NAME <number>" or "NAME <number>s" at the start of a line.
long directiveNumber(const std::string& name, int index = 0)
{
    const std::regex pattern("(^|\n)[ \t]*" + name + "((?:[ \t]+[a-z_:]*[0-9]+[a-z]*)+)[ \t]*;");
    std::smatch match;
    const auto text = templateText();
    if (!std::regex_search(text, match, pattern))
        throw std::runtime_error("the template has no " + name);
    std::vector<long> numbers;
    const std::regex number("[0-9]+");
    const auto arguments = match[2].str();
    for (auto it = std::sregex_iterator(arguments.begin(), arguments.end(), number); it != std::sregex_iterator(); ++it)
        numbers.push_back(std::stol(it->str()));
    return numbers.at(static_cast<std::size_t>(index));
}

std::chrono::seconds directiveSeconds(const std::string& name)
{
    return std::chrono::seconds(directiveNumber(name));
}

// ----------------------------------------------------------------------
// The recording upstream.

struct RecordedRequest {
    std::string requestLine;
    std::vector<std::pair<std::string, std::string>> headers;
    std::uint64_t bodyBytes = 0;

    std::vector<std::string> values(const std::string& name) const
    {
        std::vector<std::string> found;
        for (const auto& [key, value] : headers)
            if (strcasecmp(key.c_str(), name.c_str()) == 0)
                found.push_back(value);
        return found;
    }
};

// An HTTP/1.1 server on a Unix socket that records each request it gets.
// What it does depends on the path, after an optional language prefix:
//   /hold      answers only once released (or after 20 s)
//   /silent    never answers and waits for nginx to give up
//   /stall     never reads the body and waits for nginx to give up
//   /slow-read reads the body in small pieces with pauses
//   /big/N     answers with N bytes
//   otherwise  reads the body and answers "recorded"
class RecordingServer {
public:
    explicit RecordingServer(fs::path socketPath)
        : path_(std::move(socketPath))
    {
        listener_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listener_ < 0)
            throw std::runtime_error("socket: " + std::string(strerror(errno)));
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        if (path_.string().size() >= sizeof address.sun_path)
            throw std::runtime_error("socket path too long: " + path_.string());
        std::strcpy(address.sun_path, path_.c_str());
        if (bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(listener_, 128) != 0)
            throw std::runtime_error("binding " + path_.string() + ": " + strerror(errno));
        // nginx's workers run as nobody when the tests run as root.
        fs::permissions(path_, fs::perms(0666));
        acceptor_ = std::thread([this] { acceptLoop(); });
    }

    ~RecordingServer()
    {
        stopping_ = true;
        release();
        acceptor_.join();
        for (auto& worker : workers_)
            worker.join();
        ::close(listener_);
        std::error_code ignored;
        fs::remove(path_, ignored);
    }

    RecordingServer(const RecordingServer&) = delete;
    RecordingServer& operator=(const RecordingServer&) = delete;

    std::vector<RecordedRequest> requests()
    {
        std::lock_guard lock(mutex_);
        return requests_;
    }

    std::size_t requestCount()
    {
        std::lock_guard lock(mutex_);
        return requests_.size();
    }

    // Body bytes received so far over all connections, finished or not.
    std::uint64_t bodyBytesSeen() const { return bodyBytesSeen_; }
    int heldRequests() const { return held_; }
    int openConnections() const { return open_; }

    void release()
    {
        std::lock_guard lock(mutex_);
        released_ = true;
        releaseSignal_.notify_all();
    }

private:
    void acceptLoop()
    {
        // At most this many connections over the server's life, which bounds
        // the threads it starts.
        constexpr std::size_t maximumConnections = 600;
        while (!stopping_ && workers_.size() < maximumConnections) {
            pollfd waiting{listener_, POLLIN, 0};
            if (poll(&waiting, 1, 50) <= 0)
                continue;
            const int connection = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
            if (connection < 0)
                continue;
            const timeval sendTimeout{0, 200000};
            setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, sizeof sendTimeout);
            workers_.emplace_back([this, connection] {
                ++open_;
                serve(connection);
                --open_;
                ::close(connection);
            });
        }
    }

    // Waits until the peer closes the connection or the time is up.
    void waitForPeerClose(int connection, std::chrono::seconds limit)
    {
        const auto deadline = Clock::now() + limit;
        char scratch[4096];
        while (!stopping_ && Clock::now() < deadline) {
            pollfd waiting{connection, POLLIN, 0};
            if (poll(&waiting, 1, 50) <= 0)
                continue;
            const auto got = recv(connection, scratch, sizeof scratch, 0);
            if (got <= 0)
                return;
        }
    }

    // Reads until "\r\n\r\n"; returns the header block and leaves what
    // followed it in `rest`.
    std::optional<std::string> readHeader(int connection, std::string& rest)
    {
        std::string data;
        const auto deadline = Clock::now() + 60s;
        char buffer[4096];
        while (!stopping_ && Clock::now() < deadline && data.size() < 256 * 1024) {
            const auto end = data.find("\r\n\r\n");
            if (end != std::string::npos) {
                rest = data.substr(end + 4);
                return data.substr(0, end);
            }
            pollfd waiting{connection, POLLIN, 0};
            if (poll(&waiting, 1, 100) <= 0)
                continue;
            const auto got = recv(connection, buffer, sizeof buffer, 0);
            if (got <= 0)
                return std::nullopt;
            data.append(buffer, static_cast<std::size_t>(got));
        }
        return std::nullopt;
    }

    // Reads more bytes into `data`; false when the connection ended or a
    // minute passed without any.
    bool readMore(int connection, std::string& data, std::size_t maximum = 65536)
    {
        std::vector<char> buffer(maximum);
        const auto deadline = Clock::now() + 60s;
        while (!stopping_ && Clock::now() < deadline) {
            pollfd waiting{connection, POLLIN, 0};
            if (poll(&waiting, 1, 50) <= 0)
                continue;
            const auto got = recv(connection, buffer.data(), buffer.size(), 0);
            if (got <= 0)
                return false;
            data.append(buffer.data(), static_cast<std::size_t>(got));
            return true;
        }
        return false;
    }

    // Reads a body of the given length, or a chunked body, counting bytes
    // as they arrive.
    bool readBody(int connection, RecordedRequest& request, std::string pending, bool slowly)
    {
        const auto lengths = request.values("Content-Length");
        const auto encodings = request.values("Transfer-Encoding");
        const std::size_t piece = slowly ? 4096 : 65536;
        if (!lengths.empty()) {
            const auto length = std::stoull(lengths.front());
            std::uint64_t seen = 0;
            for (;;) {
                const auto take = std::min<std::uint64_t>(pending.size(), length - seen);
                seen += take;
                bodyBytesSeen_ += take;
                request.bodyBytes = seen;
                pending.clear();
                if (seen >= length)
                    return true;
                if (slowly)
                    std::this_thread::sleep_for(2ms);
                if (!readMore(connection, pending, piece))
                    return false;
            }
        }
        if (!encodings.empty() && strcasecmp(encodings.front().c_str(), "chunked") == 0) {
            for (int chunks = 0; chunks < 100000; ++chunks) {
                std::size_t lineEnd;
                while ((lineEnd = pending.find("\r\n")) == std::string::npos)
                    if (!readMore(connection, pending, piece))
                        return false;
                const auto size = std::stoull(pending.substr(0, lineEnd), nullptr, 16);
                pending.erase(0, lineEnd + 2);
                // Chunk data is counted as it arrives, not once the whole
                // chunk is in.
                std::size_t counted = 0;
                auto count = [&] {
                    const auto now = std::min<std::size_t>(pending.size(), size);
                    bodyBytesSeen_ += now - counted;
                    request.bodyBytes += now - counted;
                    counted = now;
                };
                count();
                while (pending.size() < size + 2) {
                    if (!readMore(connection, pending, piece))
                        return false;
                    count();
                }
                if (size == 0)
                    return true;
                pending.erase(0, size + 2);
            }
            return false;
        }
        return true;
    }

    void respond(int connection, const std::string& status, const std::string& body)
    {
        const std::string response = "HTTP/1.1 " + status + "\r\nContent-Type: text/plain\r\nContent-Length: " +
                                     std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        sendAll(connection, response);
    }

    // The connection has a send timeout, so a blocked send returns now and
    // then to look at the deadline and at the server stopping.
    bool sendAll(int connection, std::string_view data)
    {
        const auto deadline = Clock::now() + 120s;
        while (!data.empty() && !stopping_ && Clock::now() < deadline) {
            const auto sent = send(connection, data.data(), data.size(), MSG_NOSIGNAL);
            if (sent < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (sent <= 0)
                return false;
            data.remove_prefix(static_cast<std::size_t>(sent));
        }
        return data.empty();
    }

    void record(const RecordedRequest& request)
    {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
    }

    void serve(int connection)
    {
        std::string pending;
        const auto header = readHeader(connection, pending);
        if (!header)
            return;
        RecordedRequest request;
        std::size_t lineStart = 0;
        for (int lines = 0; lines < 1000; ++lines) {
            auto lineEnd = header->find("\r\n", lineStart);
            const auto line = header->substr(lineStart, lineEnd == std::string::npos ? std::string::npos : lineEnd - lineStart);
            if (lines == 0) {
                request.requestLine = line;
            } else {
                const auto colon = line.find(':');
                if (colon != std::string::npos) {
                    auto value = line.substr(colon + 1);
                    value.erase(0, value.find_first_not_of(' '));
                    request.headers.emplace_back(line.substr(0, colon), value);
                }
            }
            if (lineEnd == std::string::npos)
                break;
            lineStart = lineEnd + 2;
        }

        const auto firstSpace = request.requestLine.find(' ');
        auto path = request.requestLine.substr(firstSpace + 1, request.requestLine.rfind(' ') - firstSpace - 1);
        // A language prefix chooses the error page at the edge; the
        // behaviour here depends on the rest of the path.
        static const std::regex language("^/(nl|en|fr)(/|$)");
        path = std::regex_replace(path, language, "/");

        if (path.starts_with("/silent")) {
            record(request);
            waitForPeerClose(connection, 120s);
            return;
        }
        if (path.starts_with("/stall")) {
            record(request);
            waitForPeerClose(connection, 120s);
            return;
        }
        const bool complete = readBody(connection, request, pending, path.starts_with("/slow-read"));
        record(request);
        if (!complete)
            return;
        if (path.starts_with("/hold")) {
            ++held_;
            {
                std::unique_lock lock(mutex_);
                releaseSignal_.wait_for(lock, 20s, [this] { return released_; });
            }
            --held_;
            respond(connection, "200 OK", "released");
            return;
        }
        if (path.starts_with("/big/")) {
            const auto size = std::stoull(path.substr(5));
            const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                                     std::to_string(size) + "\r\nConnection: close\r\n\r\n";
            if (!sendAll(connection, head))
                return;
            const std::string block(65536, 'x');
            for (std::uint64_t sent = 0; sent < size && !stopping_;) {
                const auto take = std::min<std::uint64_t>(block.size(), size - sent);
                if (!sendAll(connection, std::string_view(block).substr(0, take)))
                    return;
                sent += take;
            }
            return;
        }
        respond(connection, "200 OK", "recorded");
    }

    fs::path path_;
    int listener_ = -1;
    std::atomic<bool> stopping_{false};
    std::thread acceptor_;
    std::list<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable releaseSignal_;
    bool released_ = false;
    std::vector<RecordedRequest> requests_;
    std::atomic<std::uint64_t> bodyBytesSeen_{0};
    std::atomic<int> held_{0};
    std::atomic<int> open_{0};
};

// ----------------------------------------------------------------------
// The TLS client.

struct Response {
    int status = 0;
    std::string head;
    std::map<std::string, std::vector<std::string>> headers; // names in lower case
    std::string body;
    bool complete = false;

    std::string header(const std::string& name) const
    {
        const auto found = headers.find(name);
        return found == headers.end() || found->second.empty() ? std::string() : found->second.front();
    }
};

// How a read ended.
enum class Ending { Data, Closed, Reset, Timeout, Failed };

// Parses as much of an HTTP/1.1 response as `raw` holds.
Response parseResponse(const std::string& raw, bool connectionClosed)
{
    Response response;
    const auto headEnd = raw.find("\r\n\r\n");
    if (headEnd == std::string::npos)
        return response;
    response.head = raw.substr(0, headEnd);
    std::sscanf(response.head.c_str(), "HTTP/1.%*d %d", &response.status);
    std::size_t lineStart = response.head.find("\r\n");
    while (lineStart != std::string::npos) {
        lineStart += 2;
        const auto lineEnd = response.head.find("\r\n", lineStart);
        const auto line = response.head.substr(lineStart, lineEnd == std::string::npos ? std::string::npos : lineEnd - lineStart);
        const auto colon = line.find(':');
        if (colon != std::string::npos) {
            auto name = line.substr(0, colon);
            std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
            auto value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            response.headers[name].push_back(value);
        }
        lineStart = lineEnd;
    }
    const auto body = raw.substr(headEnd + 4);
    const auto length = response.header("content-length");
    if (!length.empty()) {
        const auto expected = std::stoull(length);
        response.body = body.substr(0, expected);
        response.complete = body.size() >= expected;
    } else if (response.header("transfer-encoding") == "chunked") {
        std::size_t position = 0;
        for (int chunks = 0; chunks < 100000; ++chunks) {
            const auto lineEnd = body.find("\r\n", position);
            if (lineEnd == std::string::npos)
                break;
            const auto size = std::stoull(body.substr(position, lineEnd - position), nullptr, 16);
            if (size == 0) {
                response.complete = true;
                break;
            }
            if (body.size() < lineEnd + 2 + size)
                break;
            response.body += body.substr(lineEnd + 2, size);
            position = lineEnd + 2 + size + 2;
        }
    } else {
        response.body = body;
        response.complete = connectionClosed;
    }
    return response;
}

struct ClientOptions {
    std::string sourceAddress = clientAddress;
    int minimumVersion = TLS1_2_VERSION;
    int maximumVersion = TLS1_3_VERSION;
    std::string cipherList; // TLS 1.2 ciphers; empty: OpenSSL's default
    std::string suiteList;  // TLS 1.3 cipher suites in the client's order; empty: OpenSSL's default
    int receiveBuffer = 0;  // SO_RCVBUF; 0: the kernel's default

    ClientOptions& from(std::string address)
    {
        sourceAddress = std::move(address);
        return *this;
    }
    ClientOptions& versions(int minimum, int maximum)
    {
        minimumVersion = minimum;
        maximumVersion = maximum;
        return *this;
    }
    ClientOptions& ciphers(std::string list)
    {
        cipherList = std::move(list);
        return *this;
    }
    ClientOptions& suites(std::string list)
    {
        suiteList = std::move(list);
        return *this;
    }
    ClientOptions& receiveBufferBytes(int bytes)
    {
        receiveBuffer = bytes;
        return *this;
    }
};

class TlsClient {
public:
    TlsClient(unsigned short port, const fs::path& caFile, const ClientOptions& options = ClientOptions())
    {
        context_ = SSL_CTX_new(TLS_client_method());
        // Security level 0 lets this client offer TLS 1.1 and old ciphers,
        // so that a refusal comes from the server.
        SSL_CTX_set_security_level(context_, 0);
        SSL_CTX_set_min_proto_version(context_, options.minimumVersion);
        SSL_CTX_set_max_proto_version(context_, options.maximumVersion);
        if (!options.cipherList.empty())
            SSL_CTX_set_cipher_list(context_, options.cipherList.c_str());
        if (!options.suiteList.empty())
            SSL_CTX_set_ciphersuites(context_, options.suiteList.c_str());
        SSL_CTX_load_verify_locations(context_, caFile.c_str(), nullptr);
        SSL_CTX_set_verify(context_, SSL_VERIFY_PEER, nullptr);

        fd_ = plainConnect(port, options.sourceAddress, options.receiveBuffer);
        fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
        ssl_ = SSL_new(context_);
        SSL_set_fd(ssl_, fd_);
        SSL_set_tlsext_host_name(ssl_, "localhost");
        SSL_set1_host(ssl_, "localhost");
        SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }

    ~TlsClient()
    {
        if (ssl_ != nullptr)
            SSL_free(ssl_);
        if (context_ != nullptr)
            SSL_CTX_free(context_);
        if (fd_ >= 0)
            ::close(fd_);
    }

    TlsClient(const TlsClient&) = delete;
    TlsClient& operator=(const TlsClient&) = delete;

    // Connects a plain TCP socket from `source` to 127.0.0.1:port.
    static int plainConnect(unsigned short port, const std::string& source, int receiveBuffer = 0)
    {
        const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (receiveBuffer > 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
        sockaddr_in local{};
        local.sin_family = AF_INET;
        inet_pton(AF_INET, source.c_str(), &local.sin_addr);
        if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
            throw std::runtime_error("binding the client to " + source + ": " + strerror(errno));
        sockaddr_in remote{};
        remote.sin_family = AF_INET;
        remote.sin_port = htons(port);
        remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0)
            throw std::runtime_error("connecting to the edge: " + std::string(strerror(errno)));
        return fd;
    }

    bool handshake(std::chrono::milliseconds limit = 10s)
    {
        const auto deadline = Clock::now() + limit;
        while (Clock::now() < deadline) {
            ERR_clear_error();
            const int result = SSL_connect(ssl_);
            if (result == 1)
                return true;
            const int error = SSL_get_error(ssl_, result);
            if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
                waitReady(error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
                continue;
            }
            char text[256];
            ERR_error_string_n(ERR_peek_last_error(), text, sizeof text);
            error_ = text;
            return false;
        }
        error_ = "handshake timed out";
        return false;
    }

    const std::string& error() const { return error_; }
    SSL* ssl() { return ssl_; }
    int fd() const { return fd_; }

    // Writes all of `data`; false when the connection ends or the time is up.
    bool write(std::string_view data, std::chrono::milliseconds limit = 10s)
    {
        const auto deadline = Clock::now() + limit;
        while (!data.empty()) {
            if (Clock::now() >= deadline)
                return false;
            ERR_clear_error();
            const int written = SSL_write(ssl_, data.data(), static_cast<int>(std::min<std::size_t>(data.size(), 16384)));
            if (written > 0) {
                data.remove_prefix(static_cast<std::size_t>(written));
                continue;
            }
            const int error = SSL_get_error(ssl_, written);
            if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE)
                return false;
            waitReady(error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
        }
        return true;
    }

    // Reads what is there, waiting up to the deadline for something.
    Ending readSome(std::string& into, Clock::time_point deadline, std::size_t maximum = 65536)
    {
        std::vector<char> buffer(maximum);
        while (true) {
            ERR_clear_error();
            errno = 0;
            const int got = SSL_read(ssl_, buffer.data(), static_cast<int>(buffer.size()));
            if (got > 0) {
                into.append(buffer.data(), static_cast<std::size_t>(got));
                return Ending::Data;
            }
            const int error = SSL_get_error(ssl_, got);
            const int savedErrno = errno;
            if (error == SSL_ERROR_ZERO_RETURN)
                return Ending::Closed;
            if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
                if (Clock::now() >= deadline)
                    return Ending::Timeout;
                waitReady(error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
                continue;
            }
            if (error == SSL_ERROR_SYSCALL && savedErrno == ECONNRESET)
                return Ending::Reset;
            if (error == SSL_ERROR_SYSCALL && savedErrno == 0)
                return Ending::Closed;
            // OpenSSL 3 reports an EOF without close_notify as an SSL error.
            if (ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
                return Ending::Closed;
            return Ending::Failed;
        }
    }

    // Reads until a whole response is in, the connection ends or the time
    // is up.
    Response readResponse(std::chrono::milliseconds limit = 15s)
    {
        const auto deadline = Clock::now() + limit;
        for (int reads = 0; reads < 100000; ++reads) {
            auto response = parseResponse(pending_, false);
            if (response.complete) {
                consume(response);
                return response;
            }
            const auto ending = readSome(pending_, deadline);
            if (ending != Ending::Data) {
                lastEnding_ = ending;
                response = parseResponse(pending_, true);
                pending_.clear();
                return response;
            }
        }
        return {};
    }

    // Sends `request` while reading, so a server that answers before it
    // has read everything (413, 504) is heard.
    Response exchange(std::string_view request, std::chrono::milliseconds limit = 15s)
    {
        const auto deadline = Clock::now() + limit;
        for (int rounds = 0; rounds < 1000000 && Clock::now() < deadline; ++rounds) {
            if (!request.empty()) {
                ERR_clear_error();
                const int written =
                    SSL_write(ssl_, request.data(), static_cast<int>(std::min<std::size_t>(request.size(), 16384)));
                if (written > 0) {
                    request.remove_prefix(static_cast<std::size_t>(written));
                } else {
                    const int error = SSL_get_error(ssl_, written);
                    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE)
                        request = {};
                }
            }
            const auto ending = readSome(pending_, std::min(deadline, Clock::now() + 5ms));
            auto response = parseResponse(pending_, ending == Ending::Closed || ending == Ending::Reset);
            if (response.complete || ending == Ending::Closed || ending == Ending::Reset || ending == Ending::Failed) {
                lastEnding_ = ending;
                consume(response);
                return response;
            }
        }
        return parseResponse(pending_, false);
    }

    // Waits for the connection to end, reading and counting what arrives.
    // Returns how it ended: Closed or Reset, or Timeout.
    Ending waitForEnd(std::chrono::milliseconds limit, std::uint64_t* received = nullptr)
    {
        const auto deadline = Clock::now() + limit;
        std::string sink;
        for (int reads = 0; reads < 10000000; ++reads) {
            const auto ending = readSome(sink, deadline);
            if (received != nullptr)
                *received += sink.size();
            sink.clear();
            if (ending != Ending::Data)
                return ending;
        }
        return Ending::Timeout;
    }

    Ending lastEnding() const { return lastEnding_; }

private:
    void consume(const Response& response)
    {
        const auto headEnd = pending_.find("\r\n\r\n");
        if (headEnd == std::string::npos || !response.complete) {
            pending_.clear();
            return;
        }
        // Only responses with Content-Length are ever kept alive in these
        // tests, so the rest of the buffer starts the next response.
        pending_.erase(0, std::min(pending_.size(), headEnd + 4 + response.body.size()));
    }

    void waitReady(short events, Clock::time_point deadline)
    {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        pollfd waiting{fd_, events, 0};
        poll(&waiting, 1, static_cast<int>(std::clamp<long long>(left, 0, 100)));
    }

    SSL_CTX* context_ = nullptr;
    SSL* ssl_ = nullptr;
    int fd_ = -1;
    std::string error_;
    std::string pending_;
    Ending lastEnding_ = Ending::Data;
};

std::string get(const std::string& path, const std::string& extraHeaders = "")
{
    return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n" + extraHeaders + "\r\n";
}

std::string postHeader(const std::string& path, std::uint64_t length)
{
    return "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
           std::to_string(length) + "\r\n\r\n";
}

// ----------------------------------------------------------------------
// The fixture: test PKI, web UI with static error pages, the recording
// server and one nginx edge in front of it.

class EdgeFixture {
public:
    explicit EdgeFixture(bool withUpstream = true)
        : scratch_("edge-test")
    {
        makePki();
        makeWebui();
        const auto socketPath = scratch_.path() / "upstream.sock";
        if (withUpstream)
            upstream_ = std::make_unique<RecordingServer>(socketPath);
        edge_ = std::make_unique<Edge>(Edge::Options{
            .sourceDir = sourceDir,
            .port = 0,
            .upstreamSocket = socketPath,
            .formsSocket = {},
            .certificate = scratch_.path() / "pki/server.pem",
            .certificateKey = scratch_.path() / "pki/server.key",
            .maxBodyBytes = maxBodyBytes,
            .reportBodyBytes = 1048576,
            .webui = scratch_.path() / "webui",
            .errorLog = scratch_.path() / "edge-error.log",
            .languages = "nl|en",
        });
    }

    RecordingServer& upstream() { return *upstream_; }
    Edge& edge() { return *edge_; }
    fs::path caFile() const { return scratch_.path() / "pki/ca.pem"; }
    const fs::path& folder() const { return scratch_.path(); }

    std::unique_ptr<TlsClient> client(const ClientOptions& options = ClientOptions())
    {
        auto connection = std::make_unique<TlsClient>(edge_->port(), caFile(), options);
        INFO(connection->error());
        REQUIRE(connection->handshake());
        return connection;
    }

    Response request(const std::string& text, const std::string& source = clientAddress)
    {
        auto connection = client(ClientOptions().from(source));
        REQUIRE(connection->write(text));
        return connection->readResponse();
    }

    // The text of the static error page for a status in a language.
    static std::string errorPage(const std::string& language, int status)
    {
        return "<p>edge error page " + language + " " + std::to_string(status) + "</p>";
    }

private:
    void makePki()
    {
        const auto log = scratch_.path() / "pki.log";
        Process pki({(sourceDir / "tests/make-test-pki").string(), (scratch_.path() / "pki").string()},
                    Process::Options({}, log));
        const auto status = pki.wait(30s);
        INFO(readFile(log));
        REQUIRE(status);
        REQUIRE(WIFEXITED(*status));
        REQUIRE(WEXITSTATUS(*status) == 0);
    }

    void makeWebui()
    {
        const auto webui = scratch_.path() / "webui";
        for (const char* language : {"nl", "en"}) {
            fs::create_directories(webui / "errors" / language);
            for (int status : {413, 429, 502, 503, 504})
                std::ofstream(webui / "errors" / language / (std::to_string(status) + ".html"))
                    << "<!doctype html>" << errorPage(language, status) << "\n";
        }
        fs::create_directories(webui / "static");
        std::ofstream(webui / "static/site.css") << "body { margin: 0; }\n";
    }

    ScratchFolder scratch_;
    std::unique_ptr<RecordingServer> upstream_;
    std::unique_ptr<Edge> edge_;
};

// Lists every entry in the instance's temporary folders.
std::vector<fs::path> temporaryEntries(const fs::path& prefix)
{
    std::vector<fs::path> found;
    for (const auto& folder : temporaryFolders) {
        std::error_code error;
        for (auto it = fs::recursive_directory_iterator(prefix / folder, error); !error && it != fs::recursive_directory_iterator();
             it.increment(error))
            found.push_back(it->path());
    }
    return found;
}

// nginx's master process and its workers.
std::vector<pid_t> nginxProcesses(pid_t master);

// Files that the given processes hold open under `folder`. nginx unlinks a
// temporary file as soon as it has opened it, so a file being buffered
// shows only here, as "<path> (deleted)".
std::vector<fs::path> filesHeldUnder(const std::vector<pid_t>& processes, const fs::path& folder)
{
    std::vector<fs::path> found;
    const auto prefix = folder.string() + "/";
    for (pid_t process : processes) {
        std::error_code error;
        const fs::path descriptors = fs::path("/proc") / std::to_string(process) / "fd";
        for (auto it = fs::directory_iterator(descriptors, error); !error && it != fs::directory_iterator(); it.increment(error)) {
            std::error_code linkError;
            const auto target = fs::read_symlink(it->path(), linkError);
            if (!linkError && target.string().starts_with(prefix))
                found.push_back(target);
        }
    }
    return found;
}

// Watches, in the background for as long as it lives, both the temporary
// folders and the files that nginx's processes hold open in them.
class TemporaryFileWatch {
public:
    explicit TemporaryFileWatch(const Edge& edge)
        : prefix_(fs::weakly_canonical(edge.prefix()))
        , processes_(nginxProcesses(edge.pid()))
        , thread_([this] {
            // Bounded by time as well as by the owner stopping it.
            const auto deadline = Clock::now() + 120s;
            while (!stop_ && Clock::now() < deadline) {
                auto entries = temporaryEntries(prefix_);
                for (const auto& folder : temporaryFolders) {
                    const auto held = filesHeldUnder(processes_, prefix_ / folder);
                    entries.insert(entries.end(), held.begin(), held.end());
                }
                ++scans_;
                if (!entries.empty()) {
                    std::lock_guard lock(mutex_);
                    seen_.insert(seen_.end(), entries.begin(), entries.end());
                }
                std::this_thread::sleep_for(1ms);
            }
        })
    {
    }

    ~TemporaryFileWatch()
    {
        stop_ = true;
        thread_.join();
    }

    TemporaryFileWatch(const TemporaryFileWatch&) = delete;
    TemporaryFileWatch& operator=(const TemporaryFileWatch&) = delete;

    std::vector<fs::path> seen()
    {
        std::lock_guard lock(mutex_);
        return seen_;
    }
    int scans() const { return scans_; }
    std::size_t processes() const { return processes_.size(); }

private:
    fs::path prefix_;
    std::vector<pid_t> processes_;
    std::atomic<bool> stop_{false};
    std::atomic<int> scans_{0};
    std::mutex mutex_;
    std::vector<fs::path> seen_;
    std::thread thread_;
};

// nginx's master process and its workers.
std::vector<pid_t> nginxProcesses(pid_t master)
{
    std::vector<pid_t> processes{master};
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos)
            continue;
        const auto stat = readFile(entry.path() / "stat");
        const auto afterName = stat.rfind(')');
        if (afterName == std::string::npos)
            continue;
        char state = 0;
        int parent = 0;
        if (std::sscanf(stat.c_str() + afterName + 1, " %c %d", &state, &parent) == 2 && parent == master)
            processes.push_back(std::stoi(name));
    }
    return processes;
}

} // namespace

// ----------------------------------------------------------------------

TEST_CASE("forged address headers never reach the daemon and X-Real-IP is the client's own address", "[edge]")
{
    EdgeFixture fixture;
    const auto response = fixture.request(get("/nl/report",
                                               "X-Forwarded-For: 203.0.113.1\r\n"
                                               "X-Real-IP: 203.0.113.2\r\n"
                                               "x-real-ip: 203.0.113.3\r\n"
                                               "Forwarded: for=203.0.113.4\r\n"
                                               "X_Real_IP: 203.0.113.5\r\n"
                                               "X-Forwarded-Host: 203.0.113.6\r\n"
                                               "X-Forwarded-Proto: http\r\n"));
    REQUIRE(response.status == 200);
    const auto requests = fixture.upstream().requests();
    REQUIRE(requests.size() == 1);
    const auto& seen = requests.front();
    INFO(seen.requestLine);
    CHECK(seen.values("X-Real-IP") == std::vector<std::string>{clientAddress});
    CHECK(seen.values("X-Forwarded-For").empty());
    CHECK(seen.values("Forwarded").empty());
    CHECK(seen.values("X_Real_IP").empty());
    CHECK(seen.values("X-Forwarded-Host").empty());
    CHECK(seen.values("X-Forwarded-Proto").empty());
    for (const auto& [name, value] : seen.headers) {
        INFO(name << ": " << value);
        CHECK_THAT(value, !ContainsSubstring("203.0.113."));
    }
    // proxy_http_version: the daemon is spoken to in HTTP/1.1.
    CHECK(seen.requestLine == "GET /nl/report HTTP/1.1");
}

TEST_CASE("a request body streams to the daemon before the client has sent all of it", "[edge]")
{
    EdgeFixture fixture;

    SECTION("with a Content-Length")
    {
        constexpr std::uint64_t total = 200000;
        constexpr std::uint64_t first = 50000;
        auto connection = fixture.client();
        REQUIRE(connection->write(postHeader("/nl/report", total) + std::string(first, 'a')));
        CHECK(waitFor([&] { return fixture.upstream().bodyBytesSeen() >= first; }, 10s));
        CHECK(fixture.upstream().requestCount() == 0);
        REQUIRE(connection->write(std::string(total - first, 'b')));
        const auto response = connection->readResponse();
        CHECK(response.status == 200);
        const auto requests = fixture.upstream().requests();
        REQUIRE(requests.size() == 1);
        CHECK(requests.front().bodyBytes == total);
    }

    SECTION("chunked")
    {
        auto connection = fixture.client();
        const std::string chunk(30000, 'c');
        char size[16];
        std::snprintf(size, sizeof size, "%zx", chunk.size());
        REQUIRE(connection->write("POST /en/report HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                  std::string(size) + "\r\n" + chunk + "\r\n"));
        CHECK(waitFor([&] { return fixture.upstream().bodyBytesSeen() >= chunk.size(); }, 10s));
        CHECK(fixture.upstream().requestCount() == 0);
        REQUIRE(connection->write(std::string(size) + "\r\n" + chunk + "\r\n0\r\n\r\n"));
        const auto response = connection->readResponse();
        CHECK(response.status == 200);
        const auto requests = fixture.upstream().requests();
        REQUIRE(requests.size() == 1);
        CHECK(requests.front().bodyBytes == 2 * chunk.size());
    }
}

TEST_CASE("no temporary file appears during a large upload or a large download", "[edge]")
{
    EdgeFixture fixture;
    const auto prefix = fixture.edge().prefix();
    for (const auto& folder : temporaryFolders)
        CHECK(fs::is_directory(prefix / folder));

    // The master forks its workers after it is ready, so on a busy
    // machine the first look may find the master alone.
    REQUIRE(waitFor([&] { return nginxProcesses(fixture.edge().pid()).size() >= 2; }, 10s));
    TemporaryFileWatch watch(fixture.edge());
    CHECK(watch.processes() >= 2);

    // The daemon reads slowly, so nginx has to hold back the body; it must
    // slow the client down rather than spool the body to disk.
    {
        auto connection = fixture.client();
        const auto response = connection->exchange(postHeader("/nl/slow-read", maxBodyBytes) + std::string(maxBodyBytes, 'u'), 60s);
        CHECK(response.status == 200);
        const auto requests = fixture.upstream().requests();
        REQUIRE(requests.size() == 1);
        CHECK(requests.front().bodyBytes == maxBodyBytes);
    }

    // The client reads a large response slowly, so nginx has to hold back
    // the response; it must slow the daemon down rather than spool it.
    {
        constexpr std::uint64_t size = 8 * 1024 * 1024;
        auto connection = fixture.client(ClientOptions().receiveBufferBytes(16384));
        REQUIRE(connection->write(get("/nl/big/" + std::to_string(size))));
        std::string received;
        const auto deadline = Clock::now() + 60s;
        for (int reads = 0; reads < 100000 && received.size() < size + 100 && Clock::now() < deadline; ++reads) {
            if (connection->readSome(received, deadline, 16384) != Ending::Data)
                break;
            std::this_thread::sleep_for(1ms);
        }
        const auto response = parseResponse(received, true);
        CHECK(response.status == 200);
        CHECK(response.body.size() == size);
    }

    CHECK(watch.scans() > 10);
    const auto seen = watch.seen();
    for (const auto& path : seen)
        UNSCOPED_INFO("temporary file: " << path);
    CHECK(seen.empty());
}

TEST_CASE("a body one byte over the maximum gets 413 with the page in the path's language", "[edge]")
{
    EdgeFixture fixture;

    SECTION("exactly the maximum passes")
    {
        auto connection = fixture.client();
        const auto response = connection->exchange(postHeader("/nl/report", maxBodyBytes) + std::string(maxBodyBytes, 'm'), 30s);
        CHECK(response.status == 200);
        const auto requests = fixture.upstream().requests();
        REQUIRE(requests.size() == 1);
        CHECK(requests.front().bodyBytes == maxBodyBytes);
    }

    const std::vector<std::pair<std::string, std::string>> cases = {
        {"/nl/report", "nl"}, {"/nl", "nl"}, {"/nl?step=2", "nl"}, {"/en/report", "en"},
        {"/report", "en"},    {"/fr/report", "en"}, {"/nlx/report", "en"},
    };
    for (const auto& [path, language] : cases) {
        DYNAMIC_SECTION("over the maximum at " << path)
        {
            auto connection = fixture.client();
            const auto response = connection->exchange(postHeader(path, maxBodyBytes + 1) + std::string(maxBodyBytes + 1, 'o'), 30s);
            CHECK(response.status == 413);
            CHECK_THAT(response.body, ContainsSubstring(EdgeFixture::errorPage(language, 413)));
            CHECK_THAT(response.header("content-type"), ContainsSubstring("text/html"));
            CHECK(fixture.upstream().requestCount() == 0);
            CHECK(fixture.upstream().bodyBytesSeen() == 0);
        }
    }
}

TEST_CASE("nothing is logged: no access log and no client address in the error log", "[edge]")
{
    EdgeFixture fixture;
    auto& edge = fixture.edge();

    // An ordinary request, as a baseline.
    CHECK(fixture.request(get("/nl/report")).status == 200);

    // A malformed request inside TLS.
    {
        auto connection = fixture.client();
        REQUIRE(connection->write("THIS IS NOT HTTP\r\n\r\n"));
        CHECK(connection->readResponse().status == 400);
    }
    // A request line without a version and with a bad header.
    {
        auto connection = fixture.client();
        REQUIRE(connection->write("GET /\x01\x02 HTTP/1.1\r\nHost localhost\r\n\r\n"));
        CHECK(connection->readResponse().status == 400);
    }
    // Plain HTTP sent to the TLS port.
    {
        const int fd = TlsClient::plainConnect(edge.port(), clientAddress);
        const std::string plain = get("/nl/report");
        CHECK(send(fd, plain.data(), plain.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(plain.size()));
        pollfd waiting{fd, POLLIN, 0};
        char buffer[4096];
        CHECK(poll(&waiting, 1, 10000) == 1);
        const auto got = recv(fd, buffer, sizeof buffer, 0);
        CHECK_THAT(std::string(buffer, static_cast<std::size_t>(std::max<ssize_t>(got, 0))), ContainsSubstring("400"));
        ::close(fd);
    }
    // Garbage instead of a TLS handshake.
    {
        const int fd = TlsClient::plainConnect(edge.port(), clientAddress);
        const std::string garbage(300, '\x16');
        send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL);
        pollfd waiting{fd, POLLIN, 0};
        poll(&waiting, 1, 1000);
        ::close(fd);
    }
    // A 413.
    {
        auto connection = fixture.client();
        CHECK(connection->exchange(postHeader("/en/report", maxBodyBytes + 1), 30s).status == 413);
    }
    // A header that times out.
    {
        auto connection = fixture.client();
        REQUIRE(connection->write("GET /en/report HTTP/1.1\r\nHost: localhost\r\n"));
        const auto ending = connection->waitForEnd(directiveSeconds("client_header_timeout") + 10s);
        CHECK((ending == Ending::Reset || ending == Ending::Closed));
    }
    // A request while the daemon is gone would be logged as an upstream
    // error naming the client; that is covered below with the 502 pages.

    edge.stop();
    const auto errorLog = readFile(edge.errorLog());
    INFO("error log:\n" << errorLog);
    CHECK_THAT(errorLog, !ContainsSubstring(clientAddress));
    CHECK_THAT(errorLog, !ContainsSubstring("client:"));

    for (const auto& entry : fs::recursive_directory_iterator(fixture.folder())) {
        INFO(entry.path());
        CHECK_THAT(entry.path().filename().string(), !ContainsSubstring("access"));
    }
}

TEST_CASE("nginx holds no log file open but the error log", "[edge]")
{
    EdgeFixture fixture;
    auto& edge = fixture.edge();
    CHECK(fixture.request(get("/nl/report")).status == 200);

    // Files that the test process itself holds without close-on-exec (a
    // test runner's log, for example) are inherited by nginx and are not
    // nginx's doing.
    std::set<fs::path> inherited;
    for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
        std::error_code error;
        const auto target = fs::read_symlink(entry.path(), error);
        if (!error)
            inherited.insert(target);
    }

    const auto processes = nginxProcesses(edge.pid());
    CHECK(processes.size() >= 2);
    for (pid_t process : processes) {
        const fs::path descriptors = fs::path("/proc") / std::to_string(process) / "fd";
        for (const auto& entry : fs::directory_iterator(descriptors)) {
            std::error_code error;
            const auto target = fs::read_symlink(entry.path(), error);
            if (error || !target.is_absolute() || target.string().starts_with("/dev/"))
                continue;
            struct stat status {};
            if (::stat(target.c_str(), &status) != 0 || !S_ISREG(status.st_mode) || inherited.contains(target))
                continue;
            INFO("process " << process << " holds " << target);
            const bool allowed = target == fs::weakly_canonical(edge.errorLog()) ||
                                 target == fs::weakly_canonical(edge.outputLog());
            CHECK(allowed);
        }
    }
}

TEST_CASE("client_header_timeout resets a client that stalls in its header", "[edge]")
{
    EdgeFixture fixture;
    const auto timeout = directiveSeconds("client_header_timeout");
    auto connection = fixture.client();
    REQUIRE(connection->write("GET /nl/report HTTP/1.1\r\nHost: localhost\r\n"));
    const auto start = Clock::now();
    const auto ending = connection->waitForEnd(timeout + 10s);
    const auto elapsed = Clock::now() - start;
    // reset_timedout_connection: the connection ends with a reset.
    CHECK(ending == Ending::Reset);
    CHECK(elapsed >= timeout - 1s);
    CHECK(elapsed <= timeout + 5s);
    CHECK(fixture.upstream().requestCount() == 0);
}

TEST_CASE("client_body_timeout ends a client that stalls in its body", "[edge]")
{
    EdgeFixture fixture;
    const auto timeout = directiveSeconds("client_body_timeout");
    auto connection = fixture.client();
    REQUIRE(connection->write(postHeader("/nl/report", 10000) + std::string(100, 'p')));
    const auto start = Clock::now();
    const auto ending = connection->waitForEnd(timeout + 10s);
    const auto elapsed = Clock::now() - start;
    CHECK((ending == Ending::Reset || ending == Ending::Closed));
    CHECK(elapsed >= timeout - 1s);
    CHECK(elapsed <= timeout + 5s);
    // The daemon saw the start of the body and then the connection close;
    // it never got a complete request.
    CHECK(waitFor([&] { return fixture.upstream().openConnections() == 0; }, 5s));
    const auto requests = fixture.upstream().requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests.front().bodyBytes == 100);
}

TEST_CASE("send_timeout ends a client that stops reading", "[edge]")
{
    EdgeFixture fixture;
    const auto timeout = directiveSeconds("send_timeout");
    constexpr std::uint64_t size = 256ULL * 1024 * 1024;
    auto connection = fixture.client(ClientOptions().receiveBufferBytes(16384));
    REQUIRE(connection->write(get("/nl/big/" + std::to_string(size))));
    std::string start;
    REQUIRE(connection->readSome(start, Clock::now() + 10s, 4096) == Ending::Data);

    // Read nothing for longer than the deadline; nginx gives up on the
    // client and on the daemon's response.
    std::this_thread::sleep_for(timeout + 5s);
    std::uint64_t received = start.size();
    const auto ending = connection->waitForEnd(30s, &received);
    CHECK((ending == Ending::Reset || ending == Ending::Closed));
    CHECK(received < size);
    CHECK(waitFor([&] { return fixture.upstream().openConnections() == 0; }, 10s));
}

TEST_CASE("keepalive_timeout closes an idle connection", "[edge]")
{
    EdgeFixture fixture;
    const auto timeout = directiveSeconds("keepalive_timeout");
    auto connection = fixture.client();
    REQUIRE(connection->write(get("/nl/report")));
    const auto response = connection->readResponse();
    REQUIRE(response.status == 200);
    CHECK(response.header("connection") == "keep-alive");
    const auto start = Clock::now();
    const auto ending = connection->waitForEnd(timeout + 10s);
    const auto elapsed = Clock::now() - start;
    CHECK((ending == Ending::Closed || ending == Ending::Reset));
    CHECK(elapsed >= timeout - 1s);
    CHECK(elapsed <= timeout + 5s);
}

TEST_CASE("keepalive_requests closes a connection after its last allowed request", "[edge]")
{
    EdgeFixture fixture;
    const auto limit = directiveNumber("keepalive_requests");
    auto connection = fixture.client();
    for (long number = 1; number <= limit; ++number) {
        REQUIRE(connection->write(get("/en/report")));
        const auto response = connection->readResponse();
        INFO("request " << number);
        REQUIRE(response.status == 200);
        CHECK(response.header("connection") == (number < limit ? "keep-alive" : "close"));
    }
    CHECK(connection->waitForEnd(10s) != Ending::Timeout);
    CHECK(fixture.upstream().requestCount() == static_cast<std::size_t>(limit));
}

TEST_CASE("large_client_header_buffers refuses over-long header lines and request lines and headers", "[edge]")
{
    EdgeFixture fixture;
    const auto bufferBytes = static_cast<std::size_t>(directiveNumber("large_client_header_buffers", 1)) * 1024;
    const auto buffers = static_cast<std::size_t>(directiveNumber("large_client_header_buffers", 0));

    SECTION("a header line that fits passes")
    {
        const auto response = fixture.request(get("/nl/report", "X-Filler: " + std::string(bufferBytes - 100, 'f') + "\r\n"));
        CHECK(response.status == 200);
    }
    SECTION("a header line longer than one buffer is refused")
    {
        const auto response = fixture.request(get("/nl/report", "X-Filler: " + std::string(bufferBytes + 10, 'f') + "\r\n"));
        CHECK(response.status == 400);
    }
    SECTION("a request line longer than one buffer is refused")
    {
        const auto response = fixture.request(get("/nl/" + std::string(bufferBytes + 10, 'r')));
        CHECK(response.status == 414);
    }
    SECTION("a header larger than all buffers together is refused")
    {
        std::string headers;
        for (std::size_t line = 0; line <= buffers; ++line)
            headers += "X-Filler-" + std::to_string(line) + ": " + std::string(bufferBytes - 100, 'f') + "\r\n";
        const auto response = fixture.request(get("/nl/report", headers));
        CHECK(response.status == 400);
    }
    CHECK(fixture.upstream().requestCount() <= 1);
}

TEST_CASE("limit_conn answers 429 with the localised page beyond the requests one address may hold", "[edge]")
{
    EdgeFixture fixture;
    const auto limit = directiveNumber("limit_conn per_client");
    std::vector<std::unique_ptr<TlsClient>> holders;
    for (long number = 0; number < limit; ++number) {
        holders.push_back(fixture.client());
        REQUIRE(holders.back()->write(get("/nl/hold")));
    }
    REQUIRE(waitFor([&] { return fixture.upstream().heldRequests() == limit; }, 10s));

    const auto dutchResponse = fixture.request(get("/nl/report"));
    CHECK(dutchResponse.status == 429);
    CHECK_THAT(dutchResponse.body, ContainsSubstring(EdgeFixture::errorPage("nl", 429)));
    const auto englishResponse = fixture.request(get("/en/report"));
    CHECK(englishResponse.status == 429);
    CHECK_THAT(englishResponse.body, ContainsSubstring(EdgeFixture::errorPage("en", 429)));

    // The limit is per address: another one still gets through.
    CHECK(fixture.request(get("/nl/report"), otherClientAddress).status == 200);

    fixture.upstream().release();
    for (auto& holder : holders)
        CHECK(holder->readResponse().status == 200);
    // Once the held requests are done, the address is welcome again.
    CHECK(fixture.request(get("/nl/report")).status == 200);
}

TEST_CASE("limit_conn never turns away a report POST", "[edge]")
{
    EdgeFixture fixture;
    const auto limit = directiveNumber("limit_conn per_client");
    std::vector<std::unique_ptr<TlsClient>> holders;
    for (long number = 0; number < limit; ++number) {
        holders.push_back(fixture.client());
        REQUIRE(holders.back()->write(get("/nl/hold")));
    }
    REQUIRE(waitFor([&] { return fixture.upstream().heldRequests() == limit; }, 10s));
    // The address is at its limit: a page request is turned away.
    CHECK(fixture.request(get("/nl/report")).status == 429);

    // Reports that a reporter typed for a long time still go through, even
    // several at once from the same address (a Tor exit, a carrier NAT),
    // each with its body arriving slowly.
    constexpr std::size_t bodyBytes = 4096;
    std::vector<std::unique_ptr<TlsClient>> reports;
    for (const char* path : {"/nl/report", "/en/report", "/nl/report", "/en/report", "/nl/report"}) {
        reports.push_back(fixture.client());
        REQUIRE(reports.back()->write(postHeader(path, bodyBytes) + std::string(bodyBytes / 2, 'r')));
    }
    for (auto& report : reports) {
        REQUIRE(report->write(std::string(bodyBytes / 2, 'r')));
        const auto response = report->readResponse();
        CHECK(response.status == 200);
        CHECK_THAT(response.body, !ContainsSubstring(EdgeFixture::errorPage("nl", 429)));
    }
    // Other POSTs and other paths still count.
    CHECK(fixture.request(postHeader("/nl/return", 10) + std::string(10, 'r')).status == 429);
    CHECK(fixture.request(postHeader("/nl/report/x", 10) + std::string(10, 'r')).status == 429);

    fixture.upstream().release();
    for (auto& holder : holders)
        CHECK(holder->readResponse().status == 200);
}

TEST_CASE("POSTs from one address are not rate limited", "[edge]")
{
    EdgeFixture fixture;
    constexpr int posts = 60;
    int accepted = 0;
    for (int number = 0; number < posts; ++number) {
        const auto response = fixture.request(postHeader("/nl/report", 1000) + std::string(1000, 'r'));
        accepted += response.status == 200 ? 1 : 0;
    }
    CHECK(accepted == posts);
    CHECK(fixture.upstream().requestCount() == static_cast<std::size_t>(posts));
}

TEST_CASE("a 502 page in the path's language when the daemon is down", "[edge]")
{
    EdgeFixture fixture(false);
    for (const auto& [path, language] : std::vector<std::pair<std::string, std::string>>{
             {"/nl/report", "nl"}, {"/en/report", "en"}, {"/", "en"}}) {
        INFO(path);
        const auto response = fixture.request(get(path));
        CHECK(response.status == 502);
        CHECK_THAT(response.body, ContainsSubstring(EdgeFixture::errorPage(language, 502)));
    }
    // The failed connections to the daemon are errors nginx logs with the
    // client's address at a level below emerg.
    fixture.edge().stop();
    CHECK_THAT(readFile(fixture.edge().errorLog()), !ContainsSubstring(clientAddress));
}

TEST_CASE("a 504 page in the path's language when the daemon does not answer", "[edge]")
{
    EdgeFixture fixture;
    const auto timeout = directiveSeconds("proxy_read_timeout");
    auto connection = fixture.client();
    REQUIRE(connection->write(get("/nl/silent")));
    const auto start = Clock::now();
    const auto response = connection->readResponse(timeout + 15s);
    const auto elapsed = Clock::now() - start;
    CHECK(response.status == 504);
    CHECK_THAT(response.body, ContainsSubstring(EdgeFixture::errorPage("nl", 504)));
    CHECK(elapsed >= timeout - 1s);
    CHECK(elapsed <= timeout + 5s);
}

TEST_CASE("a 504 page in the path's language when the daemon stops reading the body", "[edge]")
{
    EdgeFixture fixture;
    const auto timeout = directiveSeconds("proxy_send_timeout");
    auto connection = fixture.client();
    const auto start = Clock::now();
    const auto response =
        connection->exchange(postHeader("/en/stall", maxBodyBytes) + std::string(maxBodyBytes, 's'), timeout + 30s);
    const auto elapsed = Clock::now() - start;
    CHECK(response.status == 504);
    CHECK_THAT(response.body, ContainsSubstring(EdgeFixture::errorPage("en", 504)));
    CHECK(elapsed <= timeout + 15s);
}

TEST_CASE("security headers are on proxied and static and error responses", "[edge]")
{
    EdgeFixture fixture;
    const std::map<std::string, std::string> expected = {
        {"strict-transport-security", "max-age=31536000"},
        {"x-content-type-options", "nosniff"},
        {"referrer-policy", "no-referrer"},
        {"x-frame-options", "DENY"},
        {"content-security-policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
    };
    struct Case {
        std::string request;
        int status;
    };
    const std::vector<Case> cases = {
        {get("/nl/report"), 200},
        {get("/static/site.css"), 200},
        {get("/static/missing.css"), 404},
        {get("/.edge-errors/en/502.html"), 404},
        {postHeader("/nl/report", maxBodyBytes + 1), 413},
        {"BROKEN\r\n\r\n", 400},
    };
    for (const auto& item : cases) {
        INFO(item.request.substr(0, item.request.find('\r')));
        auto connection = fixture.client();
        const auto response = connection->exchange(item.request, 15s);
        CHECK(response.status == item.status);
        // server_tokens off: no version number.
        CHECK(response.header("server") == "nginx");
        for (const auto& [name, value] : expected) {
            INFO(name);
            CHECK(response.headers.count(name) == 1);
            CHECK(response.header(name) == value);
        }
    }

    const auto css = fixture.request(get("/static/site.css"));
    CHECK(css.header("content-type").starts_with("text/css"));
    CHECK(css.body == "body { margin: 0; }\n");
}

TEST_CASE("TLS versions, ciphers, tickets and suite order", "[edge]")
{
    EdgeFixture fixture;
    const auto port = fixture.edge().port();

    SECTION("TLS 1.1 is refused by the server")
    {
        TlsClient connection(port, fixture.caFile(), ClientOptions().versions(TLS1_1_VERSION, TLS1_1_VERSION));
        CHECK_FALSE(connection.handshake());
        CHECK_THAT(connection.error(), ContainsSubstring("protocol version"));
    }
    SECTION("TLS 1.0 is refused by the server")
    {
        TlsClient connection(port, fixture.caFile(), ClientOptions().versions(TLS1_VERSION, TLS1_VERSION));
        CHECK_FALSE(connection.handshake());
    }
    SECTION("a CBC cipher is refused under TLS 1.2")
    {
        TlsClient connection(port, fixture.caFile(),
                             ClientOptions()
                                 .versions(TLS1_2_VERSION, TLS1_2_VERSION)
                                 .ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384"));
        CHECK_FALSE(connection.handshake());
    }
    SECTION("TLS 1.2 works, with an AEAD cipher and without a session ticket")
    {
        TlsClient connection(port, fixture.caFile(), ClientOptions().versions(TLS1_2_VERSION, TLS1_2_VERSION));
        REQUIRE(connection.handshake());
        CHECK(SSL_version(connection.ssl()) == TLS1_2_VERSION);
        CHECK(SSL_CIPHER_is_aead(SSL_get_current_cipher(connection.ssl())) == 1);
        REQUIRE(connection.write(get("/nl/report")));
        CHECK(connection.readResponse().status == 200);
        SSL_SESSION* session = SSL_get1_session(connection.ssl());
        REQUIRE(session != nullptr);
        CHECK(SSL_SESSION_has_ticket(session) == 0);
        SSL_SESSION_free(session);
    }
    SECTION("TLS 1.3 works")
    {
        TlsClient connection(port, fixture.caFile(), ClientOptions().versions(TLS1_3_VERSION, TLS1_3_VERSION));
        REQUIRE(connection.handshake());
        CHECK(SSL_version(connection.ssl()) == TLS1_3_VERSION);
        REQUIRE(connection.write(get("/nl/report")));
        CHECK(connection.readResponse().status == 200);
    }
    SECTION("TLS 1.3 suites come in the server's order, with ChaCha20 for a client that lists it first")
    {
        // An empty list offers OpenSSL's default order, which puts
        // AES-256-GCM first.
        const std::vector<std::pair<std::string, std::string>> cases = {
            {"", "TLS_AES_128_GCM_SHA256"},
            {"TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
                "TLS_CHACHA20_POLY1305_SHA256"},
            {"TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"},
        };
        for (const auto& [offered, expected] : cases) {
            CAPTURE(offered);
            TlsClient connection(port, fixture.caFile(),
                ClientOptions().versions(TLS1_3_VERSION, TLS1_3_VERSION).suites(offered));
            REQUIRE(connection.handshake());
            CHECK(std::string(SSL_CIPHER_get_name(SSL_get_current_cipher(connection.ssl()))) == expected);
        }
    }
}

TEST_CASE("page pools outnumber the edge's idle connections", "[edge]")
{
    // The daemons size their page pools from this constant; the template
    // must keep exactly that many idle connections per nginx worker.
    const std::string text = readFile(templatePath);
    const auto upstream = text.find("upstream meldpunt_pages {");
    REQUIRE(upstream != std::string::npos);
    const auto keepalive = text.find("keepalive ", upstream);
    REQUIRE(keepalive != std::string::npos);
    const int value = std::stoi(text.substr(keepalive + std::string("keepalive ").size()));
    CHECK(value == meldpunt::kEdgeIdleConnectionsPerWorker);
    const int processors = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    CHECK(meldpunt::pagePoolSize(16) == value * processors + 16);
}
