#include "Spool.h"
#include "Process.h"

#include <catch2/catch_test_macros.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

using meldpunt::SecretBytes;
using meldpunt::Uuid;
using meldpunt::test::ScratchFolder;

namespace crypto = meldpunt::crypto;
namespace spool = meldpunt::spool;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::size_t kTagSize = crypto::kGcmTagSize;
constexpr std::size_t kRecordHeader = 5; // type byte and 32-bit big-endian length

// An intake key pair as meldpuntd holds it, with the lookup the reader
// needs to find its private half.
struct IntakeKey {
    crypto::X25519KeyPair pair = crypto::X25519KeyPair::generate();
    spool::IntakePublicKey publicKey;

    IntakeKey()
    {
        const auto id = crypto::randomBytes(publicKey.id.size());
        std::copy(id.begin(), id.end(), publicKey.id.begin());
        publicKey.key = pair.publicKey;
    }

    spool::PrivateKeyLookup lookup() const
    {
        return [this](const spool::KeyId& id) -> std::optional<SecretBytes> {
            if (id != publicKey.id)
                return std::nullopt;
            SecretBytes copy(pair.privateKey.size());
            std::copy(pair.privateKey.data(), pair.privateKey.data() + pair.privateKey.size(), copy.data());
            return copy;
        };
    }
};

Bytes patterned(std::size_t size, std::uint8_t seed = 0)
{
    Bytes bytes(size);
    for (std::size_t i = 0; i < size; ++i)
        bytes[i] = static_cast<std::uint8_t>((i * 131 + seed * 7 + i / 251) & 0xff);
    return bytes;
}

struct RecordSpec {
    spool::RecordType type;
    Bytes payload;
};

fs::path writeEntry(const fs::path& folder, const IntakeKey& key, const std::vector<RecordSpec>& records,
    std::uint32_t chunkSize = spool::kMinChunkSize, spool::EntryKind kind = spool::EntryKind::Report,
    const Uuid& uuid = Uuid::generate())
{
    spool::Writer writer(folder, kind, uuid, key.publicKey, chunkSize);
    for (const auto& record : records)
        writer.writeRecord(record.type, record.payload);
    return writer.commit();
}

std::vector<spool::Record> readAll(const fs::path& path, const spool::PrivateKeyLookup& lookup)
{
    spool::Reader reader(path, lookup);
    std::vector<spool::Record> records;
    while (auto record = reader.next())
        records.push_back(std::move(*record));
    return records;
}

Bytes readBytes(const fs::path& path)
{
    const std::string text = meldpunt::test::readFile(path);
    return Bytes(text.begin(), text.end());
}

void writeBytes(const fs::path& path, const Bytes& bytes)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
}

// Returns the offsets where each sealed chunk of an entry starts, followed
// by the file size.
std::vector<std::size_t> chunkOffsets(std::size_t fileSize, std::uint32_t chunkSize)
{
    std::vector<std::size_t> offsets;
    for (std::size_t offset = spool::kHeaderSize; offset < fileSize; offset += chunkSize + kTagSize)
        offsets.push_back(offset);
    offsets.push_back(fileSize);
    return offsets;
}

bool rejected(const fs::path& path, const spool::PrivateKeyLookup& lookup)
{
    try {
        readAll(path, lookup);
    } catch (const spool::FormatError&) {
        return true;
    }
    return false;
}

// Seals one chunk the way the writer does: the nonce holds the chunk
// counter big-endian in bytes 0 to 7 and the final flag in byte 11, and
// the header is the associated data. Tests use it to build entries that a
// correct writer never makes.
Bytes sealChunk(const IntakeKey& key, std::span<const std::uint8_t> header, std::uint64_t counter,
    bool final, std::span<const std::uint8_t> plain)
{
    const auto parsed = spool::Header::parse(header);
    const SecretBytes shared = crypto::x25519(key.pair.privateKey.span(), parsed.ephemeralKey);
    const SecretBytes chunkKey = spool::deriveChunkKey(shared.span(), header);
    std::array<std::uint8_t, crypto::kGcmNonceSize> nonce{};
    for (int i = 7; i >= 0; --i) {
        nonce[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(counter & 0xff);
        counter >>= 8;
    }
    nonce[11] = final ? 1 : 0;
    return crypto::seal(chunkKey.span(), nonce, header, plain);
}

Bytes recordBytes(spool::RecordType type, std::span<const std::uint8_t> payload)
{
    const auto size = static_cast<std::uint32_t>(payload.size());
    Bytes bytes(kRecordHeader + payload.size());
    bytes[0] = static_cast<std::uint8_t>(type);
    bytes[1] = static_cast<std::uint8_t>(size >> 24);
    bytes[2] = static_cast<std::uint8_t>(size >> 16);
    bytes[3] = static_cast<std::uint8_t>(size >> 8);
    bytes[4] = static_cast<std::uint8_t>(size);
    std::copy(payload.begin(), payload.end(), bytes.begin() + kRecordHeader);
    return bytes;
}

spool::Header sampleHeader()
{
    spool::Header header;
    header.kind = spool::EntryKind::Report;
    header.uuid = Uuid::generate();
    header.intakeKeyId.fill(0x11);
    header.ephemeralKey.fill(0x22);
    header.chunkSize = spool::kMinChunkSize;
    return header;
}

} // namespace

