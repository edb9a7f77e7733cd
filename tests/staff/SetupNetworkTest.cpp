// The network and TLS certificate steps of the first setup, through
// StaffApp with the real meldpunt-updated on a private dbus-daemon. The
// updater stores the network settings in a scratch root and runs the real
// apply-network there, so the test reads the files the box would use.

#include "NetworkSettings.h"
#include "StaffAppFixture.h"
#include "TestCertificates.h"
#include "TestData.h"
#include "UpdaterOnPrivateBus.h"

#include "Process.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;
using namespace meldpunt::staff;
using namespace meldpunt::test;
using Catch::Matchers::ContainsSubstring;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

std::string fileText(const fs::path& path)
{
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

StaffSettings stepSettings(const std::string& busAddress)
{
    StaffSettings settings;
    settings.updaterBusAddress = busAddress;
    settings.networkAndCertificateSteps = true;
    return settings;
}

Fields staticNetwork(const std::string& code)
{
    return {{"setup_code", code}, {"step", "network"}, {"addressing", "static"}, {"address", "192.0.2.10"},
        {"prefix_length", "24"}, {"gateway", "192.0.2.1"}, {"dns", "192.0.2.1, 2001:db8::53"},
        {"staff_address", "192.0.2.10"}, {"staff_lan", "192.0.2.0/24 2001:DB8:10::/64"}};
}

Fields with(Fields fields, const std::string& name, const std::string& value)
{
    for (auto& field : fields)
        if (field.first == name)
            field.second = value;
    return fields;
}

// A message as the page shows it: the templates escape apostrophes.
std::string shown(std::string message)
{
    for (auto at = message.find('\''); at != std::string::npos; at = message.find('\'', at))
        message.replace(at, 1, "&apos;");
    return message;
}

bool audited(StaffAppFixture& fixture, const std::string& action)
{
    const auto entries = fixture.auditEntries();
    return std::any_of(entries.begin(), entries.end(), [&](const AuditEntry& entry) { return entry.action == action; });
}

// Writes a self-signed pair for each edge, as the image makes at the
// first boot. Returns the staff certificate's fingerprint as
// browsers show it, and its end date as the page shows it.
std::pair<std::string, std::string> writeGeneratedCertificates(const fs::path& folder)
{
    fs::create_directories(folder);
    std::pair<std::string, std::string> staff;
    for (const char* edge : {"staff", "public"}) {
        TestCertificateOptions options;
        options.commonName = std::string("meldpunt ") + edge + " edge";
        options.alternativeNames = "DNS:localhost, DNS:meldpunt";
        const auto pair = makeTestCertificate(options);
        std::ofstream(folder / (std::string(edge) + ".pem")) << pair.certificatePem;
        std::ofstream(folder / (std::string(edge) + ".key")) << pair.keyPem;
        if (std::string(edge) != "staff")
            continue;
        BIO* bio = BIO_new_mem_buf(pair.certificatePem.data(), static_cast<int>(pair.certificatePem.size()));
        X509* certificate = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
        BIO_free(bio);
        REQUIRE(certificate);
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int length = 0;
        REQUIRE(X509_digest(certificate, EVP_sha256(), digest, &length) == 1);
        const char* hex = "0123456789ABCDEF";
        for (unsigned int i = 0; i < length; ++i) {
            if (i > 0)
                staff.first += ':';
            staff.first += hex[digest[i] >> 4];
            staff.first += hex[digest[i] & 15];
        }
        std::tm parts {};
        REQUIRE(ASN1_TIME_to_tm(X509_get0_notAfter(certificate), &parts) == 1);
        char text[32];
        std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
        staff.second = text;
        X509_free(certificate);
    }
    return staff;
}

} // namespace

