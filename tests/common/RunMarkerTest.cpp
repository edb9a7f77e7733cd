#include "RunMarker.h"
#include "Process.h"
#include "Spool.h"

#include <catch2/catch_test_macros.hpp>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>

using meldpunt::service::lastUncleanStart;
using meldpunt::service::RunMarker;
using meldpunt::test::ScratchFolder;

namespace fs = std::filesystem;

namespace {

const RunMarker::TimePoint kMonday = RunMarker::TimePoint(std::chrono::seconds(1796457600));

unsigned modeOf(const fs::path& path)
{
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    return info.st_mode & 07777;
}

} // namespace

TEST_CASE("A clean stop leaves no restart record", "[core]")
{
    ScratchFolder scratch("run-marker-clean");
    RunMarker marker(scratch.path(), "meldpunt-public");
    CHECK_FALSE(marker.start(kMonday));
    CHECK(fs::exists(marker.markerPath()));
    marker.stop();
    CHECK_FALSE(fs::exists(marker.markerPath()));
    CHECK_FALSE(marker.start(kMonday + std::chrono::minutes(5)));
    CHECK_FALSE(fs::exists(marker.recordPath()));
    CHECK_FALSE(lastUncleanStart(scratch.path(), "meldpunt-public"));
}

TEST_CASE("A start after an unclean stop records its time", "[core]")
{
    ScratchFolder scratch("run-marker-unclean");
    RunMarker first(scratch.path(), "meldpunt-public");
    CHECK_FALSE(first.start(kMonday));
    // No stop(): the process was killed.
    const auto restart = kMonday + std::chrono::seconds(32);
    CHECK(RunMarker(scratch.path(), "meldpunt-public").start(restart));
    CHECK(lastUncleanStart(scratch.path(), "meldpunt-public") == restart);
    // Each daemon has its own record.
    CHECK_FALSE(lastUncleanStart(scratch.path(), "meldpuntd"));

    SECTION("the files are readable by the folder's group only")
    {
        CHECK(modeOf(first.markerPath()) == 0640);
        CHECK(modeOf(first.recordPath()) == 0640);
    }
    SECTION("a later clean run keeps the record of the last unclean stop")
    {
        first.stop();
        CHECK_FALSE(first.start(restart + std::chrono::hours(1)));
        CHECK(lastUncleanStart(scratch.path(), "meldpunt-public") == restart);
    }
    SECTION("an unreadable record counts as none")
    {
        std::ofstream(first.recordPath(), std::ios::trunc) << "yesterday\n";
        CHECK_FALSE(lastUncleanStart(scratch.path(), "meldpunt-public"));
        std::ofstream(first.recordPath(), std::ios::trunc) << "-5\n";
        CHECK_FALSE(lastUncleanStart(scratch.path(), "meldpunt-public"));
    }
}

TEST_CASE("Run markers in the spool are not spool entries", "[core]")
{
    ScratchFolder scratch("run-marker-spool");
    RunMarker marker(scratch.path(), "meldpunt-public");
    marker.start(kMonday);
    marker.start(kMonday + std::chrono::seconds(1));
    REQUIRE(fs::exists(marker.recordPath()));
    CHECK(meldpunt::spool::listEntries(scratch.path()).empty());
}
