// apply-network, which renders the network settings of the setup page
// into /run at every boot: from a stored settings file into a scratch
// root (--root), it writes the systemd-networkd file, the staff edge's
// listen address and the firewall's office networks. The staff edge
// unit's own render command then listens on that address, nft accepts
// the rule set with the rendered networks, and, in network namespaces,
// the firewall admits the staff port from those networks alone.

#include "RunCommand.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using meldpunt::test::readFile;
using meldpunt::test::runCommand;
using meldpunt::test::ScratchFolder;
using Catch::Matchers::ContainsSubstring;

namespace fs = std::filesystem;

namespace {

const fs::path sourceDir = MELDPUNT_SOURCE_DIR;

void replaceAll(std::string& text, const std::string& from, const std::string& to)
{
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
}

// A scratch box: etc/meldpunt as shipped, and the stored settings.
struct Box {
    ScratchFolder scratch {"apply-network"};
    fs::path root = scratch.path() / "box";
    fs::path settings = root / "var/lib/meldpunt/network/network.ini";

    Box()
    {
        fs::create_directories(root / "etc");
        fs::copy(sourceDir / "rootfs/etc/meldpunt", root / "etc/meldpunt", fs::copy_options::recursive);
        fs::create_directories(settings.parent_path());
    }

    void store(const std::string& text) const { std::ofstream(settings) << text; }

    meldpunt::test::CommandResult apply() const
    {
        return runCommand({(sourceDir / "tools/apply-network").string(), "--root", root.string(), settings.string()},
            scratch.path() / "apply.log");
    }

    fs::path networkFile() const { return root / "run/systemd/network/10-meldpunt.network"; }
    fs::path listenFile() const { return root / "run/meldpunt/network/edge-staff.ini"; }
    fs::path lanFile() const { return root / "run/meldpunt/network/staff-lan.nft"; }

    // nftables.conf with both includes pointing into the box.
    fs::path ruleset() const
    {
        std::string text = readFile(root / "etc/meldpunt/nftables.conf");
        replaceAll(text, "include \"/etc/meldpunt/nftables.d/*.nft\"",
            "include \"" + (root / "etc/meldpunt/nftables.d/*.nft").string() + "\"");
        replaceAll(text, "include \"/run/meldpunt/network/*.nft\"",
            "include \"" + (root / "run/meldpunt/network/*.nft").string() + "\"");
        const fs::path file = scratch.path() / "nftables.conf";
        std::ofstream(file) << text;
        return file;
    }

    // Runs the staff edge unit's first ExecStartPre= line as systemd would,
    // with its paths mapped into the box, and returns nginx.conf.
    std::string renderStaffEdge() const
    {
        std::istringstream unit(readFile(sourceDir / "rootfs/usr/lib/systemd/system/meldpunt-edge-staff.service"));
        std::string script;
        for (std::string line; std::getline(unit, line);) {
            if (!line.starts_with("ExecStartPre=/bin/sh -euc '"))
                continue;
            script = line.substr(line.find('\'') + 1, line.rfind('\'') - line.find('\'') - 1);
            break;
        }
        REQUIRE_FALSE(script.empty());
        replaceAll(script, "$$", "$");
        replaceAll(script, "%t/", (root / "run").string() + "/");
        replaceAll(script, "%d/", (root / "credentials").string() + "/");
        replaceAll(script, "/run/meldpunt/network/", (root / "run/meldpunt/network").string() + "/");
        replaceAll(script, "/etc/meldpunt/", (root / "etc/meldpunt").string() + "/");
        replaceAll(script, "/usr/libexec/meldpunt/", (sourceDir / "tools").string() + "/");
        fs::create_directories(root / "run/meldpunt-edge-staff");
        const auto result = runCommand({"/bin/sh", "-euc", script}, scratch.path() / "edge.log");
        INFO(result.output);
        REQUIRE(result.exitCode == 0);
        return readFile(root / "run/meldpunt-edge-staff/nginx.conf");
    }
};

const char* staticSettings = "[network]\naddressing = static\naddress = 192.168.10.5/24\ngateway = 192.168.10.1\n"
                             "dns = 192.168.10.1 2001:db8::53\nstaff_address = 192.168.10.5\n"
                             "staff_lan = 192.168.10.0/24 fd00:10::/64\n";

} // namespace