TEST_CASE("Spool entries round trip records", "[spool]")
{
    ScratchFolder scratch("spool-round-trip");
    const IntakeKey key;
    constexpr std::uint32_t chunk = spool::kMinChunkSize;

    const std::vector<std::pair<std::string, std::size_t>> sizes = {
        {"empty", 0},
        {"one byte", 1},
        {"chunk size minus one", chunk - 1},
        {"exactly the chunk size", chunk},
        {"chunk size plus one", chunk + 1},
        {"several chunks", 5 * chunk + 321},
        {"record ending on a chunk boundary", chunk - kRecordHeader},
        {"record ending on the second chunk boundary", 2 * chunk - kRecordHeader},
        {"end record ending on a chunk boundary", chunk - 2 * kRecordHeader},
    };
    for (const auto& [name, size] : sizes) {
        DYNAMIC_SECTION("A record of " << size << " bytes (" << name << ") comes back unchanged")
        {
            const Bytes payload = patterned(size, static_cast<std::uint8_t>(size));
            const auto path = writeEntry(scratch.path(), key, {{spool::RecordType::Fields, payload}}, chunk);
            const auto records = readAll(path, key.lookup());
            REQUIRE(records.size() == 1);
            CHECK(records[0].type == spool::RecordType::Fields);
            CHECK(records[0].payload == payload);
        }
    }

    SECTION("An entry without records reads as empty")
    {
        const auto path = writeEntry(scratch.path(), key, {}, chunk);
        CHECK(readAll(path, key.lookup()).empty());
    }

    SECTION("Several records of every type keep their order and types")
    {
        const std::vector<RecordSpec> written = {
            {spool::RecordType::Fields, patterned(700, 1)},
            {spool::RecordType::AttachmentBegin, patterned(40, 2)},
            {spool::RecordType::AttachmentData, patterned(3 * chunk + 5, 3)},
            {spool::RecordType::AttachmentData, {}},
            {spool::RecordType::AttachmentEnd, patterned(90, 4)},
        };
        const auto path = writeEntry(scratch.path(), key, written, chunk);
        const auto records = readAll(path, key.lookup());
        REQUIRE(records.size() == written.size());
        for (std::size_t i = 0; i < written.size(); ++i) {
            CHECK(records[i].type == written[i].type);
            CHECK(records[i].payload == written[i].payload);
        }
    }

    SECTION("The default chunk size carries a large record")
    {
        const Bytes payload = patterned(3 * spool::kDefaultChunkSize + 17, 9);
        const auto path = writeEntry(scratch.path(), key, {{spool::RecordType::AttachmentData, payload}},
            spool::kDefaultChunkSize);
        const auto records = readAll(path, key.lookup());
        REQUIRE(records.size() == 1);
        CHECK(records[0].payload == payload);
    }

    SECTION("The header read back names the kind, UUID, key and chunk size")
    {
        const Uuid uuid = Uuid::generate();
        const auto path = writeEntry(scratch.path(), key, {}, 4096, spool::EntryKind::Complaint, uuid);
        spool::Reader reader(path, key.lookup());
        CHECK(reader.header().kind == spool::EntryKind::Complaint);
        CHECK(reader.header().uuid == uuid);
        CHECK(reader.header().intakeKeyId == key.publicKey.id);
        CHECK(reader.header().chunkSize == 4096);
        CHECK_FALSE(reader.next().has_value());
    }
}

