#pragma once

#include "Clock.h"

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace meldpunt::staff {

struct LoginLimits {
    // Failures an account may have before each further one makes it wait,
    // doubling from `firstWait` up to `maxWait`.
    int freeAccountFailures = 5;
    // Failures one staff address may have, over all accounts it tries,
    // before it waits; this stops one machine from trying many names.
    int freeAddressFailures = 20;
    std::chrono::seconds firstWait{30};
    std::chrono::seconds maxWait{15 * 60};
};

// Rate limits for failed logins, per account and per staff address, kept
// in memory: a restart of meldpuntd clears them, and a restart is as slow
// as a wait. Thread-safe.
class LoginLimiter {
public:
    explicit LoginLimiter(Clock clock, LoginLimits limits = {});

    // Returns how long the account or the address must still wait, or
    // nullopt when it may try now.
    std::optional<std::chrono::seconds> waitFor(const std::string& account, const std::string& address);
    void recordFailure(const std::string& account, const std::string& address);
    // Clears the account's failures (not the address's).
    void recordSuccess(const std::string& account);

private:
    struct Counter {
        int failures = 0;
        TimePoint nextAllowed{};
    };
    void fail(Counter& counter, int freeFailures, TimePoint now);

    Clock clock_;
    LoginLimits limits_;
    std::mutex mutex_;
    std::map<std::string, Counter> accounts_;
    std::map<std::string, Counter> addresses_;
};

} // namespace meldpunt::staff
