#include "RateLimiter.h"

#include "Crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstring>

namespace meldpunt::site {

RateLimiter::RateLimiter(unsigned burst, std::chrono::seconds refill, std::size_t maxTracked)
    : burst_(burst)
    , refill_(refill)
    , maxTracked_(maxTracked)
{
    const auto random = crypto::randomBytes(hashKey_.size());
    std::copy(random.begin(), random.end(), hashKey_.begin());
}

std::uint64_t RateLimiter::keyOf(std::string_view address) const
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned length = 0;
    HMAC(EVP_sha256(), hashKey_.data(), static_cast<int>(hashKey_.size()),
        reinterpret_cast<const unsigned char*>(address.data()), address.size(), digest, &length);
    std::uint64_t key = 0;
    std::memcpy(&key, digest, sizeof key);
    return key;
}

RateLimiter::Bucket& RateLimiter::refilled(std::uint64_t key, Clock::time_point now)
{
    auto found = buckets_.find(key);
    if (found == buckets_.end()) {
        if (buckets_.size() >= maxTracked_) {
            const auto oldest = std::min_element(buckets_.begin(), buckets_.end(),
                [](const auto& a, const auto& b) { return a.second.updated < b.second.updated; });
            buckets_.erase(oldest);
        }
        found = buckets_.emplace(key, Bucket{static_cast<double>(burst_), now}).first;
    }
    Bucket& bucket = found->second;
    const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
    bucket.tokens = std::min(static_cast<double>(burst_), bucket.tokens + elapsed / static_cast<double>(refill_.count()));
    bucket.updated = now;
    return bucket;
}

bool RateLimiter::allow(std::string_view address, Clock::time_point now)
{
    std::lock_guard lock(mutex_);
    Bucket& bucket = refilled(keyOf(address), now);
    if (bucket.tokens < 1.0)
        return false;
    bucket.tokens -= 1.0;
    return true;
}

std::chrono::seconds RateLimiter::wait(std::string_view address, Clock::time_point now)
{
    std::lock_guard lock(mutex_);
    const Bucket& bucket = refilled(keyOf(address), now);
    if (bucket.tokens >= 1.0)
        return std::chrono::seconds(0);
    const double missing = 1.0 - bucket.tokens;
    return std::chrono::seconds(static_cast<long long>(missing * static_cast<double>(refill_.count())) + 1);
}

} // namespace meldpunt::site
