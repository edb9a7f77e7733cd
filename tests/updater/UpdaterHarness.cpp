// Runs the appliance with the updater for the technician page's browser
// test: file-backed slots and ESP with swtpm (UpdaterBox), a private
// dbus-daemon with the updater's bus policy, the real meldpunt-updated on
// it, and meldpuntd configured to call it. Prints one line
// "PUBLIC_PORT CA_FILE" when it serves, then replies to each line read from
// standard input:
//   staff              "STAFF_PORT SETUP_CODE": the staff edge's port and
//                      the first admin's one-time setup code
//   bundle NAME KIND   writes a bundle and prints "PATH MANIFEST_SHA256";
//                      KIND is good, other-hardware, downgrade,
//                      bad-signature or not-a-bundle
//   slot-b NAME        "match" when slot B holds bundle NAME's image,
//                      else "differs"
//   reboot             "yes" once the updater ran its reboot command
//   audit              the update actions in the audit log, oldest first,
//                      as "ACTION:OBJECT_ID" separated by spaces
// and stops everything at end of input.
//
// Run as root, meldpuntd runs under its own uid, for which the dbus-daemon
// needs an account: it runs in a mount namespace of its own, where copies
// of /etc/passwd and /etc/group name that uid "meldpuntd", so the policy
// file is used unchanged. The host's files are not touched.

#include "Appliance.h"
#include "UpdaterFixture.h"

#include "BundleVerifier.h"
#include "Database.h"
#include "FileSystem.h"
#include "KeySealer.h"
#include "SealedKeyFile.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;
using namespace meldpunt::test;
using namespace meldpunt::updater;

namespace {

bool acceptsConnections(const fs::path& socketPath)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socketPath.c_str());
    const bool connected =
        ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return connected;
}

// Starts a dbus-daemon with the system bus's default rules and the
// updater's policy file from rootfs/.
std::unique_ptr<Process> startBus(const fs::path& folder, const fs::path& socket)
{
    const fs::path policyFile = fs::path(MELDPUNT_SOURCE_DIR) /
        "rootfs/usr/share/dbus-1/system.d/org.meldpunt.Updater1.conf";
    std::string policy = readAll(policyFile);
    const bool root = ::geteuid() == 0;
    if (!root) {
        // Everything runs as the caller, who stands for meldpuntd's user.
        const std::string name = "user=\"meldpuntd\"";
        policy.replace(
            policy.find(name), name.size(), "user=\"" + std::to_string(::geteuid()) + "\"");
    }
    std::ofstream(folder / "updater-policy.conf") << policy;
    std::ofstream(folder / "bus.conf")
        << "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" "
           "\"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n<busconfig>\n"
           "  <listen>unix:path="
        << socket.string()
        << "</listen>\n  <auth>EXTERNAL</auth>\n  <policy context=\"default\">\n"
           "    <allow user=\"*\"/>\n    <deny own=\"*\"/>\n"
           "    <deny send_type=\"method_call\"/>\n    <allow send_type=\"signal\"/>\n"
           "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
           "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
           "    <allow receive_type=\"method_call\"/>\n"
           "    <allow receive_type=\"method_return\"/>\n"
           "    <allow receive_type=\"error\"/>\n    <allow receive_type=\"signal\"/>\n"
           "    <allow send_destination=\"org.freedesktop.DBus\" "
           "send_interface=\"org.freedesktop.DBus\"/>\n"
           "  </policy>\n  <include>"
        << (folder / "updater-policy.conf").string() << "</include>\n</busconfig>\n";

    std::vector<std::string> argv = { "dbus-daemon", "--nofork", "--nopidfile",
        "--config-file=" + (folder / "bus.conf").string() };
    if (root) {
        const std::string daemonId = std::to_string(Appliance::kDaemonUid);
        std::ofstream(folder / "passwd") << readAll("/etc/passwd") << "meldpuntd:x:" << daemonId
                                         << ':' << daemonId << "::/nonexistent:/usr/sbin/nologin\n";
        std::ofstream(folder / "group")
            << readAll("/etc/group") << "meldpuntd:x:" << daemonId << ":\n";
        argv = { "unshare", "--mount", "sh", "-euc",
            "mount --bind \"$1\" /etc/passwd; mount --bind \"$2\" /etc/group; shift 2; exec \"$@\"",
            "sh", (folder / "passwd").string(), (folder / "group").string(), "dbus-daemon",
            "--nofork", "--nopidfile", "--config-file=" + (folder / "bus.conf").string() };
    }
    auto bus = std::make_unique<Process>(argv, Process::Options({}, folder / "dbus-daemon.log"));
    if (!waitFor([&] { return acceptsConnections(socket); }, std::chrono::seconds(10)))
        throw std::runtime_error("the private dbus-daemon did not start: " + bus->log());
    return bus;
}

