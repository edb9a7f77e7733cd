#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

namespace meldpunt::site {

// Caps how many slow hashes (Argon2id over a receipt secret) the public
// site computes at once. Each takes tens of milliseconds and about 19 MiB,
// so without a cap a burst of requests would exhaust memory and workers.
// A request that finds the gate full waits a little, then gets "busy, try
// again". Thread-safe.
class SlowHashGate {
public:
    // Holds one of the gate's places until destroyed.
    class Permit {
    public:
        explicit Permit(SlowHashGate& gate)
            : gate_(&gate)
        {
        }
        ~Permit();
        Permit(Permit&& other) noexcept
            : gate_(other.gate_)
        {
            other.gate_ = nullptr;
        }
        Permit(const Permit&) = delete;
        Permit& operator=(const Permit&) = delete;
        Permit& operator=(Permit&&) = delete;

    private:
        SlowHashGate* gate_;
    };

    explicit SlowHashGate(unsigned capacity);

    // Takes a place, waiting up to `wait` for one; nullopt when none freed.
    std::optional<Permit> enter(std::chrono::milliseconds wait);
    unsigned inUse() const;

private:
    void leave();

    unsigned capacity_;
    unsigned inUse_ = 0;
    mutable std::mutex mutex_;
    std::condition_variable freed_;
};

} // namespace meldpunt::site
