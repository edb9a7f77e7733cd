#include "SealedKeyFile.h"
#include "Process.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

using Catch::Matchers::ContainsSubstring;
using meldpunt::test::readFile;
using meldpunt::test::ScratchFolder;
using meldpunt::tpm::PcrSelection;
using meldpunt::tpm::SealedKeyFile;
using meldpunt::tpm::SealedKeyFileError;

namespace fs = std::filesystem;

namespace {

SealedKeyFile sampleFile()
{
    SealedKeyFile file;
    file.key.publicArea = { 0x00, 0x04, 0x00, 0x08, 0xFF, 0x10 };
    file.key.privateArea = { 0x00, 0x03, 0x01, 0x02, 0x03, 0x00, 0x7F };
    file.key.pcrs = PcrSelection::parse("sha256:0,2,7");
    file.databaseId = "6f1c2a4e-8d3b-4f5a-9c7e-1b2d3e4f5a6b";
    file.databaseFile = "meldpunt.db";
    return file;
}

void writeText(const fs::path& path, const std::string& text)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

// Returns the file content with the first occurrence of `from` replaced.
std::string replaced(std::string text, const std::string& from, const std::string& to)
{
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    return text;
}

std::string readError(const fs::path& path)
{
    try {
        SealedKeyFile::read(path);
    } catch (const SealedKeyFileError& error) {
        return error.what();
    }
    FAIL("SealedKeyFile::read accepted " << path);
    return {};
}

} // namespace

TEST_CASE("SealedKeyFile round trip", "[tpm][file]")
{
    ScratchFolder folder("sealed-key-file");
    const fs::path path = folder.path() / "database.key";
    const SealedKeyFile original = sampleFile();

    SECTION("read returns what writeAtomically wrote")
    {
        original.writeAtomically(path);
        const SealedKeyFile read = SealedKeyFile::read(path);
        CHECK(read.key.publicArea == original.key.publicArea);
        CHECK(read.key.privateArea == original.key.privateArea);
        CHECK(read.key.pcrs == original.key.pcrs);
        CHECK(read.databaseId == original.databaseId);
        CHECK(read.databaseFile == original.databaseFile);
    }

    SECTION("the file has mode 0600 whatever the umask")
    {
        const mode_t previous = umask(0);
        original.writeAtomically(path);
        umask(previous);
        struct stat status { };
        REQUIRE(stat(path.c_str(), &status) == 0);
        CHECK((status.st_mode & 07777) == 0600);
    }

    SECTION("a second write replaces the file and leaves no temporary file")
    {
        original.writeAtomically(path);
        SealedKeyFile changed = original;
        changed.databaseFile = "other.db";
        changed.writeAtomically(path);
        CHECK(SealedKeyFile::read(path).databaseFile == "other.db");
        CHECK(std::distance(fs::directory_iterator(folder.path()), fs::directory_iterator()) == 1);
    }

    SECTION("a missing folder gives a system_error naming the file")
    {
        const fs::path missing = folder.path() / "missing" / "database.key";
        try {
            original.writeAtomically(missing);
            FAIL("writeAtomically wrote into a missing folder");
        } catch (const std::system_error& error) {
            CHECK_THAT(error.what(), ContainsSubstring(missing.string()));
        }
    }

    SECTION("the JSON names its format and version")
    {
        original.writeAtomically(path);
        const std::string text = readFile(path);
        CHECK_THAT(text, ContainsSubstring("\"format\": \"meldpunt-sealed-key\""));
        CHECK_THAT(text, ContainsSubstring("\"version\": 1"));
        CHECK_THAT(text, ContainsSubstring("\"pcrs\": \"sha256:0,2,7\""));
    }
}

