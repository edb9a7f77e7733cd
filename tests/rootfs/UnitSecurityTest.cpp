// Checks the installed systemd units, sysusers and tmpfiles snippets as
// they land in a disk image: the build is installed with DESTDIR into a
// scratch root, and systemd's own tools read them from there.
//
// systemd-analyze verify loads each unit with its dependencies and checks
// that every command it runs is an executable file, both inside the root
// given with --root. So the scratch root gets:
//   - a copy of the host's unit folder (sysinit.target, basic.target and
//     the other units every service depends on by default), never
//     replacing an installed Meldpunt unit;
//   - for every command the units run that the install did not provide: a
//     copy of the host's program where the host has it (/usr/sbin/nginx,
//     /bin/sh), or otherwise a placeholder script. Placeholders are made
//     only for the two daemons, and only while the build has not installed
//     the real ones. The test prints a line for each placeholder.

#include "Process.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using meldpunt::test::Process;
using meldpunt::test::readFile;
using meldpunt::test::ScratchFolder;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> daemonUnits = {"meldpuntd.service", "meldpunt-public.service"};
const std::vector<std::string> edgeUnits = {"meldpunt-edge-public.service", "meldpunt-edge-staff.service", "meldpunt-firewall.service"};
const std::vector<std::string> updaterUnits = {"meldpunt-updated.service", "meldpunt-mark-good.service",
    "meldpunt-network.service", "meldpunt-network-discover.service"};
const std::set<std::string> daemonBinaries = {
    "/usr/libexec/meldpunt/meldpuntd",
    "/usr/libexec/meldpunt/meldpunt-public",
};

// The highest exposure systemd-analyze security may report for a unit.
// Its --threshold takes the score times ten.
constexpr double maximumExposure = 2.0;

struct Result {
    int exitCode = -1;
    std::string output;
};

Result run(std::vector<std::string> argv, const fs::path& logFile, std::vector<std::string> environment = {})
{
    fs::remove(logFile);
    Process process(std::move(argv), Process::Options(std::move(environment), logFile));
    const auto status = process.wait(120s);
    Result result;
    result.output = readFile(logFile);
    if (!status)
        FAIL("command did not finish within two minutes; output so far:\n" << result.output);
    if (WIFEXITED(*status))
        result.exitCode = WEXITSTATUS(*status);
    return result;
}

// Returns the program that an Exec*= value runs, without systemd's prefix
// characters.
std::string programOf(std::string value)
{
    const auto first = value.find_first_not_of("-@:+!|");
    if (first == std::string::npos)
        return {};
    value = value.substr(first);
    return value.substr(0, value.find_first_of(" \t"));
}

std::set<std::string> programsRunBy(const fs::path& unitFile)
{
    std::set<std::string> programs;
    std::istringstream lines(readFile(unitFile));
    for (std::string line; std::getline(lines, line);) {
        const auto equals = line.find('=');
        if (line.rfind("Exec", 0) != 0 || equals == std::string::npos)
            continue;
        const auto program = programOf(line.substr(equals + 1));
        if (!program.empty() && program.front() == '/')
            programs.insert(program);
    }
    return programs;
}

class InstalledRoot {
public:
    InstalledRoot()
        : scratch_("rootfs")
        , root_(scratch_.path() / "root")
    {
        fs::create_directories(root_);
        install();
        for (const auto& unit : allUnits())
            REQUIRE(fs::is_regular_file(unitFolder() / unit));
        provideDependencies();
        for (const auto& unit : allUnits())
            for (const auto& program : programsRunBy(unitFolder() / unit))
                provideProgram(program);
    }

    const fs::path& root() const { return root_; }
    fs::path unitFolder() const { return root_ / "usr/lib/systemd/system"; }
    fs::path log(const std::string& name) const { return scratch_.path() / (name + ".log"); }

