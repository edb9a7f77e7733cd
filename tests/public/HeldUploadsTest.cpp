#include "HeldUploads.h"
#include "Process.h"

#include <catch2/catch_test_macros.hpp>

#include <sys/stat.h>
#include <utime.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

using meldpunt::site::HeldFile;
using meldpunt::site::HeldUploads;
using meldpunt::test::ScratchFolder;

namespace spool = meldpunt::spool;
namespace crypto = meldpunt::crypto;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::uint32_t kChunk = 1024;
constexpr std::size_t kSealedChunk = kChunk + crypto::kGcmTagSize;
constexpr std::size_t kDataHeader = 28;

Bytes readBytes(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

void writeBytes(const fs::path& path, const Bytes& bytes)
{
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(bytes.data()),
        static_cast<std::streamsize>(bytes.size()));
}

HeldFile hold(HeldUploads& store, const std::string& token, const Bytes& content, const std::string& name)
{
    auto upload = store.begin(token);
    for (std::size_t offset = 0; offset < content.size(); offset += 700)
        upload->write(std::span(content).subspan(offset, std::min<std::size_t>(700, content.size() - offset)));
    return upload->commit(name, "image/jpeg");
}

// Reads a held file as meldpuntd would: moved into the spool folder as a
// piece, with the key that the entry would carry. It goes back into its
// form afterwards.
Bytes readBack(const HeldUploads& store, const std::string& token, const HeldFile& file, const fs::path& spoolFolder)
{
    const fs::path piece = spoolFolder / ("read-back." + file.id + ".piece");
    const auto key = store.moveOut(token, file, piece);
    const auto idBytes = crypto::fromHex(file.id);
    std::array<std::uint8_t, 16> id{};
    std::copy(idBytes.begin(), idBytes.end(), id.begin());
    Bytes out;
    try {
        spool::readPiece(piece, id, key.span(), [&](std::span<const std::uint8_t> bytes) {
            out.insert(out.end(), bytes.begin(), bytes.end());
        });
    } catch (...) {
        store.moveBack(token, file, piece);
        throw;
    }
    store.moveBack(token, file, piece);
    return out;
}

// Every regular file below `folder`.
std::vector<fs::path> filesBelow(const fs::path& folder)
{
    std::vector<fs::path> files;
    for (const auto& item : fs::recursive_directory_iterator(folder)) {
        if (item.is_regular_file())
            files.push_back(item.path());
    }
    return files;
}

fs::path dataFileOf(const fs::path& folder, const HeldFile& file)
{
    for (const auto& path : filesBelow(folder)) {
        if (path.filename() == file.id + ".data")
            return path;
    }
    FAIL("no data file for " + file.id);
    return {};
}

void setModified(const fs::path& path, std::time_t when)
{
    const utimbuf times{when, when};
    REQUIRE(::utime(path.c_str(), &times) == 0);
}

} // namespace