TEST_CASE("SealedKeyFile rejects invalid files", "[tpm][file]")
{
    ScratchFolder folder("sealed-key-file");
    const fs::path path = folder.path() / "database.key";
    sampleFile().writeAtomically(path);
    const std::string valid = readFile(path);

    SECTION("a missing file")
    {
        fs::remove(path);
        CHECK_THAT(readError(path), ContainsSubstring(path.string()));
        CHECK_THAT(readError(path), ContainsSubstring("cannot be opened"));
    }

    SECTION("a truncated file")
    {
        writeText(path, valid.substr(0, valid.size() / 2));
        CHECK_THAT(readError(path), ContainsSubstring(path.string()));
        CHECK_THAT(readError(path), ContainsSubstring("not valid JSON"));
    }

    SECTION("an empty file")
    {
        writeText(path, "");
        CHECK_THAT(readError(path), ContainsSubstring("not valid JSON"));
    }

    SECTION("a file that is not JSON")
    {
        writeText(path, "SQLite format 3\n");
        CHECK_THAT(readError(path), ContainsSubstring(path.string()));
        CHECK_THAT(readError(path), ContainsSubstring("not valid JSON"));
    }

    SECTION("a JSON array")
    {
        writeText(path, "[1, 2]");
        CHECK_THAT(readError(path), ContainsSubstring("not contain a JSON object"));
    }

    SECTION("a wrong format")
    {
        writeText(path, replaced(valid, "meldpunt-sealed-key", "other-key"));
        CHECK_THAT(readError(path), ContainsSubstring(path.string()));
        CHECK_THAT(readError(path), ContainsSubstring("format \"other-key\""));
    }

    SECTION("a wrong version")
    {
        writeText(path, replaced(valid, "\"version\": 1", "\"version\": 2"));
        CHECK_THAT(readError(path), ContainsSubstring("version 2"));
    }

    SECTION("a version that is a string")
    {
        writeText(path, replaced(valid, "\"version\": 1", "\"version\": \"1\""));
        CHECK_THAT(readError(path), ContainsSubstring("version"));
    }

    for (const std::string field :
        { "format", "version", "databaseId", "databaseFile", "pcrs", "public", "private" }) {
        SECTION("a missing field " + field)
        {
            writeText(path, replaced(valid, "\"" + field + "\"", "\"unknown\""));
            CHECK_THAT(readError(path), ContainsSubstring(path.string()));
            CHECK_THAT(readError(path), ContainsSubstring("no field \"" + field + "\""));
        }
    }

    SECTION("a field of the wrong type")
    {
        writeText(path, replaced(valid, "\"meldpunt.db\"", "42"));
        CHECK_THAT(readError(path), ContainsSubstring("\"databaseFile\" that is not a string"));
    }

    SECTION("an invalid PCR selection")
    {
        writeText(path, replaced(valid, "sha256:0,2,7", "sha256:24"));
        CHECK_THAT(readError(path), ContainsSubstring("\"pcrs\""));
        CHECK_THAT(readError(path), ContainsSubstring("out of range"));
    }

    SECTION("invalid base64")
    {
        SealedKeyFile file = sampleFile();
        file.writeAtomically(path);
        const std::string text = readFile(path);
        const std::string prefix = "\"private\": \"";
        const auto at = text.find(prefix) + prefix.size();
        std::string damaged = text;
        damaged[at] = '*';
        writeText(path, damaged);
        CHECK_THAT(readError(path), ContainsSubstring("\"private\" that is not valid base64"));
    }

    SECTION("an empty blob")
    {
        const std::string prefix = "\"public\": \"";
        const auto start = valid.find(prefix) + prefix.size();
        const auto end = valid.find('"', start);
        std::string damaged = valid;
        damaged.erase(start, end - start);
        writeText(path, damaged);
        CHECK_THAT(readError(path), ContainsSubstring("empty field \"public\""));
    }

    SECTION("a database id that is not a UUID")
    {
        writeText(path, replaced(valid, "6f1c2a4e-8d3b-4f5a-9c7e-1b2d3e4f5a6b", "not-a-uuid"));
        CHECK_THAT(readError(path), ContainsSubstring("not a UUID"));
    }

    SECTION("a database file with a folder")
    {
        writeText(path, replaced(valid, "\"meldpunt.db\"", "\"../meldpunt.db\""));
        CHECK_THAT(readError(path), ContainsSubstring("not a plain file name"));
    }

    SECTION("a file larger than 64 KiB")
    {
        writeText(path, std::string(70 * 1024, ' '));
        CHECK_THAT(readError(path), ContainsSubstring("larger than 64 KiB"));
    }
}
