#pragma once

#include "RateLimiter.h"

#include <chrono>
#include <string_view>

namespace meldpunt::site {

// Limits wrong guesses of a secret code (a resume code, a receipt secret)
// per client address and across all clients together, so that neither one
// client nor many clients at once can try codes quickly. Only failures
// use up a token; a client with no token left is refused every attempt,
// right or wrong, until one refills. Thread-safe.
class GuessLimiter {
public:
    struct Limits {
        unsigned clientBurst = 10;
        std::chrono::seconds clientRefill{360};
        unsigned globalBurst = 1000;
        std::chrono::seconds globalRefill{2};
    };

    explicit GuessLimiter(const Limits& limits);

    // Returns true when `address` and the site as a whole may try a code.
    bool permits(std::string_view address);
    // Records a wrong code from `address`.
    void countFailure(std::string_view address);
    // Seconds until `address` may try again.
    std::chrono::seconds wait(std::string_view address);

private:
    RateLimiter client_;
    RateLimiter global_;
};

} // namespace meldpunt::site