TEST_CASE("Setup network step applies settings", "[staff][setup][network]")
{
    ScratchFolder scratch("setup-network-files");
    UpdaterOnPrivateBus updater(scratch.path());
    const auto [fingerprint, notAfter] = writeGeneratedCertificates(updater.tlsFolder());
    StaffAppFixture fixture("setup-network", stepSettings(updater.address()));
    const std::string code = fixture.app->prepareFirstSetup();
    StaffClient client(*fixture.app);

    const auto first = client.get("/setup");
    REQUIRE(first.status == 200);
    CHECK_THAT(first.body, ContainsSubstring("Set up this box: the network"));
    CHECK_THAT(first.body, ContainsSubstring("name=\"staff_lan\""));

    SECTION("the admin form waits for the steps")
    {
        const auto early = client.post("/setup", {{"setup_code", code}, {"username", "root"},
                                                     {"password", "correct horse battery"},
                                                     {"password_again", "correct horse battery"}});
        CHECK(early.status == 409);
        CHECK_THAT(early.body, ContainsSubstring("Finish the step on this page first"));
    }

    SECTION("a fixed address is stored, rendered for networkd, the staff edge and the firewall")
    {
        const auto applied = client.post("/setup", staticNetwork(code));
        INFO(applied.body);
        REQUIRE(applied.status == 200);
        CHECK_THAT(applied.body, ContainsSubstring("The network settings are stored and applied"));
        CHECK_THAT(applied.body, ContainsSubstring("https://192.0.2.10:8444/setup"));
        // The certificate step follows, with the code filled in.
        CHECK_THAT(applied.body, ContainsSubstring("Set up this box: the TLS certificate"));
        CHECK_THAT(applied.body, ContainsSubstring("value=\"" + code + "\""));
        CHECK(audited(fixture, "setup.network_applied"));

        CHECK(fileText(updater.networkSettings())
            == "; The network settings made on the setup page, written by meldpunt-updated.\n"
               "; apply-network renders them into /run at every boot (docs/operations.md).\n"
               "[network]\naddressing = static\naddress = 192.0.2.10/24\ngateway = 192.0.2.1\n"
               "dns = 192.0.2.1 2001:db8::53\nstaff_address = 192.0.2.10\n"
               "staff_lan = 192.0.2.0/24 2001:db8:10::/64\n");
        const std::string network = fileText(updater.networkRoot() / "run/systemd/network/10-meldpunt.network");
        CHECK_THAT(network, ContainsSubstring("[Match]\nType=ether\n"));
        CHECK_THAT(network, ContainsSubstring("Address=192.0.2.10/24\nGateway=192.0.2.1\nDNS=192.0.2.1\nDNS=2001:db8::53\n"));
        const std::string listen = fileText(updater.networkRoot() / "run/meldpunt/network/edge-staff.ini");
        CHECK_THAT(listen, ContainsSubstring("[listen]\naddresses = 192.0.2.10\nport = 8444\n"));
        const std::string lan = fileText(updater.networkRoot() / "run/meldpunt/network/staff-lan.nft");
        CHECK_THAT(lan, ContainsSubstring("add element inet meldpunt staff_lan_v4 { 192.0.2.0/24 }\n"));
        CHECK_THAT(lan, ContainsSubstring("add element inet meldpunt staff_lan_v6 { 2001:db8:10::/64 }\n"));

        // The certificate step shows the generated staff certificate.
        CHECK_THAT(applied.body, ContainsSubstring(fingerprint));
        CHECK_THAT(applied.body, ContainsSubstring(notAfter));

        SECTION("keeping the certificate leads to the admin form, which sets up the box")
        {
            const auto keptPage = client.post("/setup", {{"setup_code", code}, {"step", "certificate_keep"}});
            INFO(keptPage.body);
            CHECK(keptPage.status == 200);
            CHECK_THAT(keptPage.body, ContainsSubstring("name=\"password_again\""));
            CHECK(audited(fixture, "setup.certificate_kept"));
            const auto admin = client.post("/setup", {{"setup_code", code}, {"username", "root"},
                                                         {"password", "correct horse battery"},
                                                         {"password_again", "correct horse battery"}});
            INFO(admin.body);
            CHECK(admin.status == 200);
            CHECK_THAT(admin.body, ContainsSubstring("The admin account exists"));
        }

        SECTION("an uploaded certificate is checked and installed by the updater")
        {
            const auto notPem = client.post("/setup", {{"setup_code", code}, {"step", "certificate"}, {"edge", "staff"},
                                                          {"certificate", "not a certificate"}, {"key", "no key"}});
            CHECK(notPem.status == 422);
            CHECK_THAT(notPem.body, ContainsSubstring("The certificate is not a PEM certificate"));
            CHECK_THAT(notPem.body, ContainsSubstring("aria-invalid=\"true\""));

            TestCertificateOptions options;
            options.commonName = "staff.meldpunt.example";
            options.alternativeNames = "DNS:staff.meldpunt.example";
            const auto pair = makeTestCertificate(options);
            const auto other = makeTestCertificate(options);
            const auto mismatched = client.post("/setup", {{"setup_code", code}, {"step", "certificate"},
                                                              {"edge", "staff"}, {"certificate", pair.certificatePem},
                                                              {"key", other.keyPem}});
            CHECK(mismatched.status == 422);
            CHECK_THAT(mismatched.body, ContainsSubstring("does not belong to this certificate"));

            const auto installed = client.post("/setup", {{"setup_code", code}, {"step", "certificate"},
                                                             {"edge", "staff"}, {"certificate", pair.certificatePem},
                                                             {"key", pair.keyPem}});
            INFO(installed.body);
            CHECK(installed.status == 200);
            CHECK_THAT(installed.body, ContainsSubstring("The certificate is installed for the staff site"));
            CHECK_THAT(installed.body, ContainsSubstring("DNS:staff.meldpunt.example"));
            CHECK_FALSE(installed.body.find(fingerprint) != std::string::npos);
            CHECK(fileText(updater.tlsFolder() / "staff.pem") == pair.certificatePem);
            CHECK(audited(fixture, "tls.installed"));
        }
    }

    SECTION("DHCP with a staff address the box has")
    {
        const auto applied = client.post("/setup",
            {{"setup_code", code}, {"step", "network"}, {"addressing", "dhcp"}, {"staff_address", "127.0.0.1"},
                {"staff_lan", "10.20.0.0/16"}});
        INFO(applied.body);
        REQUIRE(applied.status == 200);
        CHECK_FALSE(fs::exists(updater.networkRoot() / "run/systemd/network/10-meldpunt.network"));
        CHECK_THAT(fileText(updater.networkRoot() / "run/meldpunt/network/edge-staff.ini"),
            ContainsSubstring("addresses = 127.0.0.1\n"));
        const std::string lan = fileText(updater.networkRoot() / "run/meldpunt/network/staff-lan.nft");
        CHECK_THAT(lan, ContainsSubstring("staff_lan_v4 { 10.20.0.0/16 }"));
        CHECK(lan.find("staff_lan_v6") == std::string::npos);
    }

    SECTION("skipping keeps DHCP and writes nothing")
    {
        const auto skipped = client.post("/setup", {{"setup_code", code}, {"step", "network_skip"}});
        INFO(skipped.body);
        CHECK(skipped.status == 200);
        CHECK_THAT(skipped.body, ContainsSubstring("The network stays as it is"));
        CHECK_THAT(skipped.body, ContainsSubstring("Set up this box: the TLS certificate"));
        CHECK_FALSE(fs::exists(updater.networkSettings()));
        CHECK_FALSE(fs::exists(updater.networkRoot() / "run"));
        CHECK(audited(fixture, "setup.network_skipped"));
        // The step is done; the page goes on with the certificate.
        CHECK_THAT(client.get("/setup").body, ContainsSubstring("Set up this box: the TLS certificate"));
    }

    SECTION("a wrong setup code stores nothing")
    {
        const auto wrong = client.post("/setup", staticNetwork("AAAAA-BBBBB-CCCCC-DDDDD"));
        CHECK(wrong.status == 403);
        CHECK_THAT(wrong.body, ContainsSubstring("The setup code is wrong"));
        CHECK_FALSE(fs::exists(updater.networkSettings()));
        const auto skipWrong = client.post("/setup", {{"setup_code", "wrong"}, {"step", "network_skip"}});
        CHECK(skipWrong.status == 403);
        CHECK_THAT(client.get("/setup").body, ContainsSubstring("Set up this box: the network"));
    }
}

