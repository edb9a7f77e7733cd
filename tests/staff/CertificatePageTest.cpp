// The admin's TLS certificate page through StaffApp, with the real
// meldpunt-updated on a private dbus-daemon. The updater installs into a
// scratch folder, and a script replaces the edge's restart command.

#include "StaffAppFixture.h"
#include "TestCertificates.h"
#include "UpdaterOnPrivateBus.h"

#include "Process.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace fs = std::filesystem;
using namespace meldpunt::staff;
using namespace meldpunt::test;
using Catch::Matchers::ContainsSubstring;

namespace {

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
