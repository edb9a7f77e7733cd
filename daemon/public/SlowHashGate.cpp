#include "SlowHashGate.h"

namespace meldpunt::site {

SlowHashGate::Permit::~Permit()
{
    if (gate_)
        gate_->leave();
}

SlowHashGate::SlowHashGate(unsigned capacity)
    : capacity_(capacity)
{
}

std::optional<SlowHashGate::Permit> SlowHashGate::enter(std::chrono::milliseconds wait)
{
    std::unique_lock lock(mutex_);
    if (!freed_.wait_for(lock, wait, [&] { return inUse_ < capacity_; }))
        return std::nullopt;
    ++inUse_;
    return std::optional<Permit>(std::in_place, *this);
}

unsigned SlowHashGate::inUse() const
{
    std::lock_guard lock(mutex_);
    return inUse_;
}

void SlowHashGate::leave()
{
    {
        std::lock_guard lock(mutex_);
        --inUse_;
    }
    freed_.notify_one();
}

} // namespace meldpunt::site
