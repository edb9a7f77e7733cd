#pragma once

#include "StaffApp.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace meldpunt::test {

// A browser-like client of StaffApp: it keeps the cookies the app sets,
// sends them back, and takes the CSRF token from the last page's forms.
class StaffClient {
public:
    StaffClient(staff::StaffApp& app, std::string address = "192.0.2.20")
        : app_(app)
        , address_(std::move(address))
    {
    }

    staff::StaffResponse get(const std::string& target);
    // Posts the fields, with the CSRF token of the last page unless the
    // fields name one.
    staff::StaffResponse post(const std::string& path, std::vector<std::pair<std::string, std::string>> fields);
    staff::StaffResponse postWithoutToken(const std::string& path,
        const std::vector<std::pair<std::string, std::string>>& fields);

    const std::string& csrfToken() const { return csrf_; }
    std::string cookie(const std::string& name) const;
    void setCookie(const std::string& name, const std::string& value) { cookies_[name] = value; }
    void clearCookies() { cookies_.clear(); }

private:
    staff::StaffResponse send(staff::StaffRequest request);

    staff::StaffApp& app_;
    std::string address_;
    std::map<std::string, std::string> cookies_;
    std::string csrf_;
};

std::string header(const staff::StaffResponse& response, const std::string& name);
std::vector<std::string> headers(const staff::StaffResponse& response, const std::string& name);

} // namespace meldpunt::test