TEST_CASE("Spool writer rejects invalid arguments", "[spool]")
{
    ScratchFolder scratch("spool-arguments");
    const IntakeKey key;

    SECTION("A chunk size below the minimum is rejected")
    {
        CHECK_THROWS_AS(spool::Writer(scratch.path(), spool::EntryKind::Report, Uuid::generate(),
                            key.publicKey, spool::kMinChunkSize - 1),
            std::invalid_argument);
    }

    SECTION("A chunk size above the maximum is rejected")
    {
        CHECK_THROWS_AS(spool::Writer(scratch.path(), spool::EntryKind::Report, Uuid::generate(),
                            key.publicKey, spool::kMaxChunkSize + 1),
            std::invalid_argument);
    }

    SECTION("A record above the size limit is rejected")
    {
        spool::Writer writer(scratch.path(), spool::EntryKind::Report, Uuid::generate(), key.publicKey);
        const Bytes tooLarge(spool::kMaxRecordSize + 1);
        CHECK_THROWS_AS(writer.writeRecord(spool::RecordType::AttachmentData, tooLarge), std::invalid_argument);
    }

    SECTION("A record after commit is rejected")
    {
        spool::Writer writer(scratch.path(), spool::EntryKind::Report, Uuid::generate(), key.publicKey);
        writer.commit();
        CHECK_THROWS_AS(writer.writeRecord(spool::RecordType::Fields, patterned(3)), std::logic_error);
    }
}

TEST_CASE("Spool files hide their content", "[spool]")
{
    ScratchFolder scratch("spool-plaintext");
    const IntakeKey key;
    const std::string marker = "MELDPUNT-PLAINTEXT-MARKER-7f3a";

    SECTION("No plaintext marker appears in the committed file")
    {
        std::string text;
        for (int i = 0; i < 100; ++i)
            text += marker + " ";
        const Bytes payload(text.begin(), text.end());
        const auto path = writeEntry(scratch.path(), key, {{spool::RecordType::Fields, payload}});
        const std::string content = meldpunt::test::readFile(path);
        CHECK(content.find(marker) == std::string::npos);
        CHECK(content.find("MELDPUNT") == std::string::npos);
    }

    SECTION("A short marker in a small entry does not appear either")
    {
        const Bytes payload(marker.begin(), marker.end());
        const auto path = writeEntry(scratch.path(), key, {{spool::RecordType::Fields, payload}});
        const std::string content = meldpunt::test::readFile(path);
        CHECK(content.find(marker) == std::string::npos);
    }
}

TEST_CASE("Spool reader rejects tampered entries", "[spool]")
{
    ScratchFolder scratch("spool-tamper");
    const IntakeKey key;

    SECTION("Every single flipped byte of a small entry is rejected")
    {
        const auto path = writeEntry(scratch.path(), key, {{spool::RecordType::Fields, patterned(24)}});
        const Bytes original = readBytes(path);
        REQUIRE(original.size() == spool::kHeaderSize + kRecordHeader + 24 + kRecordHeader + kTagSize);
        const fs::path tampered = scratch.path() / "tampered.entry";
        for (std::size_t offset = 0; offset < original.size(); ++offset) {
            for (std::uint8_t mask : {std::uint8_t{0x01}, std::uint8_t{0x80}}) {
                Bytes bytes = original;
                bytes[offset] ^= mask;
                writeBytes(tampered, bytes);
                INFO("byte " << offset << " flipped with mask " << int(mask));
                CHECK(rejected(tampered, key.lookup()));
            }
        }
    }

    SECTION("A flipped byte in any chunk of a longer entry is rejected")
    {
        constexpr std::uint32_t chunk = spool::kMinChunkSize;
        const auto path = writeEntry(scratch.path(), key, {{spool::RecordType::Fields, patterned(3 * chunk)}}, chunk);
        const Bytes original = readBytes(path);
        const auto offsets = chunkOffsets(original.size(), chunk);
        const fs::path tampered = scratch.path() / "tampered.entry";
        for (std::size_t i = 0; i + 1 < offsets.size(); ++i) {
            // The first byte, a middle byte, and the last byte (inside the tag).
            for (std::size_t offset : {offsets[i], (offsets[i] + offsets[i + 1]) / 2, offsets[i + 1] - 1}) {
                Bytes bytes = original;
                bytes[offset] ^= 0x04;
                writeBytes(tampered, bytes);
                INFO("chunk " << i << ", byte " << offset);
                CHECK(rejected(tampered, key.lookup()));
            }
        }
    }

    SECTION("The untampered copy still reads")
    {
        const Bytes payload = patterned(24);
        const auto path = writeEntry(scratch.path(), key, {{spool::RecordType::Fields, payload}});
        const fs::path copy = scratch.path() / "copy.entry";
        writeBytes(copy, readBytes(path));
        const auto records = readAll(copy, key.lookup());
        REQUIRE(records.size() == 1);
        CHECK(records[0].payload == payload);
    }
}

