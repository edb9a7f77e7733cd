// The admin's TLS certificate page through StaffApp, with the real
// meldpunt-updated on a private dbus-daemon. The updater installs into a
// scratch folder, and a script replaces the edge's restart command.

#include "StaffAppFixture.h"
#include "TestCertificates.h"

#include "Process.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace fs = std::filesystem;
using namespace meldpunt::staff;
using namespace meldpunt::test;
using Catch::Matchers::ContainsSubstring;

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

// A private bus that lets everyone own and call everything, and
// meldpunt-updated on it. The updater's own bus policy has its tests in
// tests/updater; here only the staff page's side is under test.
class UpdaterOnPrivateBus {
public:
    explicit UpdaterOnPrivateBus(const fs::path& root)
        : root_(root)
    {
        const fs::path socket = root / "bus.sock";
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
        const fs::path missing = root / "missing";
        std::ofstream(root / "updater.ini")
            << "[image]\nproduct = meldpunt\nhardware_id = meldpunt-box-test\nbuild_time = 2026-01-01T00:00:00Z\n"
            << "[trust]\nca_file = " << missing.string() << "\ncrl_file = " << missing.string()
            << "\ndowngrade_ca_file = " << missing.string() << "\ndowngrade_crl_file = " << missing.string() << "\n"
            << "[slots]\na = " << missing.string() << "\nb = " << missing.string() << "\nesp = " << missing.string()
            << "\nstate_folder = " << (root / "state").string() << "\n"
            << "[tpm]\ntcti = swtpm:path=" << missing.string() << "\nepoch_nv_index = 0x01800100\n"
            << "[tls]\nfolder = " << tlsFolder().string() << "\npublic_restart_command = " << (root / "restart-public").string()
            << "\nstaff_restart_command = /bin/true\n";
        updater_ = std::make_unique<Process>(
            std::vector<std::string>{(fs::path(MELDPUNT_BINARY_DIR) / "updater/meldpunt-updated").string(), "--config",
                (root / "updater.ini").string(), "--bus-address", address_},
            Process::Options({}, root / "updated.log"));
        REQUIRE(waitFor([&] { return updater_->log().find("Serving org.meldpunt.Updater1") != std::string::npos; },
            std::chrono::seconds(15)));
    }

    const std::string& address() const { return address_; }
    fs::path tlsFolder() const { return root_ / "tls"; }
    fs::path restartMarker() const { return root_ / "public-restarted"; }

private:
    fs::path root_;
    std::string address_;
    std::unique_ptr<Process> bus_;
    std::unique_ptr<Process> updater_;
};

StaffSettings settingsFor(const std::string& busAddress)
{
    StaffSettings settings;
    settings.updaterBusAddress = busAddress;
    return settings;
}

bool audited(StaffAppFixture& fixture, const std::string& action)
{
    const auto entries = fixture.auditEntries();
    return std::any_of(entries.begin(), entries.end(), [&](const AuditEntry& entry) { return entry.action == action; });
}

} // namespace

TEST_CASE("Certificate page installs through updater", "[staff][certificates]")
{
    ScratchFolder scratch("certificate-page-files");
    UpdaterOnPrivateBus updater(scratch.path());
    StaffAppFixture fixture("certificate-page", settingsFor(updater.address()));
    const auto admin = fixture.addMember("admin.one", Role::Admin);
    StaffClient client(*fixture.app);
    fixture.logIn(client, admin);

    const auto page = client.get("/certificates");
    REQUIRE(page.status == 200);
    CHECK_THAT(page.body, ContainsSubstring("name=\"certificate\""));

    TestCertificateOptions options;
    options.commonName = "meldpunt.example";
    options.alternativeNames = "DNS:meldpunt.example";
    const auto pair = makeTestCertificate(options);

    SECTION("a valid pair is installed and the edge restarted")
    {
        const auto response
            = client.post("/certificates", {{"edge", "public"}, {"certificate", pair.certificatePem}, {"key", pair.keyPem}});
        INFO(response.body);
        CHECK(response.status == 200);
        CHECK_THAT(response.body, ContainsSubstring("The certificate is installed"));
        CHECK_THAT(response.body, ContainsSubstring("DNS:meldpunt.example"));
        std::ifstream installed(updater.tlsFolder() / "public.pem");
        const std::string text((std::istreambuf_iterator<char>(installed)), std::istreambuf_iterator<char>());
        CHECK(text == pair.certificatePem);
        CHECK(fs::exists(updater.restartMarker()));
        CHECK(audited(fixture, "tls.installed"));
    }
    SECTION("a key of another certificate is rejected with advice")
    {
        const auto other = makeTestCertificate(options);
        const auto response
            = client.post("/certificates", {{"edge", "public"}, {"certificate", pair.certificatePem}, {"key", other.keyPem}});
        CHECK(response.status == 422);
        CHECK_THAT(response.body, ContainsSubstring("does not belong to this certificate"));
        // The certificate stays in the form; the key is never sent back.
        CHECK_THAT(response.body, ContainsSubstring("BEGIN CERTIFICATE"));
        CHECK_THAT(response.body, !ContainsSubstring("PRIVATE KEY-----\n"));
        CHECK_FALSE(fs::exists(updater.tlsFolder() / "public.pem"));
        CHECK_FALSE(fs::exists(updater.restartMarker()));
        CHECK(audited(fixture, "tls.rejected"));
    }
    SECTION("control characters and a missing site are rejected before the updater")
    {
        auto response = client.post(
            "/certificates", {{"edge", "public"}, {"certificate", "-----BEGIN CERTIFICATE-----\n\x01\x02\u00e9"}, {"key", pair.keyPem}});
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("characters that a PEM file does not"));
        response = client.post("/certificates", {{"certificate", pair.certificatePem}, {"key", pair.keyPem}});
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("Choose whether the certificate is for the public site"));
    }
}

TEST_CASE("Certificate page is for admins only", "[staff][certificates]")
{
    StaffAppFixture fixture("certificate-page-roles");
    const auto coordinator = fixture.addMember("coordinator.one", Role::Coordinator);
    StaffClient client(*fixture.app);
    fixture.logIn(client, coordinator);
    CHECK(client.get("/certificates").status == 403);
    CHECK(client.post("/certificates", {{"edge", "public"}, {"certificate", "x"}, {"key", "y"}}).status == 403);
}
