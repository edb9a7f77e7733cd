#include "IntakeKeys.h"

#include <algorithm>

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

} // namespace meldpunt::storage
