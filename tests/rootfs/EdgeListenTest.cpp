// Renders the staff edge's configuration with the commands of the
// installed unit itself, and checks that it listens only on the addresses
// set in edge-staff.ini, and not at all without one.
//
// The unit's first ExecStartPre= line is run by /bin/sh as systemd would,
// with the unit's paths mapped into a scratch folder: %t and %d to folders
// there, /etc/meldpunt/ to a copy of rootfs/etc/meldpunt with the test's
// edge-staff.ini, and /usr/libexec/meldpunt/ to the source tree's tools.

#include "RunCommand.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

using meldpunt::test::readFile;
using meldpunt::test::runCommand;
using meldpunt::test::ScratchFolder;

namespace fs = std::filesystem;

namespace {

const fs::path sourceDir = MELDPUNT_SOURCE_DIR;

void replaceAll(std::string& text, const std::string& from, const std::string& to)
{
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
}

// The shell script of the unit's first ExecStartPre= line, which renders
// nginx.conf, with systemd's specifiers and paths mapped into `root`.
std::string renderScript(const fs::path& root)
{
    std::istringstream unit(readFile(sourceDir / "rootfs/usr/lib/systemd/system/meldpunt-edge-staff.service"));
    for (std::string line; std::getline(unit, line);) {
        if (!line.starts_with("ExecStartPre=/bin/sh -euc '"))
            continue;
        const auto open = line.find('\'');
        const auto close = line.rfind('\'');
        REQUIRE(close > open);
        std::string script = line.substr(open + 1, close - open - 1);
        replaceAll(script, "$$", "$");
        replaceAll(script, "%t/", (root / "run").string() + "/");
        replaceAll(script, "%d/", (root / "credentials").string() + "/");
        replaceAll(script, "/etc/meldpunt/", (root / "etc").string() + "/");
        replaceAll(script, "/usr/libexec/meldpunt/", (sourceDir / "tools").string() + "/");
        return script;
    }
    FAIL("meldpunt-edge-staff.service has no ExecStartPre=/bin/sh -euc '...' line");
    return {};
}

struct Rendered {
    int exitCode = -1;
    std::string output;
    std::string configuration; // nginx.conf and server-listen.conf together
};

Rendered renderStaffEdge(const std::string& addresses)
{
    ScratchFolder scratch("edge-listen");
    const fs::path root = scratch.path();
    fs::create_directories(root / "run/meldpunt-edge-staff");
    fs::create_directories(root / "credentials");
    fs::copy(sourceDir / "rootfs/etc/meldpunt", root / "etc", fs::copy_options::recursive);
    std::string ini = readFile(root / "etc/edge-staff.ini");
    const std::regex unset(R"((^|\n)addresses =[^\n]*)");
    REQUIRE(std::regex_search(ini, unset));
    ini = std::regex_replace(ini, unset, "$1addresses = " + addresses);
    std::ofstream(root / "etc/edge-staff.ini") << ini;

    const auto result = runCommand({"/bin/sh", "-euc", renderScript(root)}, root / "render.log");
    Rendered rendered{result.exitCode, result.output, {}};
    const fs::path prefix = root / "run/meldpunt-edge-staff";
    if (fs::exists(prefix / "nginx.conf"))
        rendered.configuration = readFile(prefix / "nginx.conf");
    if (fs::exists(prefix / "server-listen.conf"))
        rendered.configuration += readFile(prefix / "server-listen.conf");
    return rendered;
}

// Every listen directive's address and port, as written.
std::vector<std::string> listenValues(const std::string& configuration)
{
    std::vector<std::string> values;
    const std::regex listen(R"((^|\n)\s*listen\s+(\S+))");
    for (auto it = std::sregex_iterator(configuration.begin(), configuration.end(), listen);
         it != std::sregex_iterator(); ++it)
        values.push_back((*it)[2].str());
    return values;
}

} // namespace

TEST_CASE("staff edge listens on configured addresses", "[rootfs][edge]")
{
    const auto rendered = renderStaffEdge("192.168.10.5, fd00:10::5 10.20.0.7");
    INFO(rendered.output);
    REQUIRE(rendered.exitCode == 0);
    const auto values = listenValues(rendered.configuration);
    INFO(rendered.configuration);
    CHECK(values == std::vector<std::string>{"192.168.10.5:8444", "[fd00:10::5]:8444", "10.20.0.7:8444"});
    // No directive names a bare port, a wildcard or the unspecified address.
    for (const auto& value : values) {
        CHECK_FALSE(std::regex_match(value, std::regex(R"([0-9]+)")));
        CHECK(value.find('*') == std::string::npos);
        CHECK_FALSE(value.starts_with("0.0.0.0"));
        CHECK_FALSE(value.starts_with("[::]"));
    }
}

TEST_CASE("staff edge needs an address", "[rootfs][edge]")
{
    const auto rendered = renderStaffEdge("");
    CHECK(rendered.exitCode != 0);
    CHECK_THAT(rendered.output, Catch::Matchers::ContainsSubstring("no staff address is set"));
    CHECK(rendered.configuration.empty());
}

TEST_CASE("staff edge rejects wildcard and malformed addresses", "[rootfs][edge]")
{
    for (const char* wildcard : {"0.0.0.0", "::", "*", "192.168.10.5 [::]"}) {
        const auto rendered = renderStaffEdge(wildcard);
        INFO(wildcard << ": " << rendered.output);
        CHECK(rendered.exitCode != 0);
        CHECK_THAT(rendered.output, Catch::Matchers::ContainsSubstring("would listen on every network"));
        CHECK(rendered.configuration.empty());
    }
    for (const char* malformed : {"staff.example", "192.168.10.256", "192.168.10.5:8444", "fe80::1%eth0"}) {
        const auto rendered = renderStaffEdge(malformed);
        INFO(malformed << ": " << rendered.output);
        CHECK(rendered.exitCode != 0);
        CHECK_THAT(rendered.output, Catch::Matchers::ContainsSubstring("is not an IPv4 or IPv6 address"));
        CHECK(rendered.configuration.empty());
    }
}

TEST_CASE("public edge alone binds port 443", "[rootfs][edge]")
{
    const fs::path units = sourceDir / "rootfs/usr/lib/systemd/system";
    const auto publicUnit = readFile(units / "meldpunt-edge-public.service");
    const auto staffUnit = readFile(units / "meldpunt-edge-staff.service");
    CHECK_THAT(publicUnit, Catch::Matchers::ContainsSubstring(" LISTEN=443 "));
    CHECK_THAT(publicUnit, Catch::Matchers::ContainsSubstring("\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n"));
    // The staff edge has no capability to bind a port under 1024 at all.
    CHECK_THAT(staffUnit, Catch::Matchers::ContainsSubstring("\nCapabilityBoundingSet=\n"));
    CHECK_THAT(staffUnit, !Catch::Matchers::ContainsSubstring("LISTEN=443"));
    CHECK_THAT(staffUnit, Catch::Matchers::ContainsSubstring(" LISTEN=\"$$listen\" "));
}
