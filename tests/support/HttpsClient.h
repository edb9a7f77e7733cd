#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace meldpunt::test {

// One part of a multipart/form-data body: a text field, or a file when
// `fileName` is set.
struct FormPart {
    std::string name;
    std::string value;
    std::optional<std::string> fileName;
    std::string contentType = "application/octet-stream";
};

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
    // Posts `parts` as multipart/form-data, as a browser sends a form with
    // enctype="multipart/form-data".
    HttpResponse postMultipart(const std::string& path, const std::vector<FormPart>& parts,
        const std::vector<std::string>& headers = {}) const;

private:
    HttpResponse run(std::vector<std::string> arguments) const;

    std::filesystem::path caFile_;
    unsigned short port_;
    std::string sourceAddress_;
};

// Percent-encodes text for an application/x-www-form-urlencoded body.
std::string formEncode(const std::string& text);
std::string formBody(const std::vector<std::pair<std::string, std::string>>& fields);
// Builds a multipart/form-data body with `boundary`, escaping names and
// file names the way browsers do.
std::string multipartBody(const std::vector<FormPart>& parts, const std::string& boundary);

} // namespace meldpunt::test
