#include "Publisher.h"
#include "Process.h"

#include "IntakeKeyFile.h"

#include <catch2/catch_test_macros.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

using meldpunt::IntakeKeySource;
using meldpunt::parseIntakeKey;
using meldpunt::storage::Publisher;
using meldpunt::test::readFile;
using meldpunt::test::ScratchFolder;

namespace crypto = meldpunt::crypto;
namespace spool = meldpunt::spool;
namespace fs = std::filesystem;

namespace {

spool::IntakePublicKey randomKey()
{
    spool::IntakePublicKey key;
    const auto id = crypto::randomBytes(key.id.size());
    std::copy(id.begin(), id.end(), key.id.begin());
    key.key = crypto::X25519KeyPair::generate().publicKey;
    return key;
}

std::vector<std::string> folderNames(const fs::path& folder)
{
    std::vector<std::string> names;
    for (const auto& item : fs::directory_iterator(folder))
        names.push_back(item.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

} // namespace

TEST_CASE("Publisher swaps the current version", "[publisher]")
{
    ScratchFolder scratch("publisher");
    Publisher publisher(scratch.path());
    const fs::path current = scratch.path() / "current";

    SECTION("Publishing creates current linked to a version folder with the key")
    {
        const auto key = randomKey();
        publisher.publish(key, "2026-01-01T00:00:00Z");
        REQUIRE(fs::is_symlink(current));
        const fs::path target = fs::read_symlink(current);
        CHECK(target.is_relative());
        CHECK(target.string().starts_with("v-"));
        CHECK(fs::is_directory(scratch.path() / target));
        const auto published = parseIntakeKey(readFile(current / "intake.json"));
        CHECK(published.id == key.id);
        CHECK(published.key == key.key);
        CHECK(folderNames(scratch.path()) == std::vector<std::string>{"current", target.string()});
    }

    SECTION("Retention periods, once set, are published beside the key")
    {
        publisher.publish(randomKey(), "t0");
        CHECK_FALSE(meldpunt::readPublishedRetention(scratch.path()).has_value());
        meldpunt::RetentionPeriods periods;
        periods.reporterMessagesDays = 42;
        publisher.setRetention(periods);
        publisher.publish(randomKey(), "t1");
        const auto published = meldpunt::readPublishedRetention(scratch.path());
        REQUIRE(published.has_value());
        CHECK(published->reporterMessagesDays == 42);
        struct stat status {};
        REQUIRE(::stat((current / "retention.json").c_str(), &status) == 0);
        CHECK((status.st_mode & 0777) == 0640);
    }

    SECTION("The published key file is readable by the group only")
    {
        publisher.publish(randomKey(), "t");
        struct stat status {};
        REQUIRE(::stat((current / "intake.json").c_str(), &status) == 0);
        CHECK((status.st_mode & 0777) == 0640);
        REQUIRE(::stat(current.c_str(), &status) == 0);
        CHECK((status.st_mode & 0777) == 0750);
    }

    SECTION("Publishing again replaces the version and removes the old one")
    {
        publisher.publish(randomKey(), "t1");
        const fs::path first = fs::read_symlink(current);
        const auto second = randomKey();
        publisher.publish(second, "t2");
        const fs::path target = fs::read_symlink(current);
        CHECK(target != first);
        CHECK_FALSE(fs::exists(scratch.path() / first));
        CHECK(parseIntakeKey(readFile(current / "intake.json")).id == second.id);
        CHECK(folderNames(scratch.path()) == std::vector<std::string>{"current", target.string()});
    }

    SECTION("No staging folder or temporary link remains")
    {
        for (int i = 0; i < 3; ++i)
            publisher.publish(randomKey(), "t");
        for (const auto& name : folderNames(scratch.path())) {
            INFO(name);
            CHECK_FALSE(name.starts_with("."));
        }
        for (const auto& name : folderNames(current)) {
            INFO(name);
            CHECK(name == "intake.json");
        }
    }

    SECTION("Leftovers of an interrupted publication are removed")
    {
        fs::create_directory(scratch.path() / ".v-interrupted");
        fs::create_directory(scratch.path() / "v-old");
        fs::create_symlink("v-old", scratch.path() / ".current-v-old");
        publisher.publish(randomKey(), "t");
        CHECK(folderNames(scratch.path()).size() == 2);
    }

    SECTION("Files that are not versions are left alone")
    {
        fs::create_directory(scratch.path() / "other");
        publisher.publish(randomKey(), "t");
        CHECK(fs::exists(scratch.path() / "other"));
    }
}

TEST_CASE("Intake key source follows publications", "[publisher][intakekey]")
{
    ScratchFolder scratch("publisher-source");
    Publisher publisher(scratch.path());
    IntakeKeySource source(scratch.path());

    SECTION("There is no key before the first publication")
    {
        CHECK_FALSE(source.current().has_value());
    }

    SECTION("The key appears after publication and changes with the next")
    {
        const auto first = randomKey();
        publisher.publish(first, "t1");
        auto current = source.current();
        REQUIRE(current.has_value());
        CHECK(current->id == first.id);
        CHECK(current->key == first.key);

        const auto second = randomKey();
        publisher.publish(second, "t2");
        current = source.current();
        REQUIRE(current.has_value());
        CHECK(current->id == second.id);
        CHECK(current->key == second.key);
    }

    SECTION("The same version is read again from the cache")
    {
        const auto key = randomKey();
        publisher.publish(key, "t");
        REQUIRE(source.current().has_value());
        const auto again = source.current();
        REQUIRE(again.has_value());
        CHECK(again->id == key.id);
    }
}
