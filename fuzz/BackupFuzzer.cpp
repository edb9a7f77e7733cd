// Fuzzes the restore of a backup file. A backup comes back from the
// operator's storage, which may have damaged it, so a restore must reject
// anything but an intact backup for its key, and leave nothing behind.
//
// The first input byte selects how the rest is used:
//  - even: the rest is the backup file as it is;
//  - odd: the rest is the plain text of the records, which this target
//    encrypts into chunks under a valid header for the fixed recipient key,
//    so that the fuzzer reaches the record and manifest parsing behind the
//    authentication tags. docs/backup-format.md describes the layout.

#include "FuzzSupport.h"

#include "Backup.h"
#include "Crypto.h"

#include <algorithm>
#include <string_view>
#include <system_error>

using namespace meldpunt;
using Bytes = std::vector<std::uint8_t>;
namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t kChunkSize = 1024;
// Inputs over this size add no new structure, only work, because the
// restore copies every byte at least twice.
constexpr std::size_t kMaxInput = 256 * 1024;

struct Keys {
    crypto::X25519KeyPair recipient;
    crypto::X25519KeyPair ephemeral;

    Keys()
        : recipient(crypto::X25519KeyPair::fromPrivate(Bytes(32, 0x55)))
        , ephemeral(crypto::X25519KeyPair::fromPrivate(Bytes(32, 0x66)))
    {
    }
};

const Keys& keys()
{
    static const Keys fixed;
    return fixed;
}

void putBigEndian(std::uint8_t* out, std::uint64_t value, int width)
{
    for (int i = width - 1; i >= 0; --i, value >>= 8)
        out[i] = static_cast<std::uint8_t>(value & 0xff);
}

Bytes sealedBackup(std::span<const std::uint8_t> plain)
{
    std::array<std::uint8_t, storage::kBackupHeaderSize> header{};
    std::copy(storage::kBackupMagic.begin(), storage::kBackupMagic.end(), header.begin());
    putBigEndian(header.data() + 8, storage::kBackupFormatVersion, 2);
    putBigEndian(header.data() + 12, kChunkSize, 4);
    crypto::Sha256 digest;
    digest.update(keys().recipient.publicKey);
    const auto fingerprint = digest.finish();
    std::copy_n(fingerprint.begin(), 16, header.begin() + 16);
    std::copy(keys().ephemeral.publicKey.begin(), keys().ephemeral.publicKey.end(), header.begin() + 32);

    const SecretBytes shared = crypto::x25519(keys().ephemeral.privateKey.span(), keys().recipient.publicKey);
    constexpr std::string_view label = "meldpunt backup v1 chunk key";
    // Reserving first keeps g++ 12 from a false -Warray-bounds warning on
    // the inserts below.
    Bytes info;
    info.reserve(label.size() + header.size() + keys().recipient.publicKey.size());
    info.insert(info.end(), label.begin(), label.end());
    info.insert(info.end(), header.begin(), header.end());
    info.insert(info.end(), keys().recipient.publicKey.begin(), keys().recipient.publicKey.end());
    const SecretBytes key = crypto::hkdfSha256(shared.span(), {}, info, crypto::kAes256KeySize);

    Bytes backup(header.begin(), header.end());
    std::uint64_t counter = 0;
    std::size_t offset = 0;
    while (true) {
        const std::size_t take = std::min<std::size_t>(kChunkSize, plain.size() - offset);
        const bool final = take < kChunkSize;
        std::array<std::uint8_t, crypto::kGcmNonceSize> nonce{};
        putBigEndian(nonce.data(), counter++, 8);
        nonce[11] = final ? 1 : 0;
        const auto sealed = crypto::seal(key.span(), nonce, header, plain.subspan(offset, take));
        backup.insert(backup.end(), sealed.begin(), sealed.end());
        offset += take;
        if (final)
            break;
    }
    return backup;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0 || size > kMaxInput)
        return 0;
    const fs::path work = fuzz::scratchFolder() / "backup";
    const fs::path scratch = work / "scratch";
    const fs::path backup = work / "input.backup";
    const fs::path restored = work / "restored" / "meldpunt.db";
    fs::create_directories(scratch);
    fs::create_directories(restored.parent_path());

    const std::span<const std::uint8_t> rest(data + 1, size - 1);
    if ((data[0] & 1) == 0)
        fuzz::writeFile(backup, rest);
    else
        fuzz::writeFile(backup, sealedBackup(rest));

    const SecretBytes newDataKey(crypto::kAes256KeySize);
    bool restoredOk = false;
    try {
        storage::restoreBackup(backup, keys().recipient.privateKey.span(), scratch, restored, newDataKey);
        restoredOk = true;
    } catch (const storage::BackupError&) {
    }
    FUZZ_CHECK(fs::is_empty(scratch), "a restore left the snapshot in the scratch folder");
    if (restoredOk) {
        FUZZ_CHECK(fs::exists(restored), "a restore reported success without a database");
        fs::remove_all(restored.parent_path());
        fs::create_directories(restored.parent_path());
    } else {
        FUZZ_CHECK(fs::is_empty(restored.parent_path()), "a rejected restore left a file at the target");
    }
    return 0;
}
