#pragma once

// The per-request state that StaffApp's handlers share; private to the
// staff library.

#include "FormData.h"
#include "StaffApp.h"

namespace meldpunt::staff {

// Everything a handler needs about one request, filled in by handle() and
// dispatch() before the handler runs. `lock` holds the database's mutex.
struct StaffApp::Context {
    const StaffRequest& request;
    std::unique_lock<std::mutex>& lock;
    FormData form;
    std::map<std::string, std::string> cookies;
    std::optional<Session> session;
    std::optional<Account> account;
    RouteMatch match;
    std::vector<std::pair<std::string, std::string>> extraHeaders;
};

// A 303 See Other, the answer to a form that changed something, so that
// reloading the next page does not send the form again.
inline StaffResponse redirect(const std::string& location)
{
    StaffResponse response;
    response.status = 303;
    response.headers.emplace_back("Location", location);
    return response;
}

} // namespace meldpunt::staff
