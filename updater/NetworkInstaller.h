#pragma once

#include "NetworkSettings.h"
#include "UpdaterConfig.h"

#include <stdexcept>
#include <string>

namespace meldpunt::updater {

// Network settings from the setup page that cannot be used. Nothing was
// written. The message names each problem and what to do.
class NetworkRejectedError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The settings were stored, but applying them failed. They apply at the
// next boot, and the message states this and what to check.
class NetworkApplyError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Checks `form` as meldpuntd does, except that the staff address is on
// the box: the updater's private network namespace has no such address.
// Then writes the settings to config.networkSettingsFile in one rename and
// runs config.networkApplyCommand, which renders them for systemd-networkd,
// the staff edge and the firewall and reloads those.
// Throws NetworkRejectedError, NetworkApplyError or UpdateError (the
// file could not be written; the previous settings stay).
network::NetworkSettings applyNetworkSettings(const UpdaterConfig& config, const network::NetworkForm& form);

} // namespace meldpunt::updater
