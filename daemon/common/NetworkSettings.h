#pragma once

#include <functional>
#include <string>
#include <vector>

namespace meldpunt::network {

// The network step of the setup page as typed: the box's addressing and
// the staff network. meldpuntd checks it to name each field's problem,
// and meldpunt-updated checks it again before it writes anything.
struct NetworkForm {
    std::string addressing;   // "dhcp" or "static"
    std::string address;      // static only: the box's address
    std::string prefixLength; // static only: 1 to 32 (IPv4) or 128 (IPv6)
    std::string gateway;      // static only; may be empty
    std::string dnsServers;   // static only; addresses separated by spaces or commas
    std::string staffAddress; // the address the staff edge listens on
    std::string staffLan;     // prefixes separated by spaces or commas
};

// The checked settings, every address in its canonical text form.
struct NetworkSettings {
    bool staticAddressing = false;
    std::string address;     // "192.168.10.5"
    unsigned prefixLength = 0;
    std::string gateway;     // empty for none
    std::vector<std::string> dnsServers;
    std::string staffAddress;
    std::vector<std::string> staffLanV4; // "192.168.10.0/24"
    std::vector<std::string> staffLanV6; // "fd00:10::/64"
};

// A field that cannot be used: its name in the form and a message that
// states what is wrong and what to do.
struct NetworkFieldError {
    std::string field;
    std::string message;
};

// Returns whether an address is one of this box's now. The updater runs
// in a network namespace of its own, so it passes none and skips the check.
using LocalAddressCheck = std::function<bool(const std::string& address)>;

// Checks every field and returns every problem, in form order; `settings`
// is complete only when none is returned. The staff address must be the
// static address or, per `isLocal`, one the box has.
std::vector<NetworkFieldError> checkNetworkForm(
    const NetworkForm& form, const LocalAddressCheck& isLocal, NetworkSettings& settings);

// Whether the box has `address` now: a UDP socket can be bound to it.
// Needs no netlink socket, so it works under meldpuntd's unit.
bool addressIsOnThisBox(const std::string& address);

// The settings as the INI file that apply-network reads (docs/operations.md).
std::string formatNetworkSettings(const NetworkSettings& settings);

} // namespace meldpunt::network
