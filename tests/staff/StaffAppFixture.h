#pragma once

#include "Catalog.h"
#include "Pages.h"
#include "StaffApp.h"
#include "StaffClient.h"
#include "StaffDatabase.h"
#include "Totp.h"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace meldpunt::test {

// StaffApp over a real database and the real staff templates, with a
// clock the test moves.
struct StaffAppFixture {
    explicit StaffAppFixture(const std::string& name, staff::StaffSettings settings = {});

    struct Member {
        std::int64_t id = 0;
        std::string username;
        std::string password;
        std::vector<std::uint8_t> secret;
    };
    // Creates an account whose second factor is enrolled already.
    Member addMember(const std::string& username, staff::Role role);
    // Logs in through the login and second-factor pages; the clock moves
    // to a new TOTP step first, since each code works once.
    void logIn(StaffClient& client, const Member& member);

    std::vector<staff::AuditEntry> auditEntries();

    StaffDatabase db;
    std::mutex mutex;
    Catalog catalog;
    Pages pages;
    std::unique_ptr<staff::StaffApp> app;
};

} // namespace meldpunt::test