TEST_CASE("Spool reader rejects truncated entries", "[spool]")
{
    ScratchFolder scratch("spool-truncate");
    const IntakeKey key;
    constexpr std::uint32_t chunk = spool::kMinChunkSize;
    const fs::path truncated = scratch.path() / "truncated.entry";

    SECTION("Truncation at every chunk boundary is rejected")
    {
        const auto path = writeEntry(scratch.path(), key, {{spool::RecordType::Fields, patterned(3 * chunk + 100)}}, chunk);
        const Bytes original = readBytes(path);
        const auto offsets = chunkOffsets(original.size(), chunk);
        REQUIRE(offsets.size() == 5); // three full chunks, the final chunk, the end
        for (std::size_t i = 0; i + 1 < offsets.size(); ++i) {
            writeBytes(truncated, Bytes(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(offsets[i])));
            INFO("truncated at the start of chunk " << i << " (" << offsets[i] << " bytes)");
            CHECK(rejected(truncated, key.lookup()));
        }
    }

    SECTION("Truncation inside every chunk is rejected")
    {
        const auto path = writeEntry(scratch.path(), key, {{spool::RecordType::Fields, patterned(3 * chunk + 100)}}, chunk);
        const Bytes original = readBytes(path);
        const auto offsets = chunkOffsets(original.size(), chunk);
        for (std::size_t i = 0; i + 1 < offsets.size(); ++i) {
            for (std::size_t cut : {offsets[i] + 1, (offsets[i] + offsets[i + 1]) / 2, offsets[i + 1] - 1}) {
                writeBytes(truncated, Bytes(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(cut)));
                INFO("truncated to " << cut << " bytes inside chunk " << i);
                CHECK(rejected(truncated, key.lookup()));
            }
        }
    }

    SECTION("Truncation inside the header is rejected")
    {
        const auto path = writeEntry(scratch.path(), key, {{spool::RecordType::Fields, patterned(10)}}, chunk);
        const Bytes original = readBytes(path);
        for (std::size_t cut : {std::size_t{0}, std::size_t{8}, spool::kHeaderSize - 1}) {
            writeBytes(truncated, Bytes(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(cut)));
            INFO("truncated to " << cut << " bytes");
            CHECK(rejected(truncated, key.lookup()));
        }
    }

    SECTION("Removing the final chunk is rejected")
    {
        // The End record ends exactly on the first chunk boundary, so the
        // final chunk is empty and only its tag is removed.
        const auto path = writeEntry(scratch.path(), key,
            {{spool::RecordType::Fields, patterned(chunk - 2 * kRecordHeader)}}, chunk);
        const Bytes original = readBytes(path);
        REQUIRE(original.size() == spool::kHeaderSize + chunk + kTagSize + kTagSize);
        writeBytes(truncated, Bytes(original.begin(), original.end() - static_cast<std::ptrdiff_t>(kTagSize)));
        CHECK(rejected(truncated, key.lookup()));
    }
}

