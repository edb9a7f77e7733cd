#include "RunMarker.h"

#include "Crypto.h"
#include "FileSystem.h"

#include <charconv>

namespace meldpunt::service {

namespace fs = std::filesystem;

namespace {

constexpr unsigned kFileMode = 0640;

std::string secondsText(RunMarker::TimePoint time)
{
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count()) + "\n";
}

} // namespace

RunMarker::RunMarker(fs::path folder, std::string daemonName)
    : folder_(std::move(folder))
    , daemonName_(std::move(daemonName))
{
}

fs::path RunMarker::markerPath() const
{
    return folder_ / (daemonName_ + "-running");
}

fs::path RunMarker::recordPath() const
{
    return folder_ / (daemonName_ + "-unclean-stop");
}

bool RunMarker::start(TimePoint now)
{
    std::error_code error;
    const bool unclean = fs::exists(markerPath(), error);
    const std::string text = secondsText(now);
    if (unclean)
        fsutil::writeFileAtomically(recordPath(), crypto::asBytes(text), kFileMode);
    fsutil::writeFileAtomically(markerPath(), crypto::asBytes(text), kFileMode);
    return unclean;
}

void RunMarker::stop()
{
    std::error_code error;
    fs::remove(markerPath(), error);
}

std::optional<RunMarker::TimePoint> lastUncleanStart(const fs::path& folder, const std::string& daemonName)
{
    std::string text;
    try {
        text = fsutil::readSmallFile(RunMarker(folder, daemonName).recordPath(), 64);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    long long seconds = 0;
    const auto [end, problem] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (problem != std::errc() || end == text.data() || seconds < 0)
        return std::nullopt;
    return RunMarker::TimePoint(std::chrono::seconds(seconds));
}

} // namespace meldpunt::service
