#include "ChunkedFile.h"
#include "Process.h"

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

using meldpunt::test::ScratchFolder;

namespace chunked = meldpunt::chunked;
namespace crypto = meldpunt::crypto;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::uint32_t kChunk = 1024;
constexpr std::size_t kSealedChunk = kChunk + crypto::kGcmTagSize;
const Bytes kHeader = {'T', 'E', 'S', 'T', 1, 2, 3, 4};

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

Bytes writeFile(const fs::path& path, const Bytes& key, const Bytes& plain)
{
    chunked::Writer writer(path, kHeader, key, 0600, kChunk);
    // Uneven pieces, so chunk borders fall inside write calls.
    for (std::size_t offset = 0; offset < plain.size(); offset += 333)
        writer.write(std::span(plain).subspan(offset, std::min<std::size_t>(333, plain.size() - offset)));
    writer.finish();
    return readBytes(path);
}

Bytes readFile(const fs::path& path, const Bytes& key)
{
    chunked::Reader reader(path, kHeader.size(), kChunk);
    REQUIRE(reader.header() == kHeader);
    Bytes plain;
    Bytes piece;
    while (reader.next(key, piece))
        plain.insert(plain.end(), piece.begin(), piece.end());
    return plain;
}

} // namespace

TEST_CASE("Chunked file round-trips and detects tampering", "[chunked]")
{
    ScratchFolder scratch("chunked");
    const fs::path path = scratch.path() / "file";
    const Bytes key = crypto::randomBytes(32);
    const Bytes plain = crypto::randomBytes(3 * kChunk + 100);
    const Bytes stored = writeFile(path, key, plain);

    SECTION("the plaintext comes back and is not on disk")
    {
        CHECK(readFile(path, key) == plain);
        CHECK(stored.size() == kHeader.size() + 3 * kSealedChunk + 100 + crypto::kGcmTagSize);
        const auto found = std::search(stored.begin(), stored.end(), plain.begin(), plain.begin() + 32);
        CHECK(found == stored.end());
    }
    SECTION("an exact multiple of the chunk size ends with an empty final chunk")
    {
        const Bytes even = crypto::randomBytes(2 * kChunk);
        const Bytes bytes = writeFile(scratch.path() / "even", key, even);
        CHECK(bytes.size() == kHeader.size() + 2 * kSealedChunk + crypto::kGcmTagSize);
        CHECK(readFile(scratch.path() / "even", key) == even);
    }
    SECTION("the file does not depend on how the bytes were split into writes")
    {
        // Whole chunks are sealed from the caller's bytes and smaller pieces
        // are collected first. The file must be the same either way.
        const Bytes large = crypto::randomBytes((chunked::kChunksPerWrite * 3 + 1) * kChunk + 77);
        const Bytes reference = writeFile(scratch.path() / "pieces", key, large);
        const std::vector<std::vector<std::size_t>> splits = {
            {large.size()},
            {kChunk, kChunk, large.size()},
            {1, kChunk, 5 * kChunk - 1, 3, large.size()},
            {kChunk - 1, 1, 2 * kChunk + 1, large.size()},
        };
        for (std::size_t index = 0; index < splits.size(); ++index) {
            CAPTURE(index);
            const fs::path target = scratch.path() / ("split-" + std::to_string(index));
            chunked::Writer writer(target, kHeader, key, 0600, kChunk);
            std::size_t offset = 0;
            for (std::size_t size : splits[index]) {
                const std::size_t take = std::min(size, large.size() - offset);
                writer.write(std::span(large).subspan(offset, take));
                offset += take;
            }
            REQUIRE(offset == large.size());
            writer.finish();
            CHECK(readBytes(target) == reference);
            CHECK(readFile(target, key) == large);
        }
    }
    SECTION("a flipped byte in any chunk is detected")
    {
        for (std::size_t offset : {kHeader.size(), kHeader.size() + kSealedChunk + 7, stored.size() - 1}) {
            CAPTURE(offset);
            Bytes damaged = stored;
            damaged[offset] ^= 0x01;
            writeBytes(path, damaged);
            CHECK_THROWS_AS(readFile(path, key), chunked::IntegrityError);
        }
    }
    SECTION("a flipped header byte breaks every chunk")
    {
        Bytes damaged = stored;
        damaged[2] ^= 0x20;
        writeBytes(path, damaged);
        chunked::Reader reader(path, kHeader.size(), kChunk);
        Bytes piece;
        CHECK_THROWS_AS(reader.next(key, piece), chunked::IntegrityError);
    }
    SECTION("a file cut at a chunk border or inside a chunk is detected")
    {
        for (std::size_t size : {kHeader.size() + kSealedChunk, kHeader.size() + 2 * kSealedChunk,
                 kHeader.size() + kSealedChunk + 50, kHeader.size() + 3, kHeader.size()}) {
            CAPTURE(size);
            writeBytes(path, Bytes(stored.begin(), stored.begin() + static_cast<std::ptrdiff_t>(size)));
            CHECK_THROWS_AS(readFile(path, key), chunked::IntegrityError);
        }
    }
    SECTION("swapped chunks are detected")
    {
        Bytes swapped = stored;
        const auto first = swapped.begin() + static_cast<std::ptrdiff_t>(kHeader.size());
        std::swap_ranges(first, first + kSealedChunk, first + kSealedChunk);
        writeBytes(path, swapped);
        CHECK_THROWS_AS(readFile(path, key), chunked::IntegrityError);
    }
    SECTION("a repeated chunk is detected")
    {
        Bytes repeated(stored.begin(), stored.begin() + static_cast<std::ptrdiff_t>(kHeader.size() + kSealedChunk));
        repeated.insert(repeated.end(), stored.begin() + static_cast<std::ptrdiff_t>(kHeader.size()), stored.end());
        writeBytes(path, repeated);
        CHECK_THROWS_AS(readFile(path, key), chunked::IntegrityError);
    }
    SECTION("data after the final chunk is detected")
    {
        Bytes longer = stored;
        longer.push_back(0);
        writeBytes(path, longer);
        CHECK_THROWS_AS(readFile(path, key), chunked::IntegrityError);
    }
    SECTION("another key does not open the file")
    {
        CHECK_THROWS_AS(readFile(path, crypto::randomBytes(32)), chunked::IntegrityError);
    }
    SECTION("an unfinished writer leaves no file")
    {
        const fs::path unfinished = scratch.path() / "unfinished";
        {
            chunked::Writer writer(unfinished, kHeader, key, 0600, kChunk);
            writer.write(plain);
        }
        CHECK_FALSE(fs::exists(unfinished));
    }
    SECTION("an existing file is never overwritten")
    {
        CHECK_THROWS_AS(chunked::Writer(path, kHeader, key, 0600, kChunk), std::system_error);
        CHECK(readBytes(path) == stored);
    }
}
