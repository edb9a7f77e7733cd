#include "FaultPoint.h"

#ifdef MELDPUNT_FAULT_POINTS

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <unistd.h>

namespace meldpunt {

void faultPoint(const char* name)
{
    const char* wanted = std::getenv("MELDPUNT_FAULT_POINT");
    if (wanted != nullptr && std::strcmp(wanted, name) == 0)
        _exit(86);
}

void pausePoint(const char* name)
{
    const char* named = std::getenv("MELDPUNT_PAUSE_POINT");
    if (named == nullptr || std::strcmp(named, name) != 0)
        return;
    const char* milliseconds = std::getenv("MELDPUNT_PAUSE_MILLISECONDS");
    const long pause = milliseconds != nullptr ? std::strtol(milliseconds, nullptr, 10) : 1000;
    std::this_thread::sleep_for(std::chrono::milliseconds(pause > 0 ? pause : 0));
}

} // namespace meldpunt

#endif
