#pragma once

// The per-request state that StaffApp's handlers share; private to the
// staff library.

#include "FormData.h"
#include "StaffApp.h"

#include <openssl/crypto.h>

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
    // The case page shows this image attachment unblurred (0: none), and
    // keeps this reply text in its form after a rejected reply.
    std::int64_t revealedAttachment = 0;
    std::string reply;
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

// The English labels of the case statuses, translated when shown.
inline const std::map<std::string, std::string>& statusLabels()
{
    static const std::map<std::string, std::string> labels = {{"new", "New"}, {"acknowledged", "Acknowledged"},
        {"in_progress", "In progress"}, {"referred", "Referred"}, {"closed", "Closed"}};
    return labels;
}

// Compares a CSRF token in constant time; an empty expected token never
// matches.
inline bool sameToken(const std::string& expected, const std::string& received)
{
    return !expected.empty() && expected.size() == received.size()
        && CRYPTO_memcmp(expected.data(), received.data(), expected.size()) == 0;
}

} // namespace meldpunt::staff