TEST_CASE("apply-network renders a fixed address", "[rootfs][network]")
{
    Box box;
    box.store(staticSettings);
    const auto result = box.apply();
    INFO(result.output);
    REQUIRE(result.exitCode == 0);

    const std::string network = readFile(box.networkFile());
    CHECK_THAT(network, ContainsSubstring("[Match]\nType=ether\n\n[Network]\nAddress=192.168.10.5/24\n"
                                          "Gateway=192.168.10.1\nDNS=192.168.10.1\nDNS=2001:db8::53\n"));
    CHECK(network.find("DHCP") == std::string::npos);
    CHECK_THAT(readFile(box.listenFile()), ContainsSubstring("[listen]\naddresses = 192.168.10.5\nport = 8444\n"));
    const std::string lan = readFile(box.lanFile());
    CHECK_THAT(lan, ContainsSubstring("add element inet meldpunt staff_lan_v4 { 192.168.10.0/24 }\n"));
    CHECK_THAT(lan, ContainsSubstring("add element inet meldpunt staff_lan_v6 { fd00:10::/64 }\n"));
    CHECK((fs::status(box.lanFile()).permissions() & fs::perms::others_read) != fs::perms::none);

    SECTION("the staff edge listens on the rendered address")
    {
        const std::string nginx = box.renderStaffEdge();
        CHECK_THAT(nginx, ContainsSubstring("listen 192.168.10.5:8444"));
    }

    SECTION("nft accepts the rule set with the rendered networks")
    {
        const auto check = runCommand({"nft", "-c", "-f", box.ruleset().string()}, box.scratch.path() / "nft.log");
        INFO(check.output);
        CHECK(check.exitCode == 0);
    }

    SECTION("the port of edge-staff.ini is kept")
    {
        std::string ini = readFile(box.root / "etc/meldpunt/edge-staff.ini");
        replaceAll(ini, "port = 8444", "port = 9444");
        std::ofstream(box.root / "etc/meldpunt/edge-staff.ini") << ini;
        REQUIRE(box.apply().exitCode == 0);
        CHECK_THAT(readFile(box.listenFile()), ContainsSubstring("port = 9444\n"));
    }

    SECTION("DHCP removes the fixed address and keeps the staff network")
    {
        box.store("[network]\naddressing = dhcp\nstaff_address = fd00:10::5\nstaff_lan = fd00:10::/64\n");
        const auto again = box.apply();
        INFO(again.output);
        REQUIRE(again.exitCode == 0);
        CHECK_FALSE(fs::exists(box.networkFile()));
        CHECK_THAT(readFile(box.listenFile()), ContainsSubstring("addresses = fd00:10::5\n"));
        CHECK(readFile(box.lanFile()).find("staff_lan_v4") == std::string::npos);
        CHECK_THAT(box.renderStaffEdge(), ContainsSubstring("listen [fd00:10::5]:8444"));
    }

    SECTION("without stored settings the box's own files apply")
    {
        fs::remove(box.settings);
        REQUIRE(box.apply().exitCode == 0);
        CHECK_FALSE(fs::exists(box.networkFile()));
        CHECK_FALSE(fs::exists(box.listenFile()));
        CHECK_FALSE(fs::exists(box.lanFile()));
        const auto check = runCommand({"nft", "-c", "-f", box.ruleset().string()}, box.scratch.path() / "nft.log");
        CHECK(check.exitCode == 0);
    }

    SECTION("a value that is not an address changes nothing")
    {
        const std::string before = readFile(box.lanFile());
        const char* hostile[] = {
            "[network]\naddressing = dhcp\nstaff_address = 192.168.10.5\nstaff_lan = 192.168.10.0/24 } ; flush ruleset\n",
            "[network]\naddressing = dhcp\nstaff_address = 192.168.10.5; include /etc/passwd\nstaff_lan = 10.0.0.0/8\n",
            "[network]\naddressing = static\naddress = 192.168.10.5/24\ngateway = $(reboot)\nstaff_address = "
            "192.168.10.5\nstaff_lan = 10.0.0.0/8\n",
            "[network]\naddressing = static\naddress = 192.168.10.5\nstaff_address = 192.168.10.5\nstaff_lan = "
            "10.0.0.0/8\n",
            "[network]\naddressing = manual\nstaff_address = 192.168.10.5\nstaff_lan = 10.0.0.0/8\n",
            "[network]\naddressing = dhcp\nstaff_address = 192.168.10.5\nstaff_lan =\n",
        };
        for (const char* settings : hostile) {
            INFO(settings);
            box.store(settings);
            const auto rejected = box.apply();
            CHECK(rejected.exitCode != 0);
            CHECK_THAT(rejected.output, ContainsSubstring("apply-network: "));
            CHECK(readFile(box.lanFile()) == before);
            CHECK(fs::exists(box.networkFile()));
        }
    }
}