std::unique_ptr<Process> startUpdater(UpdaterBox& box, const std::string& busAddress)
{
    auto updater = std::make_unique<Process>(
        std::vector<std::string>{
            (fs::path(MELDPUNT_BINARY_DIR) / "updater" / "meldpunt-updated").string(), "--config",
            box.configFile().string(), "--bus-address", busAddress },
        Process::Options({ "TSS2_LOG=all+none" }, box.root() / "updated.log"));
    // The service logs nothing on start, so a busctl call shows that it
    // owns its name.
    const bool up = waitFor(
        [&] {
            Process probe(
                { "busctl", "--address=" + busAddress, "get-property", "org.meldpunt.Updater1",
                    "/org/meldpunt/Updater1", "org.meldpunt.Updater1", "Operation" },
                Process::Options({}, box.root() / "probe.log"));
            const auto status = probe.wait(std::chrono::seconds(5));
            return status && *status == 0;
        },
        std::chrono::seconds(15));
    if (!up)
        throw std::runtime_error("meldpunt-updated did not start: " + updater->log());
    return updater;
}

// Makes the reboot command take three seconds before it touches the
// marker, so that the page shows the install still running ("rebooting",
// 100 percent) however fast the file-backed slot is written.
void slowReboot(UpdaterBox& box)
{
    const fs::path script = box.root() / "slow-reboot";
    std::ofstream(script) << "#!/bin/sh\nsleep 3\nexec /usr/bin/touch '"
                          << box.rebootMarker().string() << "'\n";
    fs::permissions(script, fs::perms(0755));
    std::string config = readAll(box.configFile());
    const std::string key = "reboot_command = ";
    const std::size_t start = config.find(key);
    const std::size_t end = config.find('\n', start);
    if (start == std::string::npos || end == std::string::npos)
        throw std::runtime_error("updater.ini has no reboot_command");
    config.replace(start, end - start, key + script.string());
    std::ofstream(box.configFile(), std::ios::trunc) << config;
}

std::string manifestSha256(const fs::path& bundle)
{
    meldpunt::fsutil::FileDescriptor fd(::open(bundle.c_str(), O_RDONLY | O_CLOEXEC));
    const BundleHeader header =
        parseBundleHeader(readAt(fd.get(), 0, kBundleHeaderSize), fs::file_size(bundle));
    return toHex(sha256Of(readAt(fd.get(), header.manifestOffset, header.manifestLength)));
}

// Writes a bundle of one kind and returns its path.
fs::path makeBundle(UpdaterBox& box, const std::string& name, const std::string& kind)
{
    UpdaterBox::BundleOptions options;
    options.version = "1.2.0";
    options.epoch = 2;
    options.seed = static_cast<unsigned>(std::hash<std::string>()(name) & 0xffff);
    if (kind == "not-a-bundle") {
        const fs::path path = box.root() / (name + ".mpb");
        std::ofstream(path) << "This is a note, not a bundle.\n";
        return path;
    }
    if (kind == "other-hardware")
        options.hardwareId = "another-vendors-box";
    if (kind == "downgrade") {
        // The box runs epoch 1 (updater.ini), so epoch 0 is a downgrade.
        options.epoch = 0;
        options.version = "0.9.0";
    }
    if (kind == "bad-signature")
        options.signer = "other"; // a signer under a CA the box does not trust
    const fs::path path = box.makeBundle(name, options);
    return path;
}

std::string auditedUpdates(Appliance& appliance)
{
    const auto file = meldpunt::tpm::SealedKeyFile::read(appliance.sealedKeyFile());
    meldpunt::tpm::Tpm tpm(appliance.tpm().tcti());
    const meldpunt::SecretBytes key = tpm.unseal(file.key);
    meldpunt::storage::Database database(
        appliance.databaseFile(), key.span(), meldpunt::storage::OpenMode::MustExist);
    auto query = database.prepare(
        "SELECT action, object_id FROM audit_log WHERE action LIKE 'update.%' ORDER BY id");
    std::string line;
    while (query.step())
        line += (line.empty() ? "" : " ") + query.columnText(0) + ":" + query.columnText(1);
    return line.empty() ? "(none)" : line;
}

} // namespace