TEST_CASE("Setup network step names each invalid field", "[staff][setup][network]")
{
    ScratchFolder scratch("setup-network-fields");
    UpdaterOnPrivateBus updater(scratch.path());
    StaffAppFixture fixture("setup-network-fields", stepSettings(updater.address()));
    const std::string code = fixture.app->prepareFirstSetup();
    StaffClient client(*fixture.app);
    client.get("/setup");

    struct Case {
        std::string field;
        std::string value;
        std::string message;
    };
    const Case cases[] = {
        {"addressing", "manual", "Choose how the box gets its address"},
        {"address", "192.0.2.300", "'192.0.2.300' is not an IPv4 or IPv6 address"},
        {"address", "box.example", "is not an IPv4 or IPv6 address"},
        {"address", "192.0.2.10:8444", "is not an IPv4 or IPv6 address"},
        {"address", "", "Type the box's fixed address"},
        {"address", "127.0.0.1", "cannot be the box's address on a network"},
        {"address", "192.0.2.0", "the network's own address or its broadcast address"},
        {"prefix_length", "33", "a number from 1 to 32"},
        {"prefix_length", "255.255.255.0", "a number from 1 to 32"},
        {"prefix_length", "", "Type the prefix length"},
        {"gateway", "198.51.100.1", "'198.51.100.1' is outside the box's network 192.0.2.0/24"},
        {"gateway", "2001:db8::1", "The gateway is IPv6 and the box's address is not"},
        {"gateway", "192.0.2.10", "The gateway is the box's own address"},
        {"gateway", "router", "is not an IPv4 or IPv6 address"},
        {"dns", "192.0.2.1 dns.example", "'dns.example' is not the address of a DNS server"},
        {"staff_address", "", "Type the address on which staff reach the staff page"},
        {"staff_address", "0.0.0.0", "would make the staff page listen on every network"},
        {"staff_address", "::", "would make the staff page listen on every network"},
        {"staff_address", "192.0.2.77", "'192.0.2.77' is not one of this box's addresses"},
        {"staff_address", "fd00::5/64", "is not an IPv4 or IPv6 address"},
        {"staff_lan", "", "Type at least one office network"},
        {"staff_lan", " , ", "Type at least one office network"},
        {"staff_lan", "192.0.2.0/33", "'192.0.2.0/33' is not a network"},
        {"staff_lan", "0.0.0.0/0", "would let a large part of the internet reach the staff page"},
        {"staff_lan", "192.0.2.5/24", "the network is 192.0.2.0/24"},
        {"staff_lan", "10.0.0.0/8 10.1.0.0/16", "Keep only the larger one, 10.0.0.0/8"},
        {"staff_lan", "office", "'office' is not a network"},
    };
    for (const auto& bad : cases) {
        INFO(bad.field << " = " << bad.value);
        const auto response = client.post("/setup", with(staticNetwork(code), bad.field, bad.value));
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring(shown(bad.message)));
        CHECK_THAT(response.body, ContainsSubstring("aria-invalid=\"true\""));
        CHECK_THAT(response.body, ContainsSubstring("Nothing was stored"));
        CHECK_FALSE(fs::exists(updater.networkSettings()));
    }

    SECTION("what was typed stays in the form")
    {
        const auto response = client.post("/setup", with(staticNetwork(code), "gateway", "198.51.100.1"));
        CHECK_THAT(response.body, ContainsSubstring("value=\"198.51.100.1\""));
        CHECK_THAT(response.body, ContainsSubstring("value=\"192.0.2.0/24 2001:DB8:10::/64\""));
    }

    SECTION("hostile input in every text field is refused, shown escaped, and stores nothing")
    {
        const char* textFields[] = {"address", "prefix_length", "gateway", "dns", "staff_address", "staff_lan"};
        for (const auto& hostile : hostileInputs()) {
            for (const char* field : textFields) {
                INFO(field << " = " << hostile);
                const auto response = client.post("/setup", with(staticNetwork(code), field, hostile));
                CHECK(response.status == 400);
                CHECK_THAT(response.body, ContainsSubstring("aria-invalid=\"true\""));
                CHECK(response.body.find("<script>alert(1)") == std::string::npos);
                CHECK(response.body.find("<img src=x") == std::string::npos);
            }
            INFO("addressing = " << hostile);
            CHECK(client.post("/setup", with(staticNetwork(code), "addressing", hostile)).status == 400);
        }
        CHECK_FALSE(fs::exists(updater.networkSettings()));
        CHECK_FALSE(fs::exists(updater.networkRoot() / "run"));
    }
}

