// The updater's side of the setup page's network step: it checks the
// settings again, whatever meldpuntd sent, stores them in one rename and
// runs the apply command, reporting a failed apply apart from a rejection.

#include "NetworkInstaller.h"
#include "Process.h"
#include "TestData.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace meldpunt;
using Catch::Matchers::ContainsSubstring;

namespace {

std::string fileText(const fs::path& path)
{
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// An apply command that records its run, or fails.
updater::UpdaterConfig configIn(const fs::path& root, bool applyFails)
{
    updater::UpdaterConfig config;
    config.networkSettingsFile = root / "network/network.ini";
    const fs::path script = root / "apply";
    std::ofstream(script) << "#!/bin/sh\ncp \"$1\" '" << (root / "applied.ini").string() << "'\n"
                          << (applyFails ? "exit 3\n" : "");
    fs::permissions(script, fs::perms(0755));
    config.networkApplyCommand = {script.string(), config.networkSettingsFile.string()};
    return config;
}

network::NetworkForm validForm()
{
    return {"static", "192.0.2.10", "24", "192.0.2.1", "192.0.2.1", "192.0.2.10", "192.0.2.0/24"};
}

} // namespace

TEST_CASE("Updater stores and applies network settings", "[updater][network]")
{
    test::ScratchFolder scratch("network-installer");
    const auto config = configIn(scratch.path(), false);
    const auto settings = updater::applyNetworkSettings(config, validForm());
    CHECK(settings.staffAddress == "192.0.2.10");
    const std::string stored = fileText(config.networkSettingsFile);
    CHECK_THAT(stored, ContainsSubstring("addressing = static\naddress = 192.0.2.10/24\n"));
    CHECK(fileText(scratch.path() / "applied.ini") == stored);
    struct stat info {};
    REQUIRE(::stat(config.networkSettingsFile.c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0644);

    SECTION("the staff address is not checked against the updater's own network")
    {
        network::NetworkForm form = validForm();
        form.addressing = "dhcp";
        form.staffAddress = "192.0.2.77";
        CHECK_NOTHROW(updater::applyNetworkSettings(config, form));
        CHECK_THAT(fileText(config.networkSettingsFile), ContainsSubstring("staff_address = 192.0.2.77\n"));
    }
}

TEST_CASE("Updater rejects hostile network settings", "[updater][network]")
{
    test::ScratchFolder scratch("network-installer-hostile");
    const auto config = configIn(scratch.path(), false);
    for (const auto& hostile : test::hostileInputs()) {
        for (std::string network::NetworkForm::*field :
            {&network::NetworkForm::addressing, &network::NetworkForm::address, &network::NetworkForm::prefixLength,
                &network::NetworkForm::gateway, &network::NetworkForm::dnsServers, &network::NetworkForm::staffAddress,
                &network::NetworkForm::staffLan}) {
            network::NetworkForm form = validForm();
            form.*field = hostile;
            INFO(hostile);
            CHECK_THROWS_AS(updater::applyNetworkSettings(config, form), updater::NetworkRejectedError);
        }
    }
    network::NetworkForm outside = validForm();
    outside.gateway = "198.51.100.1";
    CHECK_THROWS_WITH(updater::applyNetworkSettings(config, outside),
        ContainsSubstring("is outside the box's network 192.0.2.0/24"));
    CHECK_FALSE(fs::exists(config.networkSettingsFile));
    CHECK_FALSE(fs::exists(scratch.path() / "applied.ini"));
}

TEST_CASE("Updater reports a failed apply after storing", "[updater][network]")
{
    test::ScratchFolder scratch("network-installer-apply");
    const auto config = configIn(scratch.path(), true);
    CHECK_THROWS_AS(updater::applyNetworkSettings(config, validForm()), updater::NetworkApplyError);
    CHECK_THROWS_WITH(updater::applyNetworkSettings(config, validForm()), ContainsSubstring("They apply at the next boot"));
    CHECK(fs::exists(config.networkSettingsFile));
}
