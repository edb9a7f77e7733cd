#include "StaffDatabase.h"

#include "Crypto.h"
#include "Migrations.h"

namespace meldpunt::test {

StaffDatabase::StaffDatabase(const std::string& name)
    : scratch(name)
    , key(crypto::randomBytes(32))
    , database(std::make_unique<storage::Database>(scratch.path() / "meldpunt.db", key,
          storage::OpenMode::CreateNew))
    , now(staff::parseUtc("2026-12-02T10:00:00Z"))
{
    storage::migrate(*database);
}

std::int64_t StaffDatabase::addReport(const std::string& text, const std::string& receivedAt, bool anonymous,
    const std::string& country)
{
    const auto uuid = crypto::randomBytes(16);
    database->prepare("INSERT INTO spool_entries (entry_uuid, kind, ingested_at) VALUES (?, 1, ?)")
        .bind(1, std::span<const std::uint8_t>(uuid))
        .bind(2, receivedAt)
        .run();
    auto insert = database->prepare(
        "INSERT INTO reports (entry_uuid, reference, received_at, ingested_at, language, channel, category, country, "
        "place, occurred, what, anonymous, contact_name, contact_email, contact_phone, consent) "
        "VALUES (?, ?, ?, ?, 'en', 'form', 'travel', ?, ?, ?, ?, ?, ?, ?, ?, 1)");
    insert.bind(1, std::span<const std::uint8_t>(uuid)).bind(2, "MP-" + crypto::toHex(uuid).substr(0, 8));
    insert.bind(3, receivedAt).bind(4, receivedAt).bind(5, country).bind(6, text).bind(7, text).bind(8, text);
    insert.bind(9, std::int64_t{anonymous ? 1 : 0});
    if (anonymous) {
        insert.bindNull(10).bindNull(11).bindNull(12);
    } else {
        insert.bind(10, text).bind(11, "reporter@example.org").bind(12, text);
    }
    insert.run();
    return database->lastInsertId();
}

} // namespace meldpunt::test
