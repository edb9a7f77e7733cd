#include "HttpsClient.h"

#include "Process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace meldpunt::test {

namespace fs = std::filesystem;

std::string HttpResponse::header(const std::string& name) const
{
    const auto found = headers.find(name);
    return found == headers.end() ? std::string() : found->second;
}

HttpsClient::HttpsClient(fs::path caFile, unsigned short port, std::string sourceAddress)
    : caFile_(std::move(caFile))
    , port_(port)
    , sourceAddress_(std::move(sourceAddress))
{
}

HttpResponse HttpsClient::get(const std::string& path, const std::vector<std::string>& headers) const
{
    std::vector<std::string> arguments;
    for (const auto& header : headers) {
        arguments.push_back("-H");
        arguments.push_back(header);
    }
    arguments.push_back("https://localhost:" + std::to_string(port_) + path);
    return run(arguments);
}

HttpResponse HttpsClient::post(const std::string& path, const std::string& body,
    const std::vector<std::string>& headers, const std::string& contentType) const
{
    ScratchFolder scratch("https-body");
    const fs::path bodyFile = scratch.path() / "body";
    std::ofstream(bodyFile, std::ios::binary) << body;
    std::vector<std::string> arguments = {"-H", "Content-Type: " + contentType, "--data-binary", "@" + bodyFile.string()};
    for (const auto& header : headers) {
        arguments.push_back("-H");
        arguments.push_back(header);
    }
    arguments.push_back("https://localhost:" + std::to_string(port_) + path);
    return run(arguments);
}

HttpResponse HttpsClient::postMultipart(const std::string& path, const std::vector<FormPart>& parts,
    const std::vector<std::string>& headers) const
{
    const std::string boundary = "----MeldpuntTestBoundary7MA4YWxkTrZu0gW";
    return post(path, multipartBody(parts, boundary), headers, "multipart/form-data; boundary=" + boundary);
}

HttpResponse HttpsClient::run(std::vector<std::string> arguments) const
{
    ScratchFolder scratch("https");
    const fs::path headerFile = scratch.path() / "headers";
    const fs::path bodyFile = scratch.path() / "body";
    std::vector<std::string> command = {"curl", "-sS", "--http1.1", "--max-time", "30", "--cacert", caFile_.string(),
        "-D", headerFile.string(), "-o", bodyFile.string(), "-w", "%{http_code}"};
    if (!sourceAddress_.empty()) {
        command.push_back("--interface");
        command.push_back(sourceAddress_);
    }
    command.insert(command.end(), arguments.begin(), arguments.end());

    const fs::path output = scratch.path() / "status";
    Process curl(command, {{}, output, {}});
    const auto status = curl.wait(std::chrono::seconds(40));
    if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
        throw std::runtime_error("curl failed: " + readFile(output));

    HttpResponse response;
    response.status = std::atoi(readFile(output).c_str());
    response.body = readFile(bodyFile);
    std::istringstream lines(readFile(headerFile));
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        const auto colon = line.find(':');
        if (colon == std::string::npos)
            continue;
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        if (name == "set-cookie")
            response.setCookies.push_back(value);
        response.headers[name] = value;
    }
    return response;
}

std::string formEncode(const std::string& text)
{
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 0x0f]);
        }
    }
    return out;
}

namespace {

// Browsers (WHATWG HTML) escape only the quote and the line breaks.
std::string escapeDispositionValue(const std::string& text)
{
    std::string out;
    for (char c : text) {
        if (c == '"')
            out += "%22";
        else if (c == '\r')
            out += "%0D";
        else if (c == '\n')
            out += "%0A";
        else
            out.push_back(c);
    }
    return out;
}

} // namespace

std::string multipartBody(const std::vector<FormPart>& parts, const std::string& boundary)
{
    std::string body;
    for (const auto& part : parts) {
        body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + escapeDispositionValue(part.name) + "\"";
        if (part.fileName)
            body += "; filename=\"" + escapeDispositionValue(*part.fileName) + "\"\r\nContent-Type: " + part.contentType;
        body += "\r\n\r\n" + part.value + "\r\n";
    }
    return body + "--" + boundary + "--\r\n";
}

std::string formBody(const std::vector<std::pair<std::string, std::string>>& fields)
{
    std::string body;
    for (const auto& [name, value] : fields) {
        if (!body.empty())
            body.push_back('&');
        body += formEncode(name) + "=" + formEncode(value);
    }
    return body;
}

} // namespace meldpunt::test