    static std::vector<std::string> allUnits()
    {
        std::vector<std::string> units = daemonUnits;
        units.insert(units.end(), edgeUnits.begin(), edgeUnits.end());
        units.insert(units.end(), updaterUnits.begin(), updaterUnits.end());
        return units;
    }

private:
    void install()
    {
        const std::vector<std::string> environment = {"DESTDIR=" + root_.string()};
        const std::vector<std::string> command = {MELDPUNT_CMAKE_COMMAND, "--install", MELDPUNT_BINARY_DIR, "--prefix", "/usr"};
        auto result = run(command, log("install"), environment);
        if (result.exitCode != 0) {
            // A build that has not built every target (only the test's own,
            // for example) cannot install in full. The rootfs component
            // needs nothing built, so it installs on its own.
            std::cout << "Full install failed, installing the rootfs component alone:\n"
                      << result.output << '\n';
            auto component = command;
            component.insert(component.end(), {"--component", "rootfs"});
            result = run(component, log("install-rootfs"), environment);
        }
        INFO(result.output);
        REQUIRE(result.exitCode == 0);
    }

    void provideDependencies()
    {
        const fs::path hostUnits = "/usr/lib/systemd/system";
        REQUIRE(fs::is_directory(hostUnits));
        fs::copy(hostUnits, unitFolder(),
                 fs::copy_options::recursive | fs::copy_options::skip_existing | fs::copy_options::copy_symlinks);
    }

    void provideProgram(const std::string& program)
    {
        const fs::path inRoot = root_ / fs::path(program).relative_path();
        if (fs::exists(inRoot))
            return;
        fs::create_directories(inRoot.parent_path());
        if (daemonBinaries.contains(program)) {
            std::cout << "The build has not installed " << program
                      << "; a placeholder script stands in for it in the scratch root.\n";
            std::ofstream(inRoot) << "#!/bin/sh\nexit 1\n";
            fs::permissions(inRoot, fs::perms(0755));
            return;
        }
        INFO("the units run " << program << ", which neither the install nor the host provides");
        REQUIRE(fs::exists(program));
        fs::copy_file(program, inRoot);
    }

    ScratchFolder scratch_;
    fs::path root_;
};

double exposureOf(const std::string& output)
{
    static const std::regex overall(R"(Overall exposure level for \S+: ([0-9]+\.[0-9]+))");
    std::smatch match;
    if (!std::regex_search(output, match, overall))
        return -1;
    return std::stod(match[1].str());
}

} // namespace

TEST_CASE("every unit passes systemd-analyze verify without a warning", "[rootfs]")
{
    InstalledRoot installed;
    for (const auto& unit : InstalledRoot::allUnits()) {
        const auto result = run({"systemd-analyze", "verify", "--root=" + installed.root().string(), unit},
                                installed.log("verify"));
        INFO(unit << ":\n" << result.output);
        CHECK(result.exitCode == 0);
        // verify reports unknown keys and bad values as warnings and still
        // exits with 0, so any output at all is a failure.
        CHECK(result.output.empty());
    }
}

TEST_CASE("every unit scores at or under 2.0 with systemd-analyze security", "[rootfs]")
{
    InstalledRoot installed;
    const auto threshold = std::to_string(static_cast<int>(maximumExposure * 10));
    for (const auto& unit : InstalledRoot::allUnits()) {
        const auto result = run({"systemd-analyze", "security", "--offline=yes", "--root=" + installed.root().string(),
                                 "--threshold=" + threshold, "--no-pager", unit},
                                installed.log("security"));
        const double exposure = exposureOf(result.output);
        std::cout << unit << ": exposure " << exposure << '\n';
        INFO(unit << ":\n" << result.output);
        CHECK(result.exitCode == 0);
        CHECK(exposure >= 0.0);
        CHECK(exposure <= maximumExposure);
    }
}

