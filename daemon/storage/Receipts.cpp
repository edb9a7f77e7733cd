#include "Receipts.h"

#include "FileSystem.h"
#include "ReportDeletion.h"
#include "SealedBox.h"
#include "Uuid.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <sys/stat.h>

#include <cerrno>
#include <set>
#include <sstream>
#include <system_error>

namespace meldpunt::storage {

namespace fs = std::filesystem;

namespace {

std::optional<std::int64_t> reportIdFor(Database& database, const std::string& reference)
{
    auto query = database.prepare("SELECT id FROM reports WHERE reference = ?");
    query.bind(1, reference);
    if (!query.step())
        return std::nullopt;
    return query.columnInt(0);
}

// The report's id when it has a receipt and was not withdrawn.
std::optional<std::int64_t> openReceiptFor(Database& database, const std::string& reference)
{
    auto query = database.prepare(
        "SELECT r.id FROM reports r JOIN receipts c ON c.report_id = r.id "
        "WHERE r.reference = ? AND c.withdrawn_at IS NULL");
    query.bind(1, reference);
    if (!query.step())
        return std::nullopt;
    return query.columnInt(0);
}

void markForPublishing(Database& database, std::int64_t reportId)
{
    database.prepare("UPDATE receipts SET needs_publish = 1 WHERE report_id = ?").bind(1, reportId).run();
}

fs::path receiptsFolder(const fs::path& publishFolder)
{
    return publishFolder / "receipts";
}

void ensureFolder(const fs::path& folder)
{
    // As in Publisher: the mode comes from mkdir under a umask, so the
    // folder keeps the publish folder's set-group-ID group.
    const mode_t previous = ::umask(027);
    const int made = ::mkdir(folder.c_str(), 0750);
    ::umask(previous);
    if (made != 0 && errno != EEXIST)
        throw std::system_error(errno, std::generic_category(), "creating '" + folder.string() + "'");
}

std::string receiptJson(Database& database, std::int64_t reportId, const std::string& reference,
    const std::string& hash, const crypto::X25519PublicKey& publicKey, bool withdrawn, const std::string& status)
{
    Poco::JSON::Array replies;
    auto messages = database.prepare(
        "SELECT id, at, body FROM reporter_messages WHERE report_id = ? AND direction = 'to_reporter' ORDER BY id");
    messages.bind(1, reportId);
    while (messages.step()) {
        const std::int64_t id = messages.columnInt(0);
        const std::string body = messages.columnText(2);
        Poco::JSON::Object reply;
        reply.set("id", id);
        reply.set("at", messages.columnText(1));
        reply.set("sealed", crypto::toBase64(crypto::sealToPublicKey(publicKey,
            "meldpunt reply " + reference + " " + std::to_string(id), crypto::asBytes(body))));
        replies.add(reply);
    }
    Poco::JSON::Object root;
    root.set("format", "meldpunt-receipt");
    root.set("version", 1);
    root.set("reference", reference);
    root.set("hash", hash);
    root.set("state", withdrawn ? "withdrawn" : status);
    root.set("can_withdraw", !withdrawn && status != "referred");
    root.set("replies", replies);
    std::ostringstream out;
    root.stringify(out);
    return out.str();
}

} // namespace

std::string receiptFileName(const std::string& reference)
{
    const auto uuid = uuidFromReference(reference);
    return (uuid ? uuid->toString() : reference) + ".json";
}

void storeReceipt(Database& database, std::int64_t reportId, const std::string& secretHash,
    const crypto::X25519PublicKey& publicKey)
{
    database.prepare("INSERT INTO receipts (report_id, secret_hash, public_key) VALUES (?, ?, ?)")
        .bind(1, reportId)
        .bind(2, secretHash)
        .bind(3, publicKey)
        .run();
}

std::int64_t addStaffMessage(Database& database, const std::string& reference, const std::string& text,
    const std::string& nowUtc)
{
    std::int64_t id = 0;
    database.transaction([&] {
        const auto reportId = openReceiptFor(database, reference);
        if (!reportId)
            throw NoReceiptError("report '" + reference + "' has no receipt or was withdrawn");
        database.prepare("INSERT INTO reporter_messages (report_id, direction, at, body) VALUES (?, 'to_reporter', ?, ?)")
            .bind(1, *reportId)
            .bind(2, nowUtc)
            .bind(3, text)
            .run();
        id = database.lastInsertId();
        markForPublishing(database, *reportId);
    });
    return id;
}

bool storeReporterMessage(Database& database, const std::string& reference,
    std::span<const std::uint8_t> entryUuid, const std::string& text, const std::string& nowUtc)
{
    const auto reportId = openReceiptFor(database, reference);
    if (!reportId)
        return false;
    database.prepare("INSERT INTO reporter_messages (report_id, direction, entry_uuid, at, body) "
                     "VALUES (?, 'from_reporter', ?, ?, ?)")
        .bind(1, *reportId)
        .bind(2, entryUuid)
        .bind(3, nowUtc)
        .bind(4, text)
        .run();
    return true;
}

WithdrawalResult withdrawReport(Database& database, const std::string& reference, const std::string& nowUtc,
    DeletedFiles& files)
{
    const auto reportId = reportIdFor(database, reference);
    if (!reportId)
        return WithdrawalResult::UnknownReference;
    auto query = database.prepare(
        "SELECT r.status, c.withdrawn_at IS NOT NULL FROM reports r JOIN receipts c ON c.report_id = r.id WHERE r.id = ?");
    query.bind(1, *reportId);
    if (!query.step())
        return WithdrawalResult::UnknownReference;
    if (query.columnInt(1) != 0)
        return WithdrawalResult::AlreadyWithdrawn;
    if (query.columnText(0) == "referred")
        return WithdrawalResult::Referred;
    deleteReportContent(database, *reportId, files);
    database.prepare("UPDATE receipts SET withdrawn_at = ?, needs_publish = 1 WHERE report_id = ?")
        .bind(1, nowUtc)
        .bind(2, *reportId)
        .run();
    return WithdrawalResult::Withdrawn;
}

int publishReceipts(Database& database, const fs::path& publishFolder)
{
    const fs::path folder = receiptsFolder(publishFolder);
    ensureFolder(folder);
    int written = 0;
    database.transaction([&] {
        auto pending = database.prepare(
            "SELECT r.id, r.reference, c.secret_hash, c.public_key, c.withdrawn_at IS NOT NULL, r.status "
            "FROM receipts c JOIN reports r ON r.id = c.report_id WHERE c.needs_publish = 1");
        while (pending.step()) {
            const std::int64_t reportId = pending.columnInt(0);
            const std::string reference = pending.columnText(1);
            const auto keyBytes = pending.columnBlob(3);
            crypto::X25519PublicKey publicKey{};
            std::copy_n(keyBytes.begin(), publicKey.size(), publicKey.begin());
            const std::string json = receiptJson(database, reportId, reference, pending.columnText(2), publicKey,
                pending.columnInt(4) != 0, pending.columnText(5));
            fsutil::writeFileAtomically(folder / receiptFileName(reference), crypto::asBytes(json), 0640);
            ++written;
        }
        database.exec("UPDATE receipts SET needs_publish = 0 WHERE needs_publish = 1");
    });
    return written;
}

} // namespace meldpunt::storage