TEST_CASE("Spool reader rejects rearranged chunks", "[spool]")
{
    ScratchFolder scratch("spool-rearranged");
    const IntakeKey key;
    constexpr std::uint32_t chunk = spool::kMinChunkSize;
    const fs::path changed = scratch.path() / "changed.entry";
    const auto path = writeEntry(scratch.path(), key, {{spool::RecordType::Fields, patterned(3 * chunk)}}, chunk);
    const Bytes original = readBytes(path);
    const auto offsets = chunkOffsets(original.size(), chunk);
    const auto sealedSize = static_cast<std::ptrdiff_t>(chunk + kTagSize);
    Bytes header(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(spool::kHeaderSize));
    auto chunkAt = [&](std::size_t index) {
        const auto begin = original.begin() + static_cast<std::ptrdiff_t>(offsets[index]);
        const auto end = original.begin() + static_cast<std::ptrdiff_t>(offsets[index + 1]);
        return Bytes(begin, end);
    };

    SECTION("Two swapped chunks are rejected")
    {
        Bytes bytes = header;
        for (std::size_t index : {std::size_t{1}, std::size_t{0}, std::size_t{2}, std::size_t{3}}) {
            const Bytes sealed = chunkAt(index);
            bytes.insert(bytes.end(), sealed.begin(), sealed.end());
        }
        REQUIRE(bytes.size() == original.size());
        writeBytes(changed, bytes);
        CHECK(rejected(changed, key.lookup()));
    }

    SECTION("A duplicated chunk is rejected")
    {
        Bytes bytes = header;
        for (std::size_t index : {std::size_t{0}, std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{3}}) {
            const Bytes sealed = chunkAt(index);
            bytes.insert(bytes.end(), sealed.begin(), sealed.end());
        }
        writeBytes(changed, bytes);
        CHECK(rejected(changed, key.lookup()));
    }

    SECTION("A removed middle chunk is rejected")
    {
        Bytes bytes = original;
        bytes.erase(bytes.begin() + static_cast<std::ptrdiff_t>(offsets[1]),
            bytes.begin() + static_cast<std::ptrdiff_t>(offsets[1]) + sealedSize);
        writeBytes(changed, bytes);
        CHECK(rejected(changed, key.lookup()));
    }

    SECTION("The chunks of another entry under the same header are rejected")
    {
        const auto other = writeEntry(scratch.path(), key, {{spool::RecordType::Fields, patterned(3 * chunk, 5)}}, chunk);
        const Bytes otherBytes = readBytes(other);
        Bytes bytes = header;
        bytes.insert(bytes.end(), otherBytes.begin() + static_cast<std::ptrdiff_t>(spool::kHeaderSize), otherBytes.end());
        writeBytes(changed, bytes);
        CHECK(rejected(changed, key.lookup()));
    }
}

TEST_CASE("Spool reader rejects appended data", "[spool]")
{
    ScratchFolder scratch("spool-appended");
    const IntakeKey key;
    constexpr std::uint32_t chunk = spool::kMinChunkSize;
    const fs::path changed = scratch.path() / "changed.entry";
    const auto path = writeEntry(scratch.path(), key, {{spool::RecordType::Fields, patterned(chunk + 50)}}, chunk);
    const Bytes original = readBytes(path);
    const Bytes header(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(spool::kHeaderSize));

    SECTION("A valid extra chunk after the final chunk is rejected")
    {
        for (bool final : {false, true}) {
            Bytes bytes = original;
            const Bytes extra = sealChunk(key, header, 2, final, patterned(30));
            bytes.insert(bytes.end(), extra.begin(), extra.end());
            writeBytes(changed, bytes);
            INFO("extra chunk marked " << (final ? "final" : "not final"));
            CHECK(rejected(changed, key.lookup()));
        }
    }

    SECTION("Stray bytes after the final chunk are rejected")
    {
        Bytes bytes = original;
        bytes.push_back(0);
        writeBytes(changed, bytes);
        CHECK(rejected(changed, key.lookup()));
    }

    SECTION("Data after the End record inside the final chunk is rejected")
    {
        Bytes plain = recordBytes(spool::RecordType::Fields, patterned(20));
        const Bytes end = recordBytes(spool::RecordType::End, {});
        plain.insert(plain.end(), end.begin(), end.end());
        plain.push_back('x');
        Bytes bytes = header;
        const Bytes sealed = sealChunk(key, header, 0, true, plain);
        bytes.insert(bytes.end(), sealed.begin(), sealed.end());
        writeBytes(changed, bytes);
        CHECK(rejected(changed, key.lookup()));
    }

    SECTION("A record after the End record is rejected")
    {
        Bytes plain = recordBytes(spool::RecordType::End, {});
        const Bytes after = recordBytes(spool::RecordType::Fields, patterned(20));
        plain.insert(plain.end(), after.begin(), after.end());
        Bytes bytes = header;
        const Bytes sealed = sealChunk(key, header, 0, true, plain);
        bytes.insert(bytes.end(), sealed.begin(), sealed.end());
        writeBytes(changed, bytes);
        CHECK(rejected(changed, key.lookup()));
    }

    SECTION("An End record that carries data is rejected")
    {
        const Bytes plain = recordBytes(spool::RecordType::End, patterned(4));
        Bytes bytes = header;
        const Bytes sealed = sealChunk(key, header, 0, true, plain);
        bytes.insert(bytes.end(), sealed.begin(), sealed.end());
        writeBytes(changed, bytes);
        CHECK(rejected(changed, key.lookup()));
    }

    SECTION("A final chunk without an End record is rejected")
    {
        const Bytes plain = recordBytes(spool::RecordType::Fields, patterned(20));
        Bytes bytes = header;
        const Bytes sealed = sealChunk(key, header, 0, true, plain);
        bytes.insert(bytes.end(), sealed.begin(), sealed.end());
        writeBytes(changed, bytes);
        CHECK(rejected(changed, key.lookup()));
    }

    SECTION("An unknown record type is rejected")
    {
        Bytes plain = recordBytes(static_cast<spool::RecordType>(9), patterned(3));
        const Bytes end = recordBytes(spool::RecordType::End, {});
        plain.insert(plain.end(), end.begin(), end.end());
        Bytes bytes = header;
        const Bytes sealed = sealChunk(key, header, 0, true, plain);
        bytes.insert(bytes.end(), sealed.begin(), sealed.end());
        writeBytes(changed, bytes);
        CHECK(rejected(changed, key.lookup()));
    }

    SECTION("An entry built by the same rules still reads")
    {
        // Proves that the forged entries above fail for the defect they
        // carry, not because the test seals chunks differently.
        Bytes plain = recordBytes(spool::RecordType::Fields, patterned(20));
        const Bytes end = recordBytes(spool::RecordType::End, {});
        plain.insert(plain.end(), end.begin(), end.end());
        Bytes bytes = header;
        const Bytes sealed = sealChunk(key, header, 0, true, plain);
        bytes.insert(bytes.end(), sealed.begin(), sealed.end());
        writeBytes(changed, bytes);
        const auto records = readAll(changed, key.lookup());
        REQUIRE(records.size() == 1);
        CHECK(records[0].payload == patterned(20));
    }
}