TEST_CASE("rendered office networks reach the staff port", "[rootfs][network][firewall]")
{
    if (::geteuid() != 0)
        SKIP("creating network namespaces takes root");
    Box box;
    // The office of firewall-check is 192.168.10.0/24 and fd00:10::/64;
    // /etc/meldpunt/nftables.d lists no network as shipped.
    box.store(staticSettings);
    REQUIRE(box.apply().exitCode == 0);
    const auto result = runCommand({(sourceDir / "tests/rootfs/firewall-check").string(), box.ruleset().string()},
        box.scratch.path() / "firewall-check.log");
    INFO(result.output);
    REQUIRE(result.exitCode == 0);
    std::map<std::string, std::string> states;
    std::istringstream lines(result.output);
    for (std::string round, family, from, port, state; lines >> round >> family >> from >> port >> state;)
        states[round + " " + family + " " + from + " " + port] = state;
    for (const char* probe : {"ipv4 office 8444", "ipv6 office 8444"}) {
        INFO(probe);
        CHECK(states["without-ruleset " + std::string(probe)] == "open");
        CHECK(states["with-ruleset " + std::string(probe)] == "open");
    }
    for (const char* probe : {"ipv4 outside 8444", "ipv6 outside 8444"}) {
        INFO(probe);
        CHECK(states["with-ruleset " + std::string(probe)] == "closed");
    }
}

TEST_CASE("setup mode listens on the box's own addresses", "[rootfs][network]")
{
    if (::geteuid() != 0)
        SKIP("creating network namespaces takes root");
    Box box;
    const std::string space = "meldpunt-discover-" + std::to_string(::getpid());
    const auto inSpace = [&](std::vector<std::string> command) {
        command.insert(command.begin(), {"ip", "netns", "exec", space});
        return runCommand(command, box.scratch.path() / "netns.log");
    };
    REQUIRE(runCommand({"ip", "netns", "add", space}, box.scratch.path() / "netns.log").exitCode == 0);
    struct Remove {
        std::string space;
        fs::path log;
        ~Remove() { runCommand({"ip", "netns", "del", space}, log); }
    } remove{space, box.scratch.path() / "netns-del.log"};
    REQUIRE(inSpace({"ip", "link", "add", "office0", "type", "veth", "peer", "name", "office1"}).exitCode == 0);
    REQUIRE(inSpace({"ip", "link", "set", "office0", "up"}).exitCode == 0);
    REQUIRE(inSpace({"ip", "link", "set", "office1", "up"}).exitCode == 0);
    REQUIRE(inSpace({"ip", "address", "add", "192.0.2.5/24", "dev", "office0"}).exitCode == 0);
    REQUIRE(inSpace({"ip", "address", "add", "2001:db8:5::5/64", "dev", "office0", "nodad"}).exitCode == 0);
    const auto discover = [&] {
        return inSpace({(sourceDir / "tools/apply-network").string(), "--root", box.root.string(), "--discover",
            box.settings.string()});
    };

    SECTION("without stored settings")
    {
        const auto result = discover();
        INFO(result.output);
        REQUIRE(result.exitCode == 0);
        const std::string listen = readFile(box.listenFile());
        CHECK_THAT(listen, ContainsSubstring("addresses = 192.0.2.5, 2001:db8:5::5\n"));
        CHECK_THAT(listen, ContainsSubstring("port = 8444\n"));
        const std::string lan = readFile(box.lanFile());
        CHECK_THAT(lan, ContainsSubstring("add element inet meldpunt staff_lan_v4 { 192.0.2.0/24 }"));
        CHECK_THAT(lan, ContainsSubstring("add element inet meldpunt staff_lan_v6 { 2001:db8:5::/64 }"));
        CHECK_THAT(lan, !ContainsSubstring("fe80"));
        CHECK_FALSE(fs::exists(box.networkFile()));
        const std::string nginx = box.renderStaffEdge();
        CHECK_THAT(nginx, ContainsSubstring("listen 192.0.2.5:8444"));
    }
    SECTION("stored settings win")
    {
        box.store(staticSettings);
        REQUIRE(discover().exitCode == 0);
        CHECK_FALSE(fs::exists(box.listenFile()));
        CHECK_FALSE(fs::exists(box.lanFile()));
    }
    SECTION("a staff address set in /etc wins")
    {
        std::string ini = readFile(box.root / "etc/meldpunt/edge-staff.ini");
        replaceAll(ini, "\naddresses =\n", "\naddresses = 192.0.2.7\n");
        std::ofstream(box.root / "etc/meldpunt/edge-staff.ini", std::ios::trunc) << ini;
        REQUIRE(discover().exitCode == 0);
        CHECK_FALSE(fs::exists(box.listenFile()));
    }
    SECTION("no address yet")
    {
        REQUIRE(inSpace({"ip", "address", "flush", "dev", "office0"}).exitCode == 0);
        const auto result = discover();
        CHECK(result.exitCode != 0);
        CHECK_THAT(result.output, ContainsSubstring("no global address yet"));
        CHECK_FALSE(fs::exists(box.listenFile()));
    }
}