TEST_CASE("Setup steps without updater stay skippable", "[staff][setup][network]")
{
    ScratchFolder scratch("setup-network-no-updater");
    StaffAppFixture fixture("setup-network-no-updater",
        stepSettings("unix:path=" + (scratch.path() / "no-bus.sock").string()));
    const std::string code = fixture.app->prepareFirstSetup();
    StaffClient client(*fixture.app);
    client.get("/setup");

    const auto refused = client.post("/setup", with(staticNetwork(code), "staff_address", "192.0.2.10"));
    INFO(refused.body);
    CHECK(refused.status == 503);
    CHECK_THAT(refused.body, ContainsSubstring("the updater service did not answer"));
    CHECK_THAT(refused.body, ContainsSubstring("You may skip this step"));

    const auto skipped = client.post("/setup", {{"setup_code", code}, {"step", "network_skip"}});
    CHECK(skipped.status == 200);
    CHECK_THAT(skipped.body, ContainsSubstring("The installed certificates could not be read"));
    const auto keptPage = client.post("/setup", {{"setup_code", code}, {"step", "certificate_keep"}});
    CHECK(keptPage.status == 200);
    CHECK_THAT(keptPage.body, ContainsSubstring("name=\"password_again\""));
}

TEST_CASE("Box addresses found without netlink", "[staff][setup][network]")
{
    CHECK(meldpunt::network::addressIsOnThisBox("127.0.0.1"));
    CHECK_FALSE(meldpunt::network::addressIsOnThisBox("192.0.2.77"));
    CHECK_FALSE(meldpunt::network::addressIsOnThisBox("not an address"));
}