TEST_CASE("Spool reader rejects foreign keys", "[spool]")
{
    ScratchFolder scratch("spool-keys");
    const IntakeKey key;
    const IntakeKey other;
    const auto path = writeEntry(scratch.path(), key, {{spool::RecordType::Fields, patterned(100)}});

    SECTION("An entry for an unknown key id is rejected")
    {
        const spool::PrivateKeyLookup none = [](const spool::KeyId&) -> std::optional<SecretBytes> {
            return std::nullopt;
        };
        CHECK_THROWS_AS(spool::Reader(path, none), spool::FormatError);
    }

    SECTION("An entry made for another key pair is rejected")
    {
        // The lookup answers every id with the other pair's private half,
        // as a database holding a different key under the same id would.
        const spool::PrivateKeyLookup wrong = [&](const spool::KeyId&) -> std::optional<SecretBytes> {
            SecretBytes copy(other.pair.privateKey.size());
            std::copy(other.pair.privateKey.data(), other.pair.privateKey.data() + copy.size(), copy.data());
            return copy;
        };
        CHECK(rejected(path, wrong));
    }

    SECTION("The other key pair reads its own entries")
    {
        const auto own = writeEntry(scratch.path(), other, {{spool::RecordType::Fields, patterned(7)}});
        CHECK(readAll(own, other.lookup()).size() == 1);
        CHECK(rejected(own, key.lookup()));
    }
}

// OpenSSL rejects a low-order ephemeral key such as all zeros; the reader
// must turn that into FormatError, as for any other forged entry.
TEST_CASE("Spool reader rejects low-order ephemeral keys", "[spool]")
{
    ScratchFolder scratch("spool-low-order");
    const IntakeKey key;
    const auto path = writeEntry(scratch.path(), key, {{spool::RecordType::Fields, patterned(10)}});
    Bytes bytes = readBytes(path);
    std::fill(bytes.begin() + 44, bytes.begin() + 76, std::uint8_t{0});
    writeBytes(path, bytes);

    SECTION("An all-zero ephemeral key raises FormatError")
    {
        CHECK_THROWS_AS(readAll(path, key.lookup()), spool::FormatError);
    }
}

