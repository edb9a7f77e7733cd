#pragma once

#include "Process.h"

#include <filesystem>
#include <memory>
#include <string>

namespace meldpunt::test {

// A private bus that lets everyone own and call everything, and the real
// meldpunt-updated on it. The updater's own bus policy has its tests in
// tests/updater; here only the staff pages' side is under test. The
// updater installs certificates into tlsFolder(). The public edge's
// restart is a script that records which certificate it would load, and
// the staff edge's is /bin/true. The network settings go under
// networkRoot(), and apply-network renders them there (--root), as it
// does into / on the box.
class UpdaterOnPrivateBus {
public:
    explicit UpdaterOnPrivateBus(const std::filesystem::path& root);

    const std::string& address() const { return address_; }
    std::filesystem::path tlsFolder() const { return root_ / "tls"; }
    std::filesystem::path restartMarker() const { return root_ / "public-restarted"; }
    std::filesystem::path networkRoot() const { return root_ / "box"; }
    std::filesystem::path networkSettings() const { return networkRoot() / "var/lib/meldpunt/network/network.ini"; }

private:
    std::filesystem::path root_;
    ScratchFolder busFolder_;
    std::string address_;
    std::unique_ptr<Process> bus_;
    std::unique_ptr<Process> updater_;
};

} // namespace meldpunt::test
