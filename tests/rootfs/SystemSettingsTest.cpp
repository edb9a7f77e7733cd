// Checks the appliance's kernel, journal, clock and Tor settings with the
// programs that read them: each sysctl key exists in this kernel and the
// network keys take their values in a network namespace made for the
// test, journald and timesyncd know every key of the drop-ins, and tor
// accepts the onion service's configuration without connecting anywhere.

#include "RunCommand.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using meldpunt::test::readFile;
using meldpunt::test::runCommand;
using meldpunt::test::ScratchFolder;

namespace fs = std::filesystem;

namespace {

const fs::path sourceDir = MELDPUNT_SOURCE_DIR;

struct Setting {
    std::string key;
    std::string value;
    bool optional = false; // written with a leading '-'
};

std::string trim(const std::string& text)
{
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string::npos)
        return {};
    return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// Reads KEY = VALUE lines, skipping comments and [Section] headers.
std::vector<Setting> readSettings(const fs::path& file)
{
    std::vector<Setting> settings;
    std::istringstream lines(readFile(file));
    for (std::string line; std::getline(lines, line);) {
        line = trim(line);
        if (line.empty() || line[0] == '#' || line[0] == ';' || line[0] == '[')
            continue;
        const auto equals = line.find('=');
        REQUIRE(equals != std::string::npos);
        Setting setting{trim(line.substr(0, equals)), trim(line.substr(equals + 1))};
        if (setting.key.starts_with('-')) {
            setting.optional = true;
            setting.key.erase(0, 1);
        }
        settings.push_back(setting);
    }
    return settings;
}

fs::path procPath(const std::string& key)
{
    std::string path = key;
    std::replace(path.begin(), path.end(), '.', '/');
    return fs::path("/proc/sys") / path;
}

} // namespace

TEST_CASE("sysctl keys exist in this kernel", "[rootfs][sysctl]")
{
    const auto settings = readSettings(sourceDir / "rootfs/usr/lib/sysctl.d/60-meldpunt.conf");
    REQUIRE(settings.size() > 30);
    for (const auto& setting : settings) {
        INFO(setting.key);
        CHECK_FALSE(setting.value.empty());
        // A key this kernel lacks must be marked optional, or systemd-sysctl
        // would fail the boot's sysctl step over it.
        if (!setting.optional)
            CHECK(fs::exists(procPath(setting.key)));
    }
}

TEST_CASE("network sysctl values apply in namespace", "[rootfs][sysctl]")
{
    if (::geteuid() != 0)
        SKIP("creating a network namespace takes root");
    ScratchFolder scratch("sysctl");
    // Only the per-namespace IPv4 and IPv6 keys are written, in a network
    // namespace of their own, so the host's settings stay as they are.
    std::string script = "set -eu\n";
    std::vector<Setting> written;
    for (const auto& setting : readSettings(sourceDir / "rootfs/usr/lib/sysctl.d/60-meldpunt.conf")) {
        if (!setting.key.starts_with("net.ipv4.") && !setting.key.starts_with("net.ipv6."))
            continue;
        script += "sysctl -q -w '" + setting.key + "=" + setting.value + "'\n";
        script += "printf '%s %s\\n' '" + setting.key + "' \"$(sysctl -n '" + setting.key + "')\"\n";
        written.push_back(setting);
    }
    REQUIRE(written.size() > 15);
    const auto result = runCommand({"unshare", "--net", "/bin/sh", "-c", script}, scratch.path() / "sysctl.log");
    INFO(result.output);
    REQUIRE(result.exitCode == 0);
    for (const auto& setting : written)
        CHECK_THAT(result.output, Catch::Matchers::ContainsSubstring(setting.key + " " + setting.value + "\n"));
}

TEST_CASE("journald and timesyncd know every key", "[rootfs][journald]")
{
    // The host's own journald.conf and timesyncd.conf list every key that
    // its systemd version knows, commented out with its default.
    const struct {
        const char* dropIn;
        const char* hostFile;
    } files[] = {
        {"rootfs/usr/lib/systemd/journald.conf.d/60-meldpunt.conf", "/etc/systemd/journald.conf"},
        {"rootfs/usr/lib/systemd/timesyncd.conf.d/60-meldpunt.conf", "/etc/systemd/timesyncd.conf"},
    };
    for (const auto& file : files) {
        const auto known = readFile(file.hostFile);
        const auto settings = readSettings(sourceDir / file.dropIn);
        REQUIRE_FALSE(settings.empty());
        for (const auto& setting : settings) {
            INFO(file.dropIn << ": " << setting.key);
            CHECK_FALSE(setting.optional);
            CHECK_THAT(known, Catch::Matchers::ContainsSubstring("\n#" + setting.key + "="));
        }
    }
    const auto journal = readFile(sourceDir / "rootfs/usr/lib/systemd/journald.conf.d/60-meldpunt.conf");
    CHECK_THAT(journal, Catch::Matchers::ContainsSubstring("\nStorage=persistent\n"));
    CHECK_THAT(journal, Catch::Matchers::ContainsSubstring("\nSystemMaxUse="));
}

TEST_CASE("tor accepts the onion service configuration", "[rootfs][tor]")
{
    ScratchFolder scratch("tor");
    // The service folder moves into the scratch folder, and DisableNetwork
    // keeps tor off the network even if it went past checking.
    std::string onion = readFile(sourceDir / "rootfs/etc/meldpunt/tor-onion.conf");
    const std::string serviceFolder = "HiddenServiceDir /var/lib/tor/meldpunt-onion/";
    const auto at = onion.find(serviceFolder);
    REQUIRE(at != std::string::npos);
    onion.replace(at, serviceFolder.size(), "HiddenServiceDir " + (scratch.path() / "onion").string() + "/");
    std::ofstream(scratch.path() / "onion.conf") << onion;
    std::ofstream(scratch.path() / "torrc") << "DataDirectory " << (scratch.path() / "data").string() << "\n"
                                            << "DisableNetwork 1\n"
                                            << "%include " << (scratch.path() / "onion.conf").string() << "\n";
    const auto result = runCommand({"tor", "--verify-config", "--defaults-torrc", "/dev/null", "-f",
                                       (scratch.path() / "torrc").string()},
        scratch.path() / "tor.log");
    INFO(result.output);
    CHECK(result.exitCode == 0);
    CHECK_THAT(result.output, Catch::Matchers::ContainsSubstring("Configuration was valid"));
    CHECK_THAT(onion, Catch::Matchers::ContainsSubstring("\nHiddenServicePort 443 127.0.0.1:443\n"));
    CHECK_THAT(onion, Catch::Matchers::ContainsSubstring("\nSocksPort 0\n"));
}