TEST_CASE("Setup certificate step rejects hostile input", "[staff][setup][network]")
{
    ScratchFolder scratch("setup-certificate-hostile");
    UpdaterOnPrivateBus updater(scratch.path());
    const auto generated = writeGeneratedCertificates(updater.tlsFolder());
    const std::string before = fileText(updater.tlsFolder() / "staff.pem");
    StaffAppFixture fixture("setup-certificate-hostile", stepSettings(updater.address()));
    const std::string code = fixture.app->prepareFirstSetup();
    StaffClient client(*fixture.app);
    client.get("/setup");
    REQUIRE(client.post("/setup", {{"setup_code", code}, {"step", "network_skip"}}).status == 200);

    for (const auto& hostile : hostileInputs()) {
        for (const char* field : {"certificate", "key", "edge"}) {
            INFO(field << " = " << hostile);
            Fields fields = {{"setup_code", code}, {"step", "certificate"}, {"edge", "staff"},
                {"certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, {"key", "key"}};
            const auto response = client.post("/setup", with(fields, field, hostile));
            CHECK((response.status == 400 || response.status == 422));
            CHECK_THAT(response.body, ContainsSubstring("aria-invalid=\"true\""));
            CHECK(response.body.find("<script>alert(1)") == std::string::npos);
            CHECK(response.body.find("<img src=x") == std::string::npos);
            // The certificate in use is shown still.
            CHECK_THAT(response.body, ContainsSubstring(generated.first));
        }
    }
    CHECK(fileText(updater.tlsFolder() / "staff.pem") == before);
    CHECK_FALSE(audited(fixture, "tls.installed"));
}