TEST_CASE("Spool header rejects unknown values", "[spool]")
{
    const spool::Header sample = sampleHeader();
    const auto good = sample.serialize();

    SECTION("A serialised header parses back")
    {
        const auto header = spool::Header::parse(good);
        CHECK(header.kind == sample.kind);
        CHECK(header.uuid == sample.uuid);
        CHECK(header.intakeKeyId == sample.intakeKeyId);
        CHECK(header.ephemeralKey == sample.ephemeralKey);
        CHECK(header.chunkSize == sample.chunkSize);
        CHECK(header.serialize() == good);
    }

    SECTION("A wrong magic is rejected")
    {
        auto bytes = good;
        bytes[0] = 'X';
        CHECK_THROWS_AS(spool::Header::parse(bytes), spool::FormatError);
    }

    SECTION("A wrong version is rejected")
    {
        for (std::uint8_t version : {std::uint8_t{0}, std::uint8_t{2}}) {
            auto bytes = good;
            bytes[9] = version;
            CHECK_THROWS_AS(spool::Header::parse(bytes), spool::FormatError);
        }
        auto high = good;
        high[8] = 1;
        CHECK_THROWS_AS(spool::Header::parse(high), spool::FormatError);
    }

    SECTION("An unknown kind is rejected")
    {
        for (std::uint8_t kind : {std::uint8_t{0}, std::uint8_t{6}, std::uint8_t{0xff}}) {
            auto bytes = good;
            bytes[10] = kind;
            CHECK_THROWS_AS(spool::Header::parse(bytes), spool::FormatError);
        }
    }

    SECTION("Unknown flags are rejected")
    {
        auto bytes = good;
        bytes[11] = 1;
        CHECK_THROWS_AS(spool::Header::parse(bytes), spool::FormatError);
    }

    SECTION("A chunk size out of range is rejected")
    {
        for (std::uint32_t size : {0u, spool::kMinChunkSize - 1, spool::kMaxChunkSize + 1, 0xffffffffu}) {
            auto header = sampleHeader();
            header.chunkSize = size;
            INFO("chunk size " << size);
            CHECK_THROWS_AS(spool::Header::parse(header.serialize()), spool::FormatError);
        }
    }

    SECTION("The chunk size limits themselves are accepted")
    {
        for (std::uint32_t size : {spool::kMinChunkSize, spool::kMaxChunkSize}) {
            auto header = sampleHeader();
            header.chunkSize = size;
            CHECK(spool::Header::parse(header.serialize()).chunkSize == size);
        }
    }

    SECTION("A short header is rejected")
    {
        CHECK_THROWS_AS(spool::Header::parse(std::span(good).first(spool::kHeaderSize - 1)), spool::FormatError);
    }
}

TEST_CASE("Spool reader rejects wrong headers", "[spool]")
{
    ScratchFolder scratch("spool-header-file");
    const IntakeKey key;
    const auto path = writeEntry(scratch.path(), key, {{spool::RecordType::Fields, patterned(10)}});
    const Bytes original = readBytes(path);
    const fs::path changed = scratch.path() / "changed.entry";

    const std::vector<std::pair<std::string, std::pair<std::size_t, std::uint8_t>>> changes = {
        {"magic", {3, 'x'}},
        {"version", {9, 2}},
        {"kind", {10, 0}},
        {"flags", {11, 1}},
        {"chunk size", {77, 0xff}},
    };
    for (const auto& [name, change] : changes) {
        DYNAMIC_SECTION("An entry file with a wrong " << name << " is rejected")
        {
            Bytes bytes = original;
            bytes[change.first] = change.second;
            writeBytes(changed, bytes);
            CHECK_THROWS_AS(spool::Reader(changed, key.lookup()), spool::FormatError);
        }
    }

    SECTION("A file of random bytes is rejected")
    {
        writeBytes(changed, crypto::randomBytes(500));
        CHECK_THROWS_AS(spool::Reader(changed, key.lookup()), spool::FormatError);
    }
}

