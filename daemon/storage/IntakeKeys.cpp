#include "IntakeKeys.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <set>
#include <vector>

namespace meldpunt::storage {

spool::IntakePublicKey IntakeKeys::ensureCurrent(const std::string& nowUtc)
{
    spool::IntakePublicKey key;
    {
        auto query = database_.prepare(
            "SELECT id, public_key FROM intake_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1");
        if (query.step()) {
            const auto id = query.columnBlob(0);
            const auto publicKey = query.columnBlob(1);
            std::copy(id.begin(), id.end(), key.id.begin());
            std::copy(publicKey.begin(), publicKey.end(), key.key.begin());
            return key;
        }
    }
    const auto pair = crypto::X25519KeyPair::generate();
    const auto id = crypto::randomBytes(key.id.size());
    std::copy(id.begin(), id.end(), key.id.begin());
    key.key = pair.publicKey;
    database_.prepare("INSERT INTO intake_keys (id, public_key, private_key, created_at) VALUES (?, ?, ?, ?)")
        .bind(1, key.id)
        .bind(2, key.key)
        .bind(3, pair.privateKey.span())
        .bind(4, nowUtc)
        .run();
    return key;
}

std::optional<SecretBytes> IntakeKeys::privateKey(const spool::KeyId& id)
{
    auto query = database_.prepare("SELECT private_key FROM intake_keys WHERE id = ?");
    query.bind(1, id);
    if (!query.step())
        return std::nullopt;
    auto bytes = query.columnBlob(0);
    SecretBytes key(bytes.size());
    std::copy(bytes.begin(), bytes.end(), key.data());
    std::fill(bytes.begin(), bytes.end(), 0);
    return key;
}

std::optional<spool::IntakePublicKey> IntakeKeys::rotateIfCreatedBefore(const std::string& createdBeforeUtc,
    const std::string& nowUtc)
{
    std::optional<spool::IntakePublicKey> rotated;
    database_.transaction([&] {
        auto current = database_.prepare(
            "SELECT created_at < ? FROM intake_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1");
        current.bind(1, createdBeforeUtc);
        if (current.step() && current.columnInt(0) == 0)
            return;
        database_.prepare("UPDATE intake_keys SET retired_at = ? WHERE retired_at IS NULL").bind(1, nowUtc).run();
        rotated = ensureCurrent(nowUtc);
    });
    return rotated;
}

namespace {

// The intake key ids of the spool files in `folder` (not recursive). A
// file too short or damaged to have a header is skipped: no key opens it.
void collectKeyIds(const std::filesystem::path& folder, std::set<std::vector<std::uint8_t>>& ids)
{
    std::error_code error;
    for (const auto& item : std::filesystem::directory_iterator(folder, error)) {
        if (!item.is_regular_file(error))
            continue;
        std::ifstream in(item.path(), std::ios::binary);
        std::array<std::uint8_t, spool::kHeaderSize> bytes{};
        if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())))
            continue;
        try {
            const auto header = spool::Header::parse(bytes);
            ids.emplace(header.intakeKeyId.begin(), header.intakeKeyId.end());
        } catch (const spool::FormatError&) {
        }
    }
}

} // namespace

int IntakeKeys::destroyUnusedRetired(const std::filesystem::path& spoolFolder, const std::string& retiredBeforeUtc)
{
    int destroyed = 0;
    database_.transaction([&] {
        std::vector<std::vector<std::uint8_t>> retired;
        auto query = database_.prepare("SELECT id FROM intake_keys WHERE retired_at IS NOT NULL AND retired_at < ?");
        query.bind(1, retiredBeforeUtc);
        while (query.step())
            retired.push_back(query.columnBlob(0));
        if (retired.empty())
            return;
        // An entry stays in the spool until its report is committed, and
        // meldpunt-public writes it as a .partial file from the moment it
        // takes the key, so a key no file names is needed by none. The
        // grace period before `retiredBeforeUtc` covers a writer that took
        // the old key just before the rotation.
        std::set<std::vector<std::uint8_t>> inUse;
        collectKeyIds(spoolFolder, inUse);
        collectKeyIds(spoolFolder / "quarantine", inUse);
        for (const auto& id : retired) {
            if (inUse.contains(id))
                continue;
            database_.prepare("DELETE FROM intake_keys WHERE id = ?").bind(1, std::span<const std::uint8_t>(id)).run();
            ++destroyed;
        }
    });
    return destroyed;
}

} // namespace meldpunt::storage
