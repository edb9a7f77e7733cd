#pragma once

#include "Process.h"

#include <filesystem>
#include <memory>
#include <string>

namespace meldpunt::test {

// A TPM 2.0 simulator (swtpm) on two loopback TCP ports: the TPM command
// port and, one above it, the control port. The TPM state lives in the
// given folder, so a stopped or killed simulator started again keeps its
// seeds and NV data, as a real TPM keeps them across reboots. The
// simulator runs TPM2_Startup(CLEAR) itself on every start.
class Swtpm {
public:
    explicit Swtpm(std::filesystem::path stateDir);
    ~Swtpm();

    Swtpm(const Swtpm&) = delete;
    Swtpm& operator=(const Swtpm&) = delete;

    // Starts the simulator and waits until it accepts connections. Throws
    // std::runtime_error with the simulator's log when it does not come up.
    void start();

    // Stops the simulator with SIGTERM, which swtpm handles by closing down.
    void stop();

    // Kills the simulator with SIGKILL, like a power loss.
    void kill();

    bool running();
    std::string tcti() const;
    const std::filesystem::path& stateDir() const { return stateDir_; }
    unsigned short port() const { return port_; }

    // Allocates the given PCR banks ("sha1,sha256") in a new state folder
    // with swtpm_setup. Call before the first start().
    void allocatePcrBanks(const std::string& banks);

private:
    std::filesystem::path stateDir_;
    unsigned short port_;
    std::unique_ptr<Process> process_;
};

} // namespace meldpunt::test