TEST_CASE("Held uploads keep files encrypted for their form", "[held-uploads]")
{
    ScratchFolder scratch("held-uploads");
    const fs::path spoolFolder = scratch.path() / "spool";
    const fs::path folder = spoolFolder / "held";
    fs::create_directories(folder);
    HeldUploads store(folder, std::chrono::hours(1), kChunk);
    const std::string token = HeldUploads::newToken();
    const Bytes photo = crypto::randomBytes(3 * kChunk + 17);
    const HeldFile held = hold(store, token, photo, "strand.jpg");

    SECTION("a held file comes back byte for byte with its metadata")
    {
        CHECK(readBack(store, token, held, spoolFolder) == photo);
        const auto listed = store.list(token);
        REQUIRE(listed.size() == 1);
        CHECK(listed[0].id == held.id);
        CHECK(listed[0].displayName == "strand.jpg");
        CHECK(listed[0].mediaType == "image/jpeg");
        CHECK(listed[0].size == photo.size());
    }
    SECTION("a file moves out as a group-readable piece and back")
    {
        const fs::path piece = spoolFolder / "entry.0.piece";
        const auto key = store.moveOut(token, held, piece);
        CHECK(store.list(token).empty());
        CHECK(filesBelow(folder).size() == 1); // the metadata, which the form's removal takes
        CHECK((fs::status(piece).permissions() & fs::perms::mask) == (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
        CHECK(readBytes(piece).size() == kDataHeader + 3 * kSealedChunk + 17 + crypto::kGcmTagSize);
        // A second post of the same form finds the file gone.
        try {
            store.moveOut(token, held, spoolFolder / "entry-again.0.piece");
            FAIL("a file moved out twice");
        } catch (const std::system_error& error) {
            CHECK(error.code().value() == ENOENT);
        }
        store.moveBack(token, held, piece);
        CHECK_FALSE(fs::exists(piece));
        REQUIRE(store.list(token).size() == 1);
        CHECK(readBack(store, token, held, spoolFolder) == photo);
    }
    SECTION("nothing on disk shows the content, the name or the token")
    {
        const Bytes name = {'s', 't', 'r', 'a', 'n', 'd'};
        for (const auto& path : filesBelow(folder)) {
            CAPTURE(path);
            const Bytes bytes = readBytes(path);
            CHECK(std::search(bytes.begin(), bytes.end(), photo.begin(), photo.begin() + 16) == bytes.end());
            CHECK(std::search(bytes.begin(), bytes.end(), name.begin(), name.end()) == bytes.end());
            CHECK(path.string().find(token) == std::string::npos);
            CHECK((fs::status(path).permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
        }
    }
    SECTION("another form's token finds nothing")
    {
        const std::string other = HeldUploads::newToken();
        CHECK(store.list(other).empty());
        CHECK_THROWS(readBack(store, other, held, spoolFolder));
    }
    SECTION("files of two forms stay apart, and several files are listed in order")
    {
        const std::string other = HeldUploads::newToken();
        hold(store, other, crypto::randomBytes(10), "andere.jpg");
        const HeldFile second = hold(store, token, crypto::randomBytes(5000), "tweede.jpg");
        const auto listed = store.list(token);
        REQUIRE(listed.size() == 2);
        CHECK(listed[0].id == held.id);
        CHECK(listed[1].id == second.id);
        CHECK(store.list(other).size() == 1);
    }
    SECTION("a flipped byte in the data is detected")
    {
        const fs::path data = dataFileOf(folder, held);
        Bytes bytes = readBytes(data);
        bytes[kDataHeader + kSealedChunk + 3] ^= 0x80;
        writeBytes(data, bytes);
        CHECK_THROWS_AS(readBack(store, token, held, spoolFolder), spool::FormatError);
    }
    SECTION("a truncated data file is detected")
    {
        const fs::path data = dataFileOf(folder, held);
        Bytes bytes = readBytes(data);
        bytes.resize(kDataHeader + 2 * kSealedChunk);
        writeBytes(data, bytes);
        CHECK_THROWS_AS(readBack(store, token, held, spoolFolder), spool::FormatError);
    }
    SECTION("reordered chunks are detected")
    {
        const fs::path data = dataFileOf(folder, held);
        Bytes bytes = readBytes(data);
        const auto first = bytes.begin() + static_cast<std::ptrdiff_t>(kDataHeader);
        std::swap_ranges(first, first + kSealedChunk, first + kSealedChunk);
        writeBytes(data, bytes);
        CHECK_THROWS_AS(readBack(store, token, held, spoolFolder), spool::FormatError);
    }
    SECTION("data files swapped between two uploads are detected")
    {
        const HeldFile second = hold(store, token, crypto::randomBytes(photo.size()), "tweede.jpg");
        const fs::path a = dataFileOf(folder, held);
        const fs::path b = dataFileOf(folder, second);
        const Bytes bytesA = readBytes(a);
        writeBytes(a, readBytes(b));
        writeBytes(b, bytesA);
        CHECK_THROWS_AS(readBack(store, token, held, spoolFolder), spool::FormatError);
        CHECK_THROWS_AS(readBack(store, token, second, spoolFolder), spool::FormatError);
    }
    SECTION("a flipped byte in the metadata hides the file from the list")
    {
        const fs::path meta = dataFileOf(folder, held).replace_extension(".meta");
        Bytes bytes = readBytes(meta);
        bytes.back() ^= 0x01;
        writeBytes(meta, bytes);
        CHECK(store.list(token).empty());
    }
    SECTION("a removed file is gone, and removing all empties the form")
    {
        const HeldFile second = hold(store, token, crypto::randomBytes(10), "tweede.jpg");
        store.remove(token, held.id);
        const auto listed = store.list(token);
        REQUIRE(listed.size() == 1);
        CHECK(listed[0].id == second.id);
        store.removeAll(token);
        CHECK(store.list(token).empty());
        CHECK(filesBelow(folder).empty());
    }
    SECTION("an upload that is not committed leaves nothing")
    {
        {
            auto upload = store.begin(token);
            upload->write(photo);
        }
        CHECK(store.list(token).size() == 1);
        CHECK(filesBelow(folder).size() == 2); // the first file's data and metadata
    }
    SECTION("invalid tokens are rejected")
    {
        CHECK_FALSE(HeldUploads::isValidToken(""));
        CHECK_FALSE(HeldUploads::isValidToken("../../../../etc/passwd0000000000"));
        CHECK_FALSE(HeldUploads::isValidToken(std::string(32, 'G')));
        CHECK_FALSE(HeldUploads::isValidToken(std::string(31, 'a')));
        CHECK(HeldUploads::isValidToken(HeldUploads::newToken()));
        CHECK_THROWS_AS(store.list("not a token"), std::invalid_argument);
        CHECK_THROWS_AS(store.begin("../x"), std::invalid_argument);
    }
}

TEST_CASE("Held uploads expire", "[held-uploads]")
{
    ScratchFolder scratch("held-expiry");
    const fs::path folder = scratch.path() / "uploads";
    HeldUploads store(folder, std::chrono::hours(1), kChunk);
    const std::string oldToken = HeldUploads::newToken();
    const std::string freshToken = HeldUploads::newToken();
    hold(store, oldToken, crypto::randomBytes(100), "oud.jpg");
    hold(store, freshToken, crypto::randomBytes(100), "nieuw.jpg");
    const auto now = std::chrono::system_clock::now();
    const std::time_t twoHoursAgo = std::chrono::system_clock::to_time_t(now - std::chrono::hours(2));

    SECTION("a form unused for longer than the hold time is removed, a fresh one stays")
    {
        std::vector<fs::path> forms;
        for (const auto& item : fs::directory_iterator(folder))
            forms.push_back(item.path());
        REQUIRE(forms.size() == 2);
        for (const auto& form : forms)
            setModified(form, twoHoursAgo);
        store.list(freshToken); // listing counts as use, so only the other form is stale
        CHECK(store.sweep(now) == 1);
        CHECK(store.list(oldToken).empty());
        CHECK(store.list(freshToken).size() == 1);
    }
    SECTION("an unfinished upload older than the hold time is removed, a running one stays")
    {
        auto running = store.begin(freshToken);
        running->write(crypto::randomBytes(10));
        auto stalled = store.begin(freshToken);
        stalled->write(crypto::randomBytes(10));
        std::vector<fs::path> partials;
        for (const auto& path : filesBelow(folder)) {
            if (path.filename().string().ends_with(".partial"))
                partials.push_back(path);
        }
        REQUIRE(partials.size() == 2);
        setModified(partials[0], twoHoursAgo);
        store.sweep(now);
        CHECK(fs::exists(partials[1]));
        CHECK_FALSE(fs::exists(partials[0]));
    }
    SECTION("start-up removes every unfinished upload")
    {
        auto upload = store.begin(freshToken);
        upload->write(crypto::randomBytes(10));
        store.removeUnfinished();
        std::size_t partials = 0;
        for (const auto& path : filesBelow(folder))
            partials += path.filename().string().ends_with(".partial") ? 1 : 0;
        CHECK(partials == 0);
        CHECK(store.list(freshToken).size() == 1);
        CHECK(store.list(oldToken).size() == 1);
    }
}
