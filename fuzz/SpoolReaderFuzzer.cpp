// Fuzzes the reading of spool entries. meldpunt-public writes them, so a
// compromised public process can put any bytes into the spool folder, and
// meldpuntd must reject whatever is not a well-formed entry.
//
// The first input byte selects how the rest is used:
//  - even: the rest is the entry file as it is;
//  - odd: the rest is the plain text of the records, which this target
//    encrypts into chunks under a valid header, so that the fuzzer reaches
//    the record parsing behind the authentication tags. The second byte
//    then picks the entry kind and damage to the chunk layout.
// The key lookup returns one fixed intake private key for every key id but
// one, so the reader gets past the lookup, and that one id is an unknown key.

#include "FuzzSupport.h"

#include "Crypto.h"
#include "Spool.h"

#include <algorithm>
#include <system_error>
#include <vector>

using namespace meldpunt;
using Bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::uint32_t kChunkSize = spool::kMinChunkSize;

struct Keys {
    crypto::X25519KeyPair intake;
    crypto::X25519KeyPair ephemeral;
    spool::KeyId intakeId{};

    Keys()
        : intake(crypto::X25519KeyPair::fromPrivate(Bytes(32, 0x11)))
        , ephemeral(crypto::X25519KeyPair::fromPrivate(Bytes(32, 0x22)))
    {
        std::fill(intakeId.begin(), intakeId.end(), std::uint8_t{0x33});
    }
};

const Keys& keys()
{
    static const Keys fixed;
    return fixed;
}

std::optional<SecretBytes> lookup(const spool::KeyId& id)
{
    // An id of all 0xff bytes plays the part of a destroyed key.
    if (std::all_of(id.begin(), id.end(), [](std::uint8_t b) { return b == 0xff; }))
        return std::nullopt;
    SecretBytes key(crypto::kX25519KeySize);
    const auto source = keys().intake.privateKey.span();
    std::copy(source.begin(), source.end(), key.data());
    return key;
}

std::array<std::uint8_t, crypto::kGcmNonceSize> nonceFor(std::uint64_t counter, bool final)
{
    std::array<std::uint8_t, crypto::kGcmNonceSize> nonce{};
    for (int i = 7; i >= 0; --i, counter >>= 8)
        nonce[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(counter & 0xff);
    nonce[11] = final ? 1 : 0;
    return nonce;
}

// Builds an entry whose chunks carry `plain`, as the writer lays them out,
// then applies the damage that `options` selects.
Bytes sealedEntry(std::uint8_t options, std::span<const std::uint8_t> plain)
{
    spool::Header header;
    header.kind = static_cast<spool::EntryKind>(1 + options % 5);
    std::fill(header.uuid.bytes.begin(), header.uuid.bytes.end(), std::uint8_t{0x44});
    header.intakeKeyId = keys().intakeId;
    header.ephemeralKey = keys().ephemeral.publicKey;
    header.chunkSize = kChunkSize;
    const auto headerBytes = header.serialize();
    const SecretBytes shared = crypto::x25519(keys().ephemeral.privateKey.span(), keys().intake.publicKey);
    const SecretBytes key = spool::deriveChunkKey(shared.span(), headerBytes);

    const bool dropFinalFlag = options & 0x08;
    const bool trailingByte = options & 0x10;
    const bool swapFirstChunks = options & 0x20;

    std::vector<Bytes> chunks;
    std::uint64_t counter = 0;
    std::size_t offset = 0;
    while (true) {
        const std::size_t take = std::min<std::size_t>(kChunkSize, plain.size() - offset);
        const bool final = take < kChunkSize;
        chunks.push_back(crypto::seal(key.span(), nonceFor(counter++, final && !dropFinalFlag), headerBytes,
            plain.subspan(offset, take)));
        offset += take;
        if (final)
            break;
    }
    if (swapFirstChunks && chunks.size() > 1)
        std::swap(chunks[0], chunks[1]);

    Bytes entry(headerBytes.begin(), headerBytes.end());
    for (const auto& chunk : chunks)
        entry.insert(entry.end(), chunk.begin(), chunk.end());
    if (trailingByte)
        entry.push_back(0);
    return entry;
}

void checkHeader(std::span<const std::uint8_t> bytes)
{
    try {
        const auto header = spool::Header::parse(bytes);
        const auto again = header.serialize();
        FUZZ_CHECK(std::equal(again.begin(), again.end(), bytes.begin()),
            "a parsed header does not serialise to the same bytes");
    } catch (const spool::FormatError&) {
    }
}

void readEntry(const std::filesystem::path& path, std::span<const std::uint8_t> plain, bool plainKnown)
{
    try {
        spool::Reader reader(path, lookup);
        Bytes seen;
        // Every record takes at least its 5 header bytes of plain text, so
        // no valid entry of this size has more records than this.
        const std::size_t maxRecords = plain.size() / 5 + 1;
        std::size_t records = 0;
        while (const auto record = reader.next()) {
            FUZZ_CHECK(++records <= maxRecords, "more records than the entry can hold");
            if (plainKnown) {
                seen.push_back(static_cast<std::uint8_t>(record->type));
                const auto size = record->payload.size();
                for (int shift = 24; shift >= 0; shift -= 8)
                    seen.push_back(static_cast<std::uint8_t>(size >> shift));
                seen.insert(seen.end(), record->payload.begin(), record->payload.end());
                FUZZ_CHECK(seen.size() <= plain.size() && std::equal(seen.begin(), seen.end(), plain.begin()),
                    "a record differs from the plain text that was sealed");
            }
        }
        // After the end record the entry stays finished.
        FUZZ_CHECK(!reader.next().has_value(), "a record after the end record");
        FUZZ_CHECK(!reader.next().has_value(), "a record after the end record");
    } catch (const spool::FormatError&) {
    } catch (const std::system_error&) {
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0)
        return 0;
    const std::span<const std::uint8_t> input(data, size);
    const auto path = fuzz::scratchFolder() / "input.entry";
    const auto rest = input.subspan(1);
    if ((data[0] & 1) == 0) {
        checkHeader(rest);
        fuzz::writeFile(path, rest);
        readEntry(path, rest, false);
        return 0;
    }
    if (rest.empty())
        return 0;
    const auto plain = rest.subspan(1);
    fuzz::writeFile(path, sealedEntry(rest[0], plain));
    readEntry(path, plain, true);
    return 0;
}
