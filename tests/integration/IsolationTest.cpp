// The public process faces strangers: it must not be able to read a
// stored report or the key, and must not even link the code that could.

#include "Appliance.h"
#include "Reports.h"

#include <catch2/catch_test_macros.hpp>

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace meldpunt::test;
namespace fs = std::filesystem;

namespace {

// Runs `action` in a child process under `uid` with the given groups and
// returns the errno it reports (0 for success).
template <typename Action>
int errnoAs(unsigned uid, const std::vector<gid_t>& groups, Action action)
{
    const pid_t child = ::fork();
    if (child == 0) {
        if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(uid) != 0 || ::setuid(uid) != 0)
            _exit(255);
        _exit(action());
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 254;
}

int openError(const fs::path& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd >= 0) {
        ::close(fd);
        return 0;
    }
    return errno;
}

int connectError(const fs::path& path)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
    const int result = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    const int error = result == 0 ? 0 : errno;
    ::close(fd);
    return error;
}

std::string dynamicSection(const fs::path& binary)
{
    ScratchFolder scratch("readelf");
    Process readelf({"readelf", "-d", binary.string()}, {{}, scratch.path() / "out", {}});
    readelf.wait(std::chrono::seconds(30));
    return readFile(scratch.path() / "out");
}

std::string linkedLibraries(const fs::path& binary)
{
    ScratchFolder scratch("ldd");
    Process ldd({"ldd", binary.string()}, {{}, scratch.path() / "out", {}});
    ldd.wait(std::chrono::seconds(30));
    return readFile(scratch.path() / "out");
}

} // namespace

TEST_CASE("Public process cannot read stored data", "[core]")
{
    if (!Appliance::runsAsSeparateUsers())
        SKIP("the daemons run under separate users only when the tests run as root");
    Appliance appliance("isolation");
    appliance.startAll();
    REQUIRE(appliance.publicClient().post("/en/report", formBody(validReport("private"))).status == 200);
    REQUIRE(appliance.waitForEmptySpool());
    const std::vector<gid_t> publicGroups = {Appliance::kSpoolGid, Appliance::kEdgePublicUid};

    CHECK(errnoAs(Appliance::kPublicUid, publicGroups, [&] { return openError(appliance.databaseFile()); }) == EACCES);
    CHECK(errnoAs(Appliance::kPublicUid, publicGroups, [&] { return openError(appliance.sealedKeyFile()); }) == EACCES);
    CHECK(errnoAs(Appliance::kPublicUid, publicGroups, [&] { return openError(appliance.quarantineFolder()); }) == EACCES);

    SECTION("the public process reads the published intake key")
    {
        CHECK(errnoAs(Appliance::kPublicUid, publicGroups,
                  [&] { return openError(appliance.publishFolder() / "current" / "intake.json"); })
            == 0);
    }
    SECTION("each socket admits only its own edge")
    {
        const fs::path publicSocket = appliance.publicSocket();
        const fs::path staffSocket = appliance.staffSocket();
        CHECK((fs::status(publicSocket).permissions() & fs::perms::all) == fs::perms(0660));
        CHECK(errnoAs(Appliance::kEdgePublicUid, {}, [&] { return connectError(publicSocket); }) == 0);
        CHECK(errnoAs(Appliance::kEdgeStaffUid, {}, [&] { return connectError(publicSocket); }) == EACCES);
        CHECK(errnoAs(Appliance::kEdgeStaffUid, {}, [&] { return connectError(staffSocket); }) == 0);
        CHECK(errnoAs(Appliance::kEdgePublicUid, {}, [&] { return connectError(staffSocket); }) == EACCES);
        CHECK(errnoAs(Appliance::kPublicUid, publicGroups, [&] { return connectError(staffSocket); }) == EACCES);
    }
}

TEST_CASE("Public daemon links no key or database code", "[core]")
{
    const fs::path binaries = MELDPUNT_BINARY_DIR;
    const std::string publicDynamic = dynamicSection(binaries / "daemon/public/meldpunt-public");
    REQUIRE(publicDynamic.find("NEEDED") != std::string::npos);
    CHECK(publicDynamic.find("sqlcipher") == std::string::npos);
    CHECK(publicDynamic.find("libtss2") == std::string::npos);
    CHECK(publicDynamic.find("sqlite") == std::string::npos);

    const std::string publicAll = linkedLibraries(binaries / "daemon/public/meldpunt-public");
    CHECK(publicAll.find("sqlcipher") == std::string::npos);
    CHECK(publicAll.find("libtss2") == std::string::npos);
    CHECK(publicAll.find("libsqlite3") == std::string::npos);

    SECTION("meldpuntd links SQLCipher and no second SQLite")
    {
        const std::string daemonAll = linkedLibraries(binaries / "daemon/meldpuntd/meldpuntd");
        CHECK(daemonAll.find("libsqlcipher") != std::string::npos);
        CHECK(daemonAll.find("libsqlite3") == std::string::npos);
        CHECK(daemonAll.find("libPocoDataSQLite") == std::string::npos);
    }
}
