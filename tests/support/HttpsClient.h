#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace meldpunt::test {

struct HttpResponse {
    int status = 0;
    std::map<std::string, std::string> headers; // names in lower case
    std::vector<std::string> setCookies;        // every Set-Cookie value, in order
    std::string body;

    std::string header(const std::string& name) const;
};

// A real HTTPS client (curl) that trusts only the test CA and reaches
// https://localhost:PORT, optionally from a chosen loopback source address
// such as 127.45.67.89. Throws std::runtime_error when curl cannot connect.
class HttpsClient {
public:
    HttpsClient(std::filesystem::path caFile, unsigned short port, std::string sourceAddress = {});

    HttpResponse get(const std::string& path, const std::vector<std::string>& headers = {}) const;
    HttpResponse post(const std::string& path, const std::string& body,
        const std::vector<std::string>& headers = {},
        const std::string& contentType = "application/x-www-form-urlencoded") const;

private:
    HttpResponse run(std::vector<std::string> arguments) const;

    std::filesystem::path caFile_;
    unsigned short port_;
    std::string sourceAddress_;
};

// Percent-encodes text for an application/x-www-form-urlencoded body.
std::string formEncode(const std::string& text);
std::string formBody(const std::vector<std::pair<std::string, std::string>>& fields);

} // namespace meldpunt::test
