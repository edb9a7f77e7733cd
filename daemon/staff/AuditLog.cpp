#include "AuditLog.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>
#include <memory>
#include <stdexcept>

namespace meldpunt::staff {

namespace {

using Hash = std::array<std::uint8_t, SHA256_DIGEST_LENGTH>;

struct DigestFree {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

// Feeds each field with an 8-byte length in front, so that no two
// different entries serialise to the same bytes.
class ChainHasher {
public:
    ChainHasher()
        : context_(EVP_MD_CTX_new())
    {
        if (!context_ || EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) != 1)
            throw std::runtime_error("SHA-256 is not available");
    }

    ChainHasher& add(std::span<const std::uint8_t> bytes)
    {
        std::array<std::uint8_t, 8> length{};
        for (std::size_t index = 0; index < length.size(); ++index)
            length[index] = static_cast<std::uint8_t>(bytes.size() >> (8 * (7 - index)));
        EVP_DigestUpdate(context_.get(), length.data(), length.size());
        EVP_DigestUpdate(context_.get(), bytes.data(), bytes.size());
        return *this;
    }

    ChainHasher& add(const std::string& text)
    {
        return add(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
    }

    Hash finish()
    {
        Hash hash{};
        unsigned int size = 0;
        if (EVP_DigestFinal_ex(context_.get(), hash.data(), &size) != 1 || size != hash.size())
            throw std::runtime_error("SHA-256 failed");
        return hash;
    }

private:
    std::unique_ptr<EVP_MD_CTX, DigestFree> context_;
};

// The chain starts from 32 zero bytes.
constexpr Hash kGenesis{};

Hash entryHash(std::span<const std::uint8_t> previous, const AuditEntry& entry)
{
    return ChainHasher()
        .add(std::string("meldpunt audit v1"))
        .add(previous)
        .add(std::to_string(entry.id))
        .add(entry.at)
        .add(std::to_string(entry.accountId))
        .add(entry.username)
        .add(entry.address)
        .add(entry.action)
        .add(entry.objectType)
        .add(entry.objectId)
        .finish();
}

constexpr const char* kColumns = "id, at, coalesce(account_id, 0), username, address, action, object_type, object_id";

AuditEntry readEntry(const storage::Statement& row)
{
    AuditEntry entry;
    entry.id = row.columnInt(0);
    entry.at = row.columnText(1);
    entry.accountId = row.columnInt(2);
    entry.username = row.columnText(3);
    entry.address = row.columnText(4);
    entry.action = row.columnText(5);
    entry.objectType = row.columnText(6);
    entry.objectId = row.columnText(7);
    return entry;
}

std::string csvField(const std::string& text)
{
    std::string quoted = "\"";
    for (char c : text) {
        if (c == '"')
            quoted += '"';
        quoted += c;
    }
    return quoted + "\"";
}

} // namespace

AuditLog::AuditLog(storage::Database& database, Clock clock)
    : database_(database)
    , clock_(std::move(clock))
{
}

std::int64_t AuditLog::record(const Actor& actor, const std::string& action, const std::string& objectType,
    const std::string& objectId)
{
    std::int64_t id = 0;
    database_.transaction([&] {
        std::vector<std::uint8_t> previous(kGenesis.begin(), kGenesis.end());
        std::int64_t lastId = 0;
        auto last = database_.prepare("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1");
        if (last.step()) {
            lastId = last.columnInt(0);
            previous = last.columnBlob(1);
        } else {
            auto checkpoint = database_.prepare(
                "SELECT last_entry_id, last_entry_hash FROM audit_checkpoints ORDER BY id DESC LIMIT 1");
            if (checkpoint.step()) {
                lastId = checkpoint.columnInt(0);
                previous = checkpoint.columnBlob(1);
            }
        }
        AuditEntry entry{lastId + 1, formatUtc(clock_()), actor.accountId, actor.username, actor.address, action,
            objectType, objectId};
        const Hash hash = entryHash(previous, entry);
        auto insert = database_.prepare("INSERT INTO audit_log (id, at, account_id, username, address, action, "
                                        "object_type, object_id, previous_hash, hash) "
                                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        insert.bind(1, entry.id).bind(2, entry.at);
        if (entry.accountId == 0)
            insert.bindNull(3);
        else
            insert.bind(3, entry.accountId);
        insert.bind(4, entry.username).bind(5, entry.address).bind(6, action).bind(7, objectType).bind(8, objectId);
        insert.bind(9, std::span<const std::uint8_t>(previous)).bind(10, std::span<const std::uint8_t>(hash));
        insert.run();
        id = entry.id;
    });
    return id;
}

std::vector<AuditEntry> AuditLog::entries(std::size_t limit, std::int64_t beforeId)
{
    auto query = database_.prepare(std::string("SELECT ") + kColumns
        + " FROM audit_log WHERE (? = 0 OR id < ?) ORDER BY id DESC LIMIT ?");
    query.bind(1, beforeId).bind(2, beforeId).bind(3, static_cast<std::int64_t>(limit));
    std::vector<AuditEntry> list;
    while (query.step())
        list.push_back(readEntry(query));
    return list;
}

std::vector<AuditEntry> AuditLog::allEntries()
{
    auto query = database_.prepare(std::string("SELECT ") + kColumns + " FROM audit_log ORDER BY id");
    std::vector<AuditEntry> list;
    while (query.step())
        list.push_back(readEntry(query));
    return list;
}

AuditVerification AuditLog::verify()
{
    AuditVerification result;
    std::vector<std::uint8_t> expectedPrevious(kGenesis.begin(), kGenesis.end());
    std::int64_t expectedId = 1;
    auto checkpoint = database_.prepare(
        "SELECT last_entry_id, last_entry_hash FROM audit_checkpoints ORDER BY id DESC LIMIT 1");
    if (checkpoint.step()) {
        expectedId = checkpoint.columnInt(0) + 1;
        expectedPrevious = checkpoint.columnBlob(1);
    }
    auto query = database_.prepare(std::string("SELECT ") + kColumns
        + ", previous_hash, hash FROM audit_log WHERE id >= ? ORDER BY id");
    query.bind(1, expectedId);
    while (query.step()) {
        const AuditEntry entry = readEntry(query);
        const auto previous = query.columnBlob(8);
        const auto stored = query.columnBlob(9);
        ++result.entriesChecked;
        std::string problem;
        if (entry.id != expectedId)
            problem = "entry " + std::to_string(expectedId) + " is missing before it";
        else if (previous != expectedPrevious)
            problem = "its link to the previous entry does not match";
        else if (const Hash hash = entryHash(previous, entry); !std::equal(hash.begin(), hash.end(), stored.begin(), stored.end()))
            problem = "its content does not match its hash";
        if (!problem.empty()) {
            result.intact = false;
            result.firstBrokenId = entry.id;
            result.problem = problem;
            return result;
        }
        expectedPrevious = stored;
        ++expectedId;
    }
    return result;
}

std::int64_t AuditLog::pruneBefore(TimePoint cutoff)
{
    std::int64_t deleted = 0;
    const std::string cutoffText = formatUtc(cutoff);
    database_.transaction([&] {
        auto last = database_.prepare("SELECT id, hash FROM audit_log WHERE at < ? ORDER BY id DESC LIMIT 1");
        last.bind(1, cutoffText);
        if (!last.step())
            return;
        const std::int64_t lastId = last.columnInt(0);
        const auto lastHash = last.columnBlob(1);
        database_.prepare("INSERT INTO audit_checkpoints (at, last_entry_id, last_entry_hash) VALUES (?, ?, ?)")
            .bind(1, formatUtc(clock_()))
            .bind(2, lastId)
            .bind(3, std::span<const std::uint8_t>(lastHash))
            .run();
        auto remove = database_.prepare("DELETE FROM audit_log WHERE id <= ?");
        remove.bind(1, lastId).run();
        auto count = database_.prepare("SELECT changes()");
        deleted = count.step() ? count.columnInt(0) : 0;
    });
    return deleted;
}

std::string AuditLog::exportCsv()
{
    std::string csv = "id,at,account_id,username,address,action,object_type,object_id\r\n";
    for (const auto& entry : allEntries()) {
        csv += std::to_string(entry.id) + "," + csvField(entry.at) + "," + std::to_string(entry.accountId) + ","
            + csvField(entry.username) + "," + csvField(entry.address) + "," + csvField(entry.action) + ","
            + csvField(entry.objectType) + "," + csvField(entry.objectId) + "\r\n";
    }
    return csv;
}

} // namespace meldpunt::staff