TEST_CASE("sysusers and tmpfiles create the users and folders with the intended owners and modes", "[rootfs]")
{
    InstalledRoot installed;
    const auto& root = installed.root();
    // Both tools work on the root's own user database, which starts as a
    // copy of the host's so that groups such as tss exist as on Debian.
    fs::create_directories(root / "etc");
    for (const char* file : {"passwd", "group", "shadow", "gshadow"})
        if (fs::exists(fs::path("/etc") / file))
            fs::copy_file(fs::path("/etc") / file, root / "etc" / file, fs::copy_options::overwrite_existing);

    auto result = run({"systemd-sysusers", "--root=" + root.string(), (root / "usr/lib/sysusers.d/meldpunt.conf").string()},
                      installed.log("sysusers"));
    INFO(result.output);
    REQUIRE(result.exitCode == 0);

    const auto groups = readFile(root / "etc/group");
    auto membersOf = [&groups](const std::string& group) {
        std::smatch match;
        const std::regex line("(^|\n)" + group + ":[^:]*:[0-9]+:([^\n]*)");
        return std::regex_search(groups, match, line) ? "," + match[2].str() + "," : std::string();
    };
    CHECK_THAT(membersOf("meldpunt-spool"), Catch::Matchers::ContainsSubstring(",meldpunt-public,")
                                                && Catch::Matchers::ContainsSubstring(",meldpuntd,"));
    CHECK_THAT(membersOf("meldpunt-edge-public"), Catch::Matchers::ContainsSubstring(",meldpunt-public,"));
    CHECK_THAT(membersOf("meldpunt-edge-staff"), Catch::Matchers::ContainsSubstring(",meldpuntd,"));
    CHECK_THAT(membersOf("tss"), Catch::Matchers::ContainsSubstring(",meldpuntd,"));
    CHECK_THAT(membersOf("tss"), !Catch::Matchers::ContainsSubstring(",meldpunt-public,"));
    CHECK_THAT(membersOf("meldpunt-public"), !Catch::Matchers::ContainsSubstring("edge"));

    result = run({"systemd-tmpfiles", "--root=" + root.string(), "--create",
                  (root / "usr/lib/tmpfiles.d/meldpunt.conf").string()},
                 installed.log("tmpfiles"));
    INFO(result.output);
    REQUIRE(result.exitCode == 0);

    const auto passwd = readFile(root / "etc/passwd");
    auto idOf = [](const std::string& database, const std::string& name) {
        std::smatch match;
        const std::regex line("(^|\n)" + name + ":[^:]*:([0-9]+):");
        REQUIRE(std::regex_search(database, match, line));
        return static_cast<unsigned>(std::stoul(match[2].str()));
    };
    struct Expected {
        const char* path;
        unsigned mode;
        const char* user;
        const char* group;
    };
    const Expected folders[] = {
        {"var/lib/meldpunt/state", 0700, "meldpuntd", "meldpuntd"},
        {"var/lib/meldpunt/spool", 02770, "meldpunt-public", "meldpunt-spool"},
        {"var/lib/meldpunt/spool/quarantine", 0700, "meldpuntd", "meldpuntd"},
        {"var/lib/meldpunt/backups", 0700, "meldpuntd", "meldpuntd"},
        {"var/lib/meldpunt/publish", 02750, "meldpuntd", "meldpunt-public"},
        {"var/lib/meldpunt/drafts", 0700, "meldpunt-public", "meldpunt-public"},
        {"var/lib/meldpunt/spool/held", 02700, "meldpunt-public", "meldpunt-spool"},
        {"var/lib/meldpunt/updates", 0700, "meldpuntd", "meldpuntd"},
        {"run/meldpunt-public", 0750, "meldpunt-public", "meldpunt-edge-public"},
        {"run/meldpuntd", 0750, "meldpuntd", "meldpunt-edge-staff"},
    };
    for (const auto& folder : folders) {
        struct stat status {};
        INFO(folder.path);
        REQUIRE(::stat((root / folder.path).c_str(), &status) == 0);
        CHECK(S_ISDIR(status.st_mode));
        CHECK((status.st_mode & 07777) == folder.mode);
        CHECK(status.st_uid == idOf(passwd, folder.user));
        CHECK(status.st_gid == idOf(groups, folder.group));
    }
}

