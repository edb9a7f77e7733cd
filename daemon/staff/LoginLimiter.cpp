#include "LoginLimiter.h"

#include <algorithm>

namespace meldpunt::staff {

namespace {

// The maps are bounded, so a flood of made-up names cannot grow them
// without limit; entries without a wait are dropped first.
constexpr std::size_t kMaxTracked = 10000;

template <typename Map>
void trim(Map& map, TimePoint now)
{
    if (map.size() < kMaxTracked)
        return;
    std::erase_if(map, [now](const auto& item) { return item.second.nextAllowed <= now; });
}

} // namespace

LoginLimiter::LoginLimiter(Clock clock, LoginLimits limits)
    : clock_(std::move(clock))
    , limits_(limits)
{
}

std::optional<std::chrono::seconds> LoginLimiter::waitFor(const std::string& account, const std::string& address)
{
    std::lock_guard lock(mutex_);
    const TimePoint now = clock_();
    TimePoint allowed = now;
    if (const auto found = accounts_.find(account); found != accounts_.end())
        allowed = std::max(allowed, found->second.nextAllowed);
    if (const auto found = addresses_.find(address); found != addresses_.end())
        allowed = std::max(allowed, found->second.nextAllowed);
    if (allowed <= now)
        return std::nullopt;
    return std::chrono::ceil<std::chrono::seconds>(allowed - now);
}

void LoginLimiter::fail(Counter& counter, int freeFailures, TimePoint now)
{
    ++counter.failures;
    const int over = counter.failures - freeFailures;
    if (over <= 0)
        return;
    const std::chrono::seconds grown = limits_.firstWait * (std::int64_t{1} << std::min(over - 1, 20));
    const auto wait = std::min(limits_.maxWait, grown);
    counter.nextAllowed = now + wait;
}

void LoginLimiter::recordFailure(const std::string& account, const std::string& address)
{
    std::lock_guard lock(mutex_);
    const TimePoint now = clock_();
    trim(accounts_, now);
    trim(addresses_, now);
    fail(accounts_[account], limits_.freeAccountFailures, now);
    fail(addresses_[address], limits_.freeAddressFailures, now);
}

void LoginLimiter::recordSuccess(const std::string& account)
{
    std::lock_guard lock(mutex_);
    accounts_.erase(account);
}

} // namespace meldpunt::staff
