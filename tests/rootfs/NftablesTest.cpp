// Checks the firewall rule set, rootfs/etc/meldpunt/nftables.conf: nft
// accepts it as shipped and with office networks listed, and, loaded into
// a network namespace that tests/rootfs/firewall-check creates, it admits
// the public port from anywhere and the staff port from the office alone.
//
// The rule set includes /etc/meldpunt/nftables.d/*.nft; the test points
// that include at a scratch folder.

#include "RunCommand.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

using meldpunt::test::readFile;
using meldpunt::test::runCommand;
using meldpunt::test::ScratchFolder;

namespace fs = std::filesystem;

namespace {

const fs::path sourceDir = MELDPUNT_SOURCE_DIR;

// Writes the rule set with its include pointing at `networks`, a folder
// holding the shipped staff-lan.nft and `extra` as a second file.
fs::path prepareRuleset(const fs::path& scratch, const std::string& extra)
{
    const fs::path networks = scratch / "nftables.d";
    fs::create_directories(networks);
    fs::copy_file(sourceDir / "rootfs/etc/meldpunt/nftables.d/staff-lan.nft", networks / "staff-lan.nft");
    if (!extra.empty())
        std::ofstream(networks / "office.nft") << extra;
    std::string ruleset = readFile(sourceDir / "rootfs/etc/meldpunt/nftables.conf");
    const std::string include = "include \"/etc/meldpunt/nftables.d/*.nft\"";
    const auto at = ruleset.find(include);
    REQUIRE(at != std::string::npos);
    ruleset.replace(at, include.size(), "include \"" + (networks / "*.nft").string() + "\"");
    const fs::path file = scratch / "nftables.conf";
    std::ofstream(file) << ruleset;
    return file;
}

const char* officeNetworks = "add element inet meldpunt staff_lan_v4 { 192.168.10.0/24 }\n"
                             "add element inet meldpunt staff_lan_v6 { fd00:10::/64 }\n";

} // namespace

TEST_CASE("nft accepts the shipped ruleset", "[rootfs][firewall]")
{
    ScratchFolder scratch("nftables-syntax");
    SECTION("as shipped, with no office network")
    {
        const auto result = runCommand({"nft", "-c", "-f", prepareRuleset(scratch.path(), "").string()},
            scratch.path() / "nft.log");
        INFO(result.output);
        CHECK(result.exitCode == 0);
    }
    SECTION("with office networks listed")
    {
        const auto result = runCommand({"nft", "-c", "-f", prepareRuleset(scratch.path(), officeNetworks).string()},
            scratch.path() / "nft.log");
        INFO(result.output);
        CHECK(result.exitCode == 0);
    }
    SECTION("and rejects a mistyped network, naming it")
    {
        const auto result = runCommand({"nft", "-c", "-f",
                                           prepareRuleset(scratch.path(),
                                               "add element inet meldpunt staff_lan_v4 { 192.168.10.300/24 }\n")
                                               .string()},
            scratch.path() / "nft.log");
        CHECK(result.exitCode != 0);
        CHECK_THAT(result.output, Catch::Matchers::ContainsSubstring("192.168.10.300"));
    }
}

TEST_CASE("namespace firewall drops disallowed ports", "[rootfs][firewall]")
{
    if (::geteuid() != 0)
        SKIP("creating network namespaces takes root");
    ScratchFolder scratch("nftables-netns");
    const auto ruleset = prepareRuleset(scratch.path(), officeNetworks);
    const auto result = runCommand({(sourceDir / "tests/rootfs/firewall-check").string(), ruleset.string()},
        scratch.path() / "firewall-check.log");
    INFO(result.output);
    REQUIRE(result.exitCode == 0);

    std::map<std::string, std::string> states;
    std::istringstream lines(result.output);
    for (std::string round, family, from, port, state; lines >> round >> family >> from >> port >> state;)
        states[round + " " + family + " " + from + " " + port] = state;
    REQUIRE(states.size() == 24);

    // Without the rule set every listener accepts connections, so a closed port below
    // is the rule set's doing.
    for (const auto& [probe, state] : states)
        if (probe.starts_with("without-ruleset "))
            CHECK(state == "open");

    const std::map<std::string, std::string> expected = {
        {"ipv4 office 443", "open"},
        {"ipv6 office 443", "open"},
        {"ipv4 outside 443", "open"},
        {"ipv6 outside 443", "open"},
        // The IPv6 probe also needs neighbour discovery through the rules.
        {"ipv4 office 8444", "open"},
        {"ipv6 office 8444", "open"},
        {"ipv4 outside 8444", "closed"},
        {"ipv6 outside 8444", "closed"},
        {"ipv4 office 22", "closed"},
        {"ipv6 office 22", "closed"},
        {"ipv4 outside 22", "closed"},
        // No partner network is listed, so the partner port stays shut.
        {"ipv4 office 8446", "closed"},
    };
    for (const auto& [probe, state] : expected) {
        INFO(probe);
        CHECK(states["with-ruleset " + probe] == state);
    }
}
