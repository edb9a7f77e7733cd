#include "BootEntries.h"

#include "Process.h"

#include <catch2/catch_test_macros.hpp>

#include <fstream>

namespace fs = std::filesystem;
using namespace meldpunt::test;
using namespace meldpunt::updater;

TEST_CASE("boot entries follow systemd-boot's counting names", "[updater]")
{
    SECTION("names with and without counters parse")
    {
        const auto counted = parseBootEntryName("meldpunt-000012-b+2-1.conf");
        REQUIRE(counted);
        CHECK(counted->generation == 12);
        CHECK(counted->slot == Slot::B);
        CHECK(counted->triesLeft == 2u);
        CHECK(counted->triesDone == 1u);
        const auto good = parseBootEntryName("meldpunt-000003-a.conf");
        REQUIRE(good);
        CHECK_FALSE(good->triesLeft);
        CHECK_FALSE(parseBootEntryName("meldpunt-000003-c.conf"));
        CHECK_FALSE(parseBootEntryName("meldpunt-00003-a.conf"));
        CHECK_FALSE(parseBootEntryName("meldpunt-000003-a+x.conf"));
        CHECK_FALSE(parseBootEntryName("debian.conf"));
    }
    SECTION("a new entry outranks the old ones and marking it good drops its counter")
    {
        ScratchFolder esp("boot-entries");
        BootEntries entries(esp.path());
        fs::create_directories(entries.entriesFolder());
        std::ofstream(entries.entriesFolder() / "meldpunt-000001-a.conf") << "title old\n";
        std::ofstream(entries.entriesFolder() / "other-os.conf") << "title other\n";
        const BootEntry added = entries.addCounted(Slot::B, "1.2.0", 3);
        CHECK(added.file.filename() == "meldpunt-000002-b+3.conf");
        CHECK(entries.list().front().slot == Slot::B);
        const BootEntry good = entries.markGood(added);
        CHECK(good.file.filename() == "meldpunt-000002-b.conf");
        CHECK(fs::exists(good.file));
        entries.removeSlot(Slot::B);
        CHECK(entries.list().size() == 1);
        CHECK(fs::exists(entries.entriesFolder() / "other-os.conf"));
    }
    SECTION("loader.conf keeps its other lines and gets one default")
    {
        ScratchFolder esp("loader-conf");
        BootEntries entries(esp.path());
        fs::create_directories(entries.loaderConf().parent_path());
        std::ofstream(entries.loaderConf()) << "timeout 5\ndefault debian-*\neditor no\n";
        entries.ensureLoaderDefault();
        std::ifstream in(entries.loaderConf());
        const std::string text(
            (std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        CHECK(text == "timeout 5\neditor no\ndefault meldpunt-*\n");
        entries.ensureLoaderDefault();
        std::ifstream again(entries.loaderConf());
        CHECK(std::string((std::istreambuf_iterator<char>(again)),
                  std::istreambuf_iterator<char>()) == text);
    }
}
