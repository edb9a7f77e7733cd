#include "StaffClient.h"

#include "HttpsClient.h"

#include <regex>

namespace meldpunt::test {

std::string header(const staff::StaffResponse& response, const std::string& name)
{
    for (const auto& [key, value] : response.headers) {
        if (key == name)
            return value;
    }
    return {};
}

std::vector<std::string> headers(const staff::StaffResponse& response, const std::string& name)
{
    std::vector<std::string> values;
    for (const auto& [key, value] : response.headers) {
        if (key == name)
            values.push_back(value);
    }
    return values;
}

std::string StaffClient::cookie(const std::string& name) const
{
    const auto found = cookies_.find(name);
    return found == cookies_.end() ? std::string() : found->second;
}

staff::StaffResponse StaffClient::send(staff::StaffRequest request)
{
    request.address = address_;
    std::string cookieHeader;
    for (const auto& [name, value] : cookies_)
        cookieHeader += (cookieHeader.empty() ? "" : "; ") + name + "=" + value;
    if (!cookieHeader.empty())
        request.headers["cookie"] = cookieHeader;
    staff::StaffResponse response = app_.handle(request);
    for (const auto& setCookie : headers(response, "Set-Cookie")) {
        const auto equals = setCookie.find('=');
        const auto end = setCookie.find(';');
        const std::string name = setCookie.substr(0, equals);
        const std::string value = setCookie.substr(equals + 1, end - equals - 1);
        if (setCookie.find("Max-Age=0") != std::string::npos)
            cookies_.erase(name);
        else
            cookies_[name] = value;
    }
    static const std::regex token("name=\"csrf\" value=\"([^\"]+)\"");
    std::smatch match;
    if (std::regex_search(response.body, match, token))
        csrf_ = match[1];
    return response;
}

staff::StaffResponse StaffClient::get(const std::string& target)
{
    staff::StaffRequest request;
    request.method = "GET";
    const auto question = target.find('?');
    request.path = target.substr(0, question);
    if (question != std::string::npos)
        request.query = target.substr(question + 1);
    return send(std::move(request));
}

staff::StaffResponse StaffClient::post(const std::string& path, std::vector<std::pair<std::string, std::string>> fields)
{
    bool hasToken = false;
    for (const auto& field : fields)
        hasToken = hasToken || field.first == "csrf";
    if (!hasToken)
        fields.emplace_back("csrf", csrf_);
    return postWithoutToken(path, fields);
}

staff::StaffResponse StaffClient::postWithoutToken(const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& fields)
{
    staff::StaffRequest request;
    request.method = "POST";
    request.path = path;
    request.headers["content-type"] = "application/x-www-form-urlencoded";
    request.body = formBody(fields);
    return send(std::move(request));
}

} // namespace meldpunt::test