int main(int argc, char** argv)
{
    // --setup-steps: the setup page's network and certificate steps are on,
    // and the updater renders network settings into a scratch root.
    const bool setupSteps = argc > 1 && std::string(argv[1]) == "--setup-steps";
    try {
        UpdaterBox box("updater-harness");
        box.writeConfig("security_epoch = 1\n");
        slowReboot(box);
        const fs::path networkRoot = box.root() / "box";
        if (setupSteps) {
            fs::create_directories(networkRoot / "etc/meldpunt");
            fs::copy_file(fs::path(MELDPUNT_SOURCE_DIR) / "rootfs/etc/meldpunt/edge-staff.ini",
                networkRoot / "etc/meldpunt/edge-staff.ini");
            const fs::path settings = networkRoot / "var/lib/meldpunt/network/network.ini";
            std::ofstream(box.configFile(), std::ios::app)
                << "\n[network]\nsettings_file = " << settings.string() << "\napply_command = "
                << (fs::path(MELDPUNT_SOURCE_DIR) / "tools/apply-network").string() << " --root "
                << networkRoot.string() << " " << settings.string() << "\n";
        }
        fs::permissions(box.root(), fs::perms(0755));
        const ScratchFolder busFolder("updater-bus", socketScratchBase());
        const fs::path socket = busFolder.path() / "bus.sock";
        const std::string busAddress = "unix:path=" + socket.string();
        auto bus = startBus(box.root(), socket);
        auto updater = startUpdater(box, busAddress);

        // meldpuntd streams uploads into a folder of its own.
        const fs::path uploads = box.root() / "uploads";
        fs::create_directories(uploads);
        if (Appliance::runsAsSeparateUsers() &&
            ::chown(uploads.c_str(), Appliance::kDaemonUid, Appliance::kDaemonUid) != 0)
            throw std::runtime_error("chown of the upload folder failed");
        fs::permissions(uploads, fs::perms(0700));

        Appliance::Options options;
        options.languages = "en";
        options.extraDaemonConfig = "[updates]\nfolder = " + uploads.string() +
            "\nbus_address = " + busAddress + "\nmax_bundle_bytes = 33554432\n";
        options.networkAndCertificateSteps = setupSteps;
        Appliance appliance("updater-harness-appliance", options);
        appliance.startAll();
        // The edges' certificate replaces the one the image makes at the
        // first boot, so the setup page shows what the browser gets.
        if (setupSteps) {
            fs::create_directories(box.tlsFolder());
            for (const char* edge : {"staff.pem", "public.pem"})
                fs::copy_file(appliance.root() / "pki/server.pem", box.tlsFolder() / edge,
                    fs::copy_options::overwrite_existing);
        }
        std::cout << appliance.publicPort() << ' ' << appliance.caFile().string() << std::endl;

        std::map<std::string, fs::path> bundles;
        std::string command;
        while (std::getline(std::cin, command)) {
            if (command == "staff") {
                std::string code = readFile(appliance.setupCodeFile());
                while (!code.empty() && code.back() == '\n')
                    code.pop_back();
                std::cout << appliance.staffPort() << ' ' << code << std::endl;
            } else if (command.starts_with("bundle ")) {
                const std::string rest = command.substr(7);
                const std::string name = rest.substr(0, rest.find(' '));
                const std::string kind = rest.substr(name.size() + 1);
                const fs::path path = makeBundle(box, name, kind);
                bundles[name] = path;
                std::cout << path.string() << ' '
                          << (kind == "not-a-bundle" ? "-" : manifestSha256(path)) << std::endl;
            } else if (command.starts_with("slot-b ")) {
                const fs::path image = box.root() / (command.substr(7) + ".rootfs");
                meldpunt::fsutil::FileDescriptor fd(
                    ::open(box.slot(Slot::B).c_str(), O_RDONLY | O_CLOEXEC));
                const bool match = fs::exists(image) &&
                    toHex(sha256Of(readAt(fd.get(), 0, fs::file_size(image)))) == fileSha256(image);
                std::cout << (match ? "match" : "differs") << std::endl;
            } else if (command == "reboot") {
                std::cout << (fs::exists(box.rebootMarker()) ? "yes" : "no") << std::endl;
            } else if (command == "network") {
                // The staff address and office networks apply-network rendered.
                const fs::path rendered = networkRoot / "run/meldpunt/network";
                std::string line;
                for (const char* name : {"edge-staff.ini", "staff-lan.nft"}) {
                    std::istringstream text(fs::exists(rendered / name) ? readFile(rendered / name) : "");
                    for (std::string part; std::getline(text, part);)
                        if (part.starts_with("addresses") || part.starts_with("add element"))
                            line += (line.empty() ? "" : "|") + part;
                }
                std::cout << (line.empty() ? "(none)" : line) << std::endl;
            } else if (command == "audit") {
                std::cout << auditedUpdates(appliance) << std::endl;
            } else {
                std::cout << "unknown command" << std::endl;
            }
        }
    } catch (const std::exception& error) {
        std::cerr << "updater-harness: " << error.what() << '\n';
        return 1;
    }
    return 0;
}
