#include "GuessLimiter.h"

#include <algorithm>

namespace meldpunt::site {

namespace {

// The global bucket is one RateLimiter entry under a fixed name.
constexpr std::string_view kEveryone = "all clients";

} // namespace

GuessLimiter::GuessLimiter(const Limits& limits)
    : client_(limits.clientBurst, limits.clientRefill)
    , global_(limits.globalBurst, limits.globalRefill, 1)
{
}

bool GuessLimiter::permits(std::string_view address)
{
    return client_.wait(address).count() == 0 && global_.wait(kEveryone).count() == 0;
}

void GuessLimiter::countFailure(std::string_view address)
{
    (void)client_.allow(address);
    (void)global_.allow(kEveryone);
}

std::chrono::seconds GuessLimiter::wait(std::string_view address)
{
    return std::max(client_.wait(address), global_.wait(kEveryone));
}

} // namespace meldpunt::site
