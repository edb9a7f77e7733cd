#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace meldpunt::service {

// Tells a daemon at start whether its previous run stopped cleanly. Each
// start leaves a marker file that a clean stop removes. A marker found at
// start means the previous run ended some other way: the watchdog
// restarted the daemon, or it crashed, was killed or lost power. The start
// then writes the time into the daemon's restart record, a file beside the
// marker, which meldpuntd's health check reads and shows to admins.
//
// meldpuntd keeps both files in its state folder; meldpunt-public keeps
// them in the spool, the one folder the two daemons share. The files are
// mode 0640, so the spool's setgid group lets meldpuntd read them.
inline constexpr const char* kDaemonRunName = "meldpuntd";
inline constexpr const char* kPublicRunName = "meldpunt-public";

class RunMarker {
public:
    using TimePoint = std::chrono::system_clock::time_point;

    RunMarker(std::filesystem::path folder, std::string daemonName);

    // Writes the marker and returns true when the previous run's marker
    // was still there. In that case the restart record is written first.
    // Throws std::system_error when a file cannot be written.
    bool start(TimePoint now);
    // Removes the marker; called on a clean stop.
    void stop();

    std::filesystem::path markerPath() const;
    std::filesystem::path recordPath() const;

private:
    std::filesystem::path folder_;
    std::string daemonName_;
};

// The time in the restart record of `daemonName` in `folder`: when that
// daemon last started after an unclean stop. nullopt when there is no
// record or it cannot be read.
std::optional<RunMarker::TimePoint> lastUncleanStart(
    const std::filesystem::path& folder, const std::string& daemonName);

} // namespace meldpunt::service