TEST_CASE("Spool writer commits atomically", "[spool]")
{
    ScratchFolder scratch("spool-commit");
    const IntakeKey key;

    SECTION("An uncommitted writer leaves no file")
    {
        {
            spool::Writer writer(scratch.path(), spool::EntryKind::Report, Uuid::generate(), key.publicKey);
            writer.writeRecord(spool::RecordType::Fields, patterned(5000));
            CHECK(std::distance(fs::directory_iterator(scratch.path()), fs::directory_iterator()) == 1);
            CHECK(spool::listEntries(scratch.path()).empty());
        }
        CHECK(fs::is_empty(scratch.path()));
    }

    SECTION("Commit leaves only the entry with mode 0640")
    {
        const Uuid uuid = Uuid::generate();
        const auto path = writeEntry(scratch.path(), key, {{spool::RecordType::Fields, patterned(10)}},
            spool::kDefaultChunkSize, spool::EntryKind::Report, uuid);
        CHECK(path == scratch.path() / (uuid.toString() + ".entry"));
        struct stat status {};
        REQUIRE(::stat(path.c_str(), &status) == 0);
        CHECK((status.st_mode & 07777) == 0640);
        CHECK_FALSE(fs::exists(scratch.path() / ("." + uuid.toString() + ".partial")));
        CHECK(std::distance(fs::directory_iterator(scratch.path()), fs::directory_iterator()) == 1);
    }

    SECTION("A second writer for the same UUID is rejected while the first is open")
    {
        const Uuid uuid = Uuid::generate();
        spool::Writer first(scratch.path(), spool::EntryKind::Report, uuid, key.publicKey);
        try {
            spool::Writer second(scratch.path(), spool::EntryKind::Report, uuid, key.publicKey);
            FAIL("a second writer opened the same partial file");
        } catch (const std::system_error& error) {
            CHECK(error.code().value() == EEXIST);
        }
    }
}

TEST_CASE("Spool writer reports missing permission", "[spool]")
{
    ScratchFolder scratch("spool-permission");
    const IntakeKey key;

    SECTION("Writing into a folder without write permission fails with EACCES")
    {
        if (::geteuid() == 0)
            SKIP("running as root, which bypasses folder permissions, so EACCES cannot occur");
        const fs::path locked = scratch.path() / "locked";
        fs::create_directory(locked);
        fs::permissions(locked, fs::perms(0555));
        try {
            spool::Writer writer(locked, spool::EntryKind::Report, Uuid::generate(), key.publicKey);
            FAIL("the writer created a file in a read-only folder");
        } catch (const std::system_error& error) {
            CHECK(error.code().value() == EACCES);
        }
        fs::permissions(locked, fs::perms(0755));
    }
}


TEST_CASE("Spool piece headers and numbering", "[spool]")
{
    ScratchFolder scratch("spool-pieces");
    spool::PieceHeader header;
    header.id = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    header.chunkSize = 4096;
    const auto bytes = header.serialize();

    SECTION("a header reads back as written")
    {
        const auto parsed = spool::PieceHeader::parse(bytes);
        CHECK(parsed.id == header.id);
        CHECK(parsed.chunkSize == 4096);
    }
    SECTION("a wrong magic, chunk size or length is rejected")
    {
        auto wrong = bytes;
        wrong[0] ^= 1;
        CHECK_THROWS_AS(spool::PieceHeader::parse(wrong), spool::FormatError);
        auto tiny = bytes;
        tiny[24] = tiny[25] = tiny[26] = 0;
        tiny[27] = 16;
        CHECK_THROWS_AS(spool::PieceHeader::parse(tiny), spool::FormatError);
        auto huge = bytes;
        huge[24] = 0x7f;
        CHECK_THROWS_AS(spool::PieceHeader::parse(huge), spool::FormatError);
        CHECK_THROWS_AS(spool::PieceHeader::parse(std::span(bytes).first(27)), spool::FormatError);
    }
    SECTION("an entry's pieces are those numbered from 0 up to the first gap")
    {
        const Uuid uuid = Uuid::generate();
        const fs::path entry = scratch.path() / (uuid.toString() + spool::kEntrySuffix);
        CHECK(spool::piecesOf(entry).empty());
        for (std::size_t position : {0, 1, 3})
            std::ofstream(spool::piecePath(scratch.path(), uuid, position)) << "piece";
        std::ofstream(spool::piecePath(scratch.path(), Uuid::generate(), 2)) << "another entry's piece";
        const auto pieces = spool::piecesOf(entry);
        REQUIRE(pieces.size() == 2);
        CHECK(pieces[0].filename() == uuid.toString() + ".0.piece");
        CHECK(pieces[1].filename() == uuid.toString() + ".1.piece");
    }
}