TEST_CASE("meldpuntd reaches no address that a drop-in does not allow", "[rootfs]")
{
    InstalledRoot installed;
    const std::string unit
        = readFile(installed.root() / "usr/lib/systemd/system/meldpuntd.service");
    std::set<std::string> settings;
    std::istringstream in(unit);
    for (std::string line; std::getline(in, line);)
        if (!line.empty() && line[0] != '#')
            settings.insert(line);
    // The outbox needs TCP to the partners, and nothing else of the network.
    CHECK(settings.contains("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"));
    CHECK(settings.contains("IPAddressDeny=any"));
    CHECK_FALSE(std::any_of(settings.begin(), settings.end(),
        [](const std::string& line) { return line.starts_with("IPAddressAllow="); }));
    CHECK_FALSE(std::any_of(settings.begin(), settings.end(),
        [](const std::string& line) { return line.find("AF_PACKET") != std::string::npos; }));
}

TEST_CASE("meldpuntd reaches TPM through DeviceAllow", "[rootfs]")
{
    InstalledRoot installed;
    const std::string unit = readFile(installed.root() / "usr/lib/systemd/system/meldpuntd.service");
    std::set<std::string> settings;
    std::istringstream in(unit);
    for (std::string line; std::getline(in, line);)
        if (!line.empty() && line[0] != '#')
            settings.insert(line);
    // PrivateDevices= would hide /dev/tpmrm0; the device cgroup admits it
    // and nothing else beyond the pseudo-devices.
    CHECK(settings.contains("DevicePolicy=closed"));
    CHECK(settings.contains("DeviceAllow=/dev/tpmrm0 rw"));
    CHECK(std::count_if(settings.begin(), settings.end(),
              [](const std::string& line) { return line.starts_with("DeviceAllow="); })
        == 1);
    CHECK_FALSE(std::any_of(settings.begin(), settings.end(),
        [](const std::string& line) { return line.starts_with("PrivateDevices="); }));
}

TEST_CASE("slot units can read kernel command line", "[rootfs]")
{
    // The updater and the boot health check learn the booted slot from
    // /proc/cmdline, which ProcSubset=pid hides.
    InstalledRoot installed;
    for (const char* name : {"meldpunt-updated.service", "meldpunt-mark-good.service"}) {
        INFO(name);
        std::istringstream in(readFile(installed.root() / "usr/lib/systemd/system" / name));
        bool hidesProc = false;
        for (std::string line; std::getline(in, line);)
            hidesProc = hidesProc || line.starts_with("ProcSubset=pid");
        CHECK_FALSE(hidesProc);
    }
}

TEST_CASE("presets enable Meldpunt and disable SSH", "[rootfs]")
{
    InstalledRoot installed;
    const auto& root = installed.root();
    // Units that the image may or may not carry get a stand-in, so that the
    // preset has something to enable or disable.
    for (const char* unit : {"ssh.service", "tor.service", "nftables.service"}) {
        const auto file = installed.unitFolder() / unit;
        if (!fs::exists(file))
            std::ofstream(file) << "[Service]\nExecStart=/bin/true\n\n[Install]\nWantedBy=multi-user.target\n";
    }
    const std::vector<std::string> enabled = {"meldpunt-firewall.service", "meldpuntd.service",
        "meldpunt-public.service", "meldpunt-edge-public.service", "meldpunt-edge-staff.service",
        "meldpunt-updated.service", "meldpunt-mark-good.service", "systemd-timesyncd.service",
        "meldpunt-network.service", "meldpunt-network-discover.service"};
    const std::vector<std::string> disabled = {"ssh.service", "tor.service", "nftables.service"};
    std::vector<std::string> command = {"systemctl", "--root=" + root.string(), "preset"};
    command.insert(command.end(), enabled.begin(), enabled.end());
    command.insert(command.end(), disabled.begin(), disabled.end());
    auto result = run(command, installed.log("preset"));
    INFO(result.output);
    REQUIRE(result.exitCode == 0);

    auto state = [&](const std::string& unit) {
        auto status = run({"systemctl", "--root=" + root.string(), "is-enabled", unit}, installed.log("is-enabled"));
        while (!status.output.empty() && status.output.back() == '\n')
            status.output.pop_back();
        return status.output;
    };
    for (const auto& unit : enabled) {
        INFO(unit);
        CHECK(state(unit) == "enabled");
    }
    for (const auto& unit : disabled) {
        INFO(unit);
        CHECK(state(unit) == "disabled");
    }
    // No swap, whatever fstab or the partition table offers.
    CHECK(state("swap.target") == "masked");
}
