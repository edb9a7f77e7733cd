#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace meldpunt::site {

// Limits how often one client address may send reports: a token bucket
// per address, with `burst` tokens that refill one every `refill`.
// Addresses are kept only in memory and only as a keyed hash (the key is
// random per process), so not even a memory dump lists them. At most
// `maxTracked` addresses are kept; when full, the bucket that was idle
// longest is dropped. Thread-safe.
class RateLimiter {
public:
    using Clock = std::chrono::steady_clock;

    RateLimiter(unsigned burst, std::chrono::seconds refill, std::size_t maxTracked = 100000);

    // Takes a token for `address`; returns false when none is left.
    bool allow(std::string_view address, Clock::time_point now = Clock::now());
    // Seconds until `address` has a token again (0 when it has one).
    std::chrono::seconds wait(std::string_view address, Clock::time_point now = Clock::now());

private:
    struct Bucket {
        double tokens;
        Clock::time_point updated;
    };
    std::uint64_t keyOf(std::string_view address) const;
    Bucket& refilled(std::uint64_t key, Clock::time_point now);

    unsigned burst_;
    std::chrono::seconds refill_;
    std::size_t maxTracked_;
    std::array<std::uint8_t, 32> hashKey_{};
    std::mutex mutex_;
    std::unordered_map<std::uint64_t, Bucket> buckets_;
};

} // namespace meldpunt::site
