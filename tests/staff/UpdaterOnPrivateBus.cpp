#include "UpdaterOnPrivateBus.h"

#include <catch2/catch_test_macros.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace fs = std::filesystem;

namespace meldpunt::test {

namespace {

bool acceptsConnections(const fs::path& socketPath)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socketPath.c_str());
    const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return connected;
}

} // namespace

UpdaterOnPrivateBus::UpdaterOnPrivateBus(const fs::path& root)
    : root_(root)
    , busFolder_("staff-bus", socketScratchBase())
{
    const fs::path socket = busFolder_.path() / "bus.sock";
    std::ofstream(root / "bus.conf")
        << "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" "
           "\"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
           "<busconfig><listen>unix:path="
        << socket.string()
        << "</listen><auth>EXTERNAL</auth><policy context=\"default\"><allow user=\"*\"/>"
           "<allow own=\"*\"/><allow send_destination=\"*\"/><allow receive_sender=\"*\"/></policy></busconfig>\n";
    bus_ = std::make_unique<Process>(
        std::vector<std::string>{"dbus-daemon", "--nofork", "--nopidfile", "--config-file=" + (root / "bus.conf").string()},
        Process::Options({}, root / "dbus-daemon.log"));
    REQUIRE(waitFor([&] { return acceptsConnections(socket); }, std::chrono::seconds(10)));
    address_ = "unix:path=" + socket.string();

    // The restart command records which certificate the public edge
    // would load at its start.
    std::ofstream(root / "restart-public") << "#!/bin/sh\nset -e\nopenssl x509 -in '" << (tlsFolder() / "public.pem").string()
                                           << "' -noout -subject >'" << restartMarker().string() << "'\n";
    fs::permissions(root / "restart-public", fs::perms(0755));
    // The box's own staff edge settings, whose port apply-network keeps.
    fs::create_directories(networkRoot() / "etc/meldpunt");
    fs::copy_file(fs::path(MELDPUNT_SOURCE_DIR) / "rootfs/etc/meldpunt/edge-staff.ini",
        networkRoot() / "etc/meldpunt/edge-staff.ini");
    const fs::path missing = root / "missing";
    std::ofstream(root / "updater.ini")
        << "[image]\nproduct = meldpunt\nhardware_id = meldpunt-box-test\nbuild_time = 2026-01-01T00:00:00Z\n"
        << "[trust]\nca_file = " << missing.string() << "\ncrl_file = " << missing.string()
        << "\ndowngrade_ca_file = " << missing.string() << "\ndowngrade_crl_file = " << missing.string() << "\n"
        << "[slots]\na = " << missing.string() << "\nb = " << missing.string() << "\nesp = " << missing.string()
        << "\nstate_folder = " << (root / "state").string() << "\n"
        << "[tpm]\ntcti = swtpm:path=" << missing.string() << "\nepoch_nv_index = 0x01800100\n"
        << "[tls]\nfolder = " << tlsFolder().string() << "\npublic_restart_command = " << (root / "restart-public").string()
        << "\nstaff_restart_command = /bin/true\n"
        << "[network]\nsettings_file = " << networkSettings().string() << "\napply_command = "
        << (fs::path(MELDPUNT_SOURCE_DIR) / "tools/apply-network").string() << " --root " << networkRoot().string()
        << " " << networkSettings().string() << "\n";
    updater_ = std::make_unique<Process>(
        std::vector<std::string>{(fs::path(MELDPUNT_BINARY_DIR) / "updater/meldpunt-updated").string(), "--config",
            (root / "updater.ini").string(), "--bus-address", address_},
        Process::Options({}, root / "updated.log"));
    REQUIRE(waitFor([&] { return updater_->log().find("Serving org.meldpunt.Updater1") != std::string::npos; },
        std::chrono::seconds(15)));
}

} // namespace meldpunt::test
