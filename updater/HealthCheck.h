#pragma once

#include "SecurityEpoch.h"
#include "UpdaterConfig.h"

#include <chrono>
#include <string>
#include <vector>

namespace meldpunt::updater {

// The result of one round of health checks: empty `failures` is healthy.
struct HealthReport {
    std::vector<std::string> failures;
    bool healthy() const { return failures.empty(); }
};

// Checks over the daemons' local Unix sockets that meldpuntd is ready,
// that its database is open (its status page is not the locked page), and
// that meldpunt-public serves the report form. Nothing here touches the
// network, so a missing network cable cannot fail the check.
HealthReport checkHealth(const UpdaterConfig& config);

enum class MarkResult { MarkedGood, AlreadyGood, Unhealthy };

// Runs the health checks until they pass or the configured timeout ends.
// When they pass, marks the booted slot's counted boot entry good and
// records its security epoch in the TPM. When they do not, leaves the
// counter, so that systemd-boot falls back to the other slot once the
// tries run out. `report` receives the last round's failures. Throws
// UpdateError when the entry cannot be renamed or the TPM fails.
MarkResult markBootedSlotGood(
    const UpdaterConfig& config, SecurityEpochStore& epochs, HealthReport& report);

} // namespace meldpunt::updater
