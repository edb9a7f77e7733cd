#include "Ingester.h"

#include "FaultPoint.h"
#include "FileSystem.h"
#include "FormData.h"
#include "Log.h"
#include "ReceiptSecret.h"
#include "MailOutbox.h"
#include "Receipts.h"
#include "Statistics.h"
#include "ReportForm.h"
#include "Uuid.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <set>
#include <cstring>
#include <system_error>

namespace meldpunt::storage {

namespace fs = std::filesystem;

namespace {

std::string utcNow()
{
    return Poco::DateTimeFormatter::format(Poco::DateTime(), Poco::DateTimeFormat::ISO8601_FORMAT);
}

struct ReportRecord {
    std::string receivedAt;
    std::string language;
    std::string channel;
    Poco::JSON::Object::Ptr fields;
    Poco::JSON::Object::Ptr receipt; // null for entries without a receipt
};

ReportRecord parseFields(const std::vector<std::uint8_t>& payload, bool withChannel)
{
    try {
        Poco::JSON::Parser parser;
        const auto root = parser.parse(std::string(payload.begin(), payload.end()))
                              .extract<Poco::JSON::Object::Ptr>();
        if (root->optValue<int>("schema", 0) != 1)
            throw spool::FormatError("entry fields have an unknown schema");
        ReportRecord record;
        record.receivedAt = root->getValue<std::string>("received_at");
        record.language = root->getValue<std::string>("language");
        if (withChannel)
            record.channel = root->getValue<std::string>("channel");
        record.fields = root->getObject("fields");
        if (!record.fields)
            throw spool::FormatError("entry has no fields object");
        record.receipt = root->getObject("receipt");
        return record;
    } catch (const spool::FormatError&) {
        throw;
    } catch (const std::exception& error) {
        throw spool::FormatError(std::string("entry fields are not valid JSON: ") + error.what());
    }
}

// The report_details columns, each named as its form field.
constexpr std::array<const char*, 19> kDetailFields = {"why_suspicious", "city", "venue_type",
    "urls", "suspect_count", "suspect_age", "suspect_gender", "suspect_description",
    "suspect_language", "child_count", "child_age", "child_gender", "child_description",
    "child_language", "action_taken", "remarks", "reporter_age", "reporter_gender", "found_via"};

void storeDetails(Database& database, std::int64_t reportId, const Poco::JSON::Object& fields)
{
    std::string columns = "report_id";
    std::string placeholders = "?";
    for (const char* name : kDetailFields) {
        columns += std::string(", ") + name;
        placeholders += ", ?";
    }
    auto insert = database.prepare(
        "INSERT INTO report_details (" + columns + ") VALUES (" + placeholders + ")");
    insert.bind(1, reportId);
    for (int column = 2; const char* name : kDetailFields)
        insert.bind(column++, fields.optValue<std::string>(name, ""));
    insert.run();
}

StatisticsFacts statisticsFacts(const ReportRecord& report, bool withAttachments)
{
    const auto& fields = *report.fields;
    auto text = [&](const char* name) { return fields.optValue<std::string>(name, ""); };
    StatisticsFacts facts;
    facts.receivedAt = report.receivedAt;
    facts.channel = report.channel;
    facts.category = text("category");
    facts.country = text("country");
    facts.reporterAge = text("reporter_age");
    facts.reporterGender = text("reporter_gender");
    facts.foundVia = text("found_via");
    facts.suspectAge = text("suspect_age");
    facts.suspectGender = text("suspect_gender");
    facts.childAge = text("child_age");
    facts.childGender = text("child_gender");
    facts.anonymous = text("contact") != "contact";
    facts.withAttachments = withAttachments;
    return facts;
}

Poco::JSON::Object::Ptr parseObject(const std::vector<std::uint8_t>& payload, const char* what)
{
    try {
        Poco::JSON::Parser parser;
        auto object = parser.parse(std::string(payload.begin(), payload.end())).extract<Poco::JSON::Object::Ptr>();
        if (!object)
            throw spool::FormatError(std::string(what) + " is not a JSON object");
        return object;
    } catch (const spool::FormatError&) {
        throw;
    } catch (const std::exception& error) {
        throw spool::FormatError(std::string(what) + " is not valid JSON: " + error.what());
    }
}

template <typename T>
T member(const Poco::JSON::Object& object, const char* name, const char* what)
{
    try {
        return object.getValue<T>(name);
    } catch (const std::exception&) {
        throw spool::FormatError(std::string(what) + " lacks a valid \"" + name + "\"");
    }
}

// Reads a report's receipt: the secret's hash and the reporter's public key.
std::optional<std::pair<std::string, crypto::X25519PublicKey>> parseReceipt(const ReportRecord& report)
{
    if (!report.receipt)
        return std::nullopt;
    const std::string hash = report.receipt->optValue<std::string>("hash", "");
    crypto::Bytes key;
    try {
        key = crypto::fromBase64(report.receipt->optValue<std::string>("public_key", ""));
    } catch (const std::invalid_argument&) {
        throw spool::FormatError("report receipt has an invalid public key");
    }
    if (!isReceiptHash(hash) || key.size() != crypto::kX25519KeySize)
        throw spool::FormatError("report receipt has an invalid hash or public key");
    crypto::X25519PublicKey publicKey{};
    std::copy(key.begin(), key.end(), publicKey.begin());
    return std::make_pair(hash, publicKey);
}

// Takes a receipt secret record's bytes into locked memory and wipes the
// record.
ReporterCode readReceiptSecret(std::vector<std::uint8_t>& payload)
{
    if (payload.size() != ReporterCode::kSize) {
        OPENSSL_cleanse(payload.data(), payload.size());
        throw spool::FormatError("report entry has a receipt secret of " + std::to_string(payload.size())
            + " bytes instead of " + std::to_string(ReporterCode::kSize));
    }
    ReporterCode secret = ReporterCode::fromBytes(payload, ReporterCode::Kind::Receipt);
    OPENSSL_cleanse(payload.data(), payload.size());
    return secret;
}

} // namespace

// A report entry as read so far. Attachment files written for it are
// removed again unless the report's transaction committed.
struct Ingester::ReceivedReport {
    struct Attachment {
        std::string name;
        std::string mediaType;
        std::string uploadedAt;
        std::array<std::uint8_t, 32> sha256{};
        std::unique_ptr<AttachmentStore::Writer> file;
    };

    explicit ReceivedReport(const AttachmentStore& attachmentStore)
        : store(attachmentStore)
    {
    }
    ~ReceivedReport()
    {
        if (committed)
            return;
        for (const auto& attachment : attachments)
            store.remove(attachment.file->fileId());
    }
    ReceivedReport(const ReceivedReport&) = delete;
    ReceivedReport& operator=(const ReceivedReport&) = delete;

    const AttachmentStore& store;
    std::optional<ReportRecord> fields;
    std::optional<ReporterCode> receiptSecret;
    std::vector<Attachment> attachments;
    bool committed = false;
};

Ingester::Ingester(Database& database, std::mutex& databaseMutex, fs::path spoolFolder,
    fs::path quarantineFolder, ReceiptHashCost receiptCost)
    : database_(database)
    , databaseMutex_(databaseMutex)
    , intakeKeys_(database)
    , spoolFolder_(std::move(spoolFolder))
    , quarantineFolder_(std::move(quarantineFolder))
    , attachments_(database.path().parent_path() / "attachments")
    , receiptCost_(receiptCost)
{
    // No ingestion has started, so a file that no row names was written
    // for a transaction that never committed.
    std::set<std::string> known;
    auto query = database_.prepare("SELECT file_id FROM attachments");
    while (query.step())
        known.insert(query.columnText(0));
    const std::size_t removed = attachments_.removeOrphans(known);
    if (removed > 0)
        log::info("Removed " + std::to_string(removed) + " attachment files left by an interrupted ingestion");
}

IngestCounts Ingester::runOnce(std::chrono::steady_clock::duration budget, const std::function<bool()>& stopRequested)
{
    IngestCounts counts;
    const auto started = std::chrono::steady_clock::now();
    for (const auto& entry : spool::listEntries(spoolFolder_)) {
        if (std::chrono::steady_clock::now() - started >= budget || (stopRequested && stopRequested())) {
            counts.stoppedEarly = true;
            break;
        }
        try {
            switch (ingest(entry)) {
            case Outcome::Ingested: ++counts.ingested; break;
            case Outcome::Duplicate: ++counts.duplicates; break;
            case Outcome::Deferred: ++counts.deferred; break;
            }
        } catch (const spool::FormatError& error) {
            quarantine(entry, error.what());
            ++counts.quarantined;
        } catch (const DatabaseError& error) {
            log::error("Failed to store spool entry '" + entry.filename().string() + "': " + error.what());
            ++counts.failed;
        } catch (const std::system_error& error) {
            // An I/O error may pass (a file being replaced, a full disk),
            // so the entry stays for the next pass while the others go on.
            log::error("Failed to ingest spool entry '" + entry.filename().string() + "': " + error.what());
            ++counts.failed;
        }
    }
    return counts;
}

Ingester::Outcome Ingester::ingest(const fs::path& entry)
{
    std::unique_lock lock(databaseMutex_);
    spool::Reader reader(entry, [this](const spool::KeyId& id) { return intakeKeys_.privateKey(id); });
    const auto& header = reader.header();
    if (entry.filename().string() != header.uuid.toString() + spool::kEntrySuffix)
        throw spool::FormatError("file name does not match the entry's UUID");

    auto seen = database_.prepare("SELECT 1 FROM spool_entries WHERE entry_uuid = ?");
    seen.bind(1, header.uuid.bytes);
    if (seen.step()) {
        removeEntry(entry);
        return Outcome::Duplicate;
    }
    if (header.kind == spool::EntryKind::Complaint)
        return ingestComplaint(entry, reader);
    if (header.kind == spool::EntryKind::VisitCounts)
        return ingestVisitCounts(entry, reader);
    if (header.kind == spool::EntryKind::FollowUp || header.kind == spool::EntryKind::Withdrawal)
        return ingestReporterEntry(entry, reader);
    if (header.kind != spool::EntryKind::Report)
        return Outcome::Deferred;

    ReceivedReport received(attachments_);
    readReport(reader, received);
    const auto& report = received.fields;
    if (!received.attachments.empty()) {
        // The files' names must be durable before a row can name them.
        attachments_.syncFolder();
        faultPoint("ingest-after-attachment-files");
    }

    auto receipt = parseReceipt(*report);
    if (received.receiptSecret) {
        if (receipt)
            throw spool::FormatError("report entry carries both a receipt secret and a receipt hash");
        // Argon2id takes tens of milliseconds and needs no database, so
        // the staff interface is not kept waiting for it. Only this thread
        // ingests, so the entry cannot be stored meanwhile.
        lock.unlock();
        const ReceiptKeys keys = deriveReceiptKeys(*received.receiptSecret, receiptCost_);
        received.receiptSecret.reset();
        lock.lock();
        receipt = std::make_pair(keys.verifier.hash, keys.verifier.publicKey);
    }
    const auto& fields = *report->fields;
    auto text = [&](const char* name) { return fields.optValue<std::string>(name, ""); };
    const bool anonymous = text("contact") != "contact";
    const std::string now = utcNow();
    database_.transaction([&] {
        database_.prepare("INSERT INTO spool_entries (entry_uuid, kind, ingested_at) VALUES (?, ?, ?)")
            .bind(1, header.uuid.bytes)
            .bind(2, static_cast<std::int64_t>(header.kind))
            .bind(3, now)
            .run();
        auto insert = database_.prepare(
            "INSERT INTO reports (entry_uuid, reference, received_at, ingested_at, language, channel, "
            "category, country, place, occurred, what, anonymous, contact_name, contact_email, "
            "contact_phone, consent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        insert.bind(1, header.uuid.bytes).bind(2, referenceFromUuid(header.uuid)).bind(3, report->receivedAt);
        insert.bind(4, now).bind(5, report->language).bind(6, report->channel).bind(7, text("category"));
        insert.bind(8, text("country")).bind(9, text("place")).bind(10, text("when")).bind(11, text("what"));
        insert.bind(12, std::int64_t{anonymous ? 1 : 0});
        for (int column = 13; const char* name : {"name", "email", "phone"}) {
            if (anonymous)
                insert.bindNull(column++);
            else
                insert.bind(column++, text(name));
        }
        insert.bind(16, std::int64_t{text("consent") == "yes" ? 1 : 0});
        insert.run();
        const std::int64_t reportId = database_.lastInsertId();
        storeDetails(database_, reportId, fields);
        storeAttachments(reportId, received);
        StatisticsFacts facts = statisticsFacts(*report, !received.attachments.empty());
        // The spool's receipt time is meldpunt-public's; without one, the
        // day of ingestion is the nearest day known.
        if (!hasReceiptDay(facts.receivedAt))
            facts.receivedAt = now;
        recordReport(database_, reportId, facts);
        if (receipt)
            storeReceipt(database_, reportId, receipt->first, receipt->second);
        // A reporter who left an e-mail address gets an acknowledgement
        // that carries only the reference.
        if (!anonymous && looksLikeEmail(text("email")))
            queueAcknowledgement(database_, reportId, text("email"), report->language,
                referenceFromUuid(header.uuid), now);
    });
    received.committed = true;
    faultPoint("ingest-after-commit");
    removeEntry(entry);
    return Outcome::Ingested;
}

void Ingester::readReport(spool::Reader& reader, ReceivedReport& report)
{
    while (auto record = reader.next()) {
        if (record->type == spool::RecordType::Fields && !report.fields)
            report.fields = parseFields(record->payload, true);
        else if (record->type == spool::RecordType::ReceiptSecret && report.fields && !report.receiptSecret
            && report.attachments.empty())
            report.receiptSecret = readReceiptSecret(record->payload);
        else if (record->type == spool::RecordType::AttachmentBegin && report.fields)
            receiveAttachment(reader, record->payload, report);
        else
            throw spool::FormatError("report entry has an unexpected record");
    }
    if (!report.fields)
        throw spool::FormatError("report entry has no fields");
}

namespace {

// Reads `length` bytes of hex from a member of an attachment's metadata.
std::vector<std::uint8_t> hexMember(const Poco::JSON::Object& object, const char* name, std::size_t length)
{
    const auto text = member<std::string>(object, name, "attachment metadata");
    std::vector<std::uint8_t> bytes;
    try {
        bytes = crypto::fromHex(text);
    } catch (const std::invalid_argument&) {
    }
    if (bytes.size() != length)
        throw spool::FormatError(std::string("attachment metadata lacks a valid \"") + name + "\"");
    return bytes;
}

} // namespace

// Re-encrypts one attachment, from its begin record to its end record,
// into a new file, checking its declared size and, when the entry names
// it, its SHA-256. The bytes come either as data records between the two,
// or from a piece beside the entry that the begin record names.
void Ingester::receiveAttachment(spool::Reader& reader, const std::vector<std::uint8_t>& begin,
    ReceivedReport& report)
{
    const auto metadata = parseObject(begin, "attachment metadata");
    ReceivedReport::Attachment attachment;
    attachment.name = member<std::string>(*metadata, "name", "attachment metadata");
    attachment.mediaType = member<std::string>(*metadata, "type", "attachment metadata");
    attachment.uploadedAt = member<std::string>(*metadata, "uploaded_at", "attachment metadata");
    const auto declared = member<Poco::UInt64>(*metadata, "size", "attachment metadata");
    if (!isValidUtf8(attachment.name) || hasForbiddenControl(attachment.name))
        throw spool::FormatError("attachment name is not clean UTF-8");

    attachment.file = attachments_.create();
    auto receive = [&](std::span<const std::uint8_t> bytes) {
        if (attachment.file->size() + bytes.size() > declared)
            throw spool::FormatError("attachment is longer than declared");
        attachment.file->write(bytes);
    };
    const bool inPiece = metadata->has("piece");
    if (inPiece) {
        // Pieces are numbered by the attachment's place in the entry, so
        // that those of one entry can be found without listing the folder.
        if (member<Poco::UInt64>(*metadata, "piece", "attachment metadata") != report.attachments.size())
            throw spool::FormatError("attachment piece is out of order");
        const auto idBytes = hexMember(*metadata, "piece_id", 16);
        std::array<std::uint8_t, 16> id{};
        std::copy(idBytes.begin(), idBytes.end(), id.begin());
        SecretBytes key(crypto::kAes256KeySize);
        auto keyBytes = hexMember(*metadata, "piece_key", crypto::kAes256KeySize);
        std::copy(keyBytes.begin(), keyBytes.end(), key.data());
        OPENSSL_cleanse(keyBytes.data(), keyBytes.size());
        spool::readPiece(spool::piecePath(spoolFolder_, reader.header().uuid, report.attachments.size()), id,
            key.span(), receive);
    }
    for (;;) {
        auto record = reader.next();
        if (!record)
            throw spool::FormatError("entry ends inside an attachment");
        if (record->type == spool::RecordType::AttachmentData && !inPiece) {
            receive(record->payload);
            continue;
        }
        if (record->type != spool::RecordType::AttachmentEnd)
            throw spool::FormatError("attachment has an unexpected record");
        const auto end = parseObject(record->payload, "attachment end");
        attachment.sha256 = attachment.file->sha256();
        const bool sizeMatches = member<Poco::UInt64>(*end, "size", "attachment end") == declared
            && attachment.file->size() == declared;
        // Entries written since attachments travel as pieces carry no
        // SHA-256: the chunk tags prove the bytes, and the hash is taken
        // here. Older entries carry the one taken at upload.
        const bool hashMatches
            = !end->has("sha256") || member<std::string>(*end, "sha256", "attachment end") == crypto::toHex(attachment.sha256);
        if (!sizeMatches || !hashMatches)
            throw spool::FormatError("attachment does not match its size or SHA-256");
        attachment.file->finish();
        report.attachments.push_back(std::move(attachment));
        return;
    }
}

void Ingester::storeAttachments(std::int64_t reportId, ReceivedReport& report)
{
    if (report.attachments.empty())
        return;
    const SecretBytes reportKey = SecretBytes::random(crypto::kAes256KeySize);
    database_.prepare("INSERT INTO report_keys (report_id, key) VALUES (?, ?)")
        .bind(1, reportId)
        .bind(2, reportKey.span())
        .run();
    for (std::size_t position = 0; position < report.attachments.size(); ++position) {
        const auto& attachment = report.attachments[position];
        const auto wrapped = wrapFileKey(reportKey.span(), attachment.file->fileKey().span(), attachment.file->fileId());
        database_.prepare("INSERT INTO attachments (report_id, position, file_id, name, media_type, size, sha256, "
                          "wrapped_key, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(1, reportId)
            .bind(2, static_cast<std::int64_t>(position))
            .bind(3, attachment.file->fileId())
            .bind(4, attachment.name)
            .bind(5, attachment.mediaType)
            .bind(6, static_cast<std::int64_t>(attachment.file->size()))
            .bind(7, attachment.sha256)
            .bind(8, wrapped)
            .bind(9, attachment.uploadedAt)
            .run();
    }
}

Ingester::Outcome Ingester::ingestComplaint(const fs::path& entry, spool::Reader& reader)
{
    std::optional<ReportRecord> complaint;
    while (auto record = reader.next()) {
        if (record->type != spool::RecordType::Fields || complaint)
            throw spool::FormatError("complaint entry has an unexpected record");
        complaint = parseFields(record->payload, false);
    }
    if (!complaint)
        throw spool::FormatError("complaint entry has no fields");
    const auto& header = reader.header();
    const auto& fields = *complaint->fields;
    const std::string now = utcNow();
    database_.transaction([&] {
        database_.prepare("INSERT INTO spool_entries (entry_uuid, kind, ingested_at) VALUES (?, ?, ?)")
            .bind(1, header.uuid.bytes)
            .bind(2, static_cast<std::int64_t>(header.kind))
            .bind(3, now)
            .run();
        database_.prepare("INSERT INTO complaints (entry_uuid, received_at, language, message, email) VALUES (?, ?, ?, ?, ?)")
            .bind(1, header.uuid.bytes)
            .bind(2, complaint->receivedAt)
            .bind(3, complaint->language)
            .bind(4, fields.optValue<std::string>("message", ""))
            .bind(5, fields.optValue<std::string>("email", ""))
            .run();
    });
    faultPoint("ingest-after-commit");
    removeEntry(entry);
    return Outcome::Ingested;
}

Ingester::Outcome Ingester::ingestVisitCounts(const fs::path& entry, spool::Reader& reader)
{
    std::optional<Poco::JSON::Array::Ptr> counts;
    while (auto record = reader.next()) {
        if (record->type != spool::RecordType::Fields || counts)
            throw spool::FormatError("visit counts entry has an unexpected record");
        try {
            Poco::JSON::Parser parser;
            const auto root = parser.parse(std::string(record->payload.begin(), record->payload.end()))
                                  .extract<Poco::JSON::Object::Ptr>();
            if (root->optValue<int>("schema", 0) != 1 || !root->getArray("counts"))
                throw spool::FormatError("visit counts have an unknown schema");
            counts = root->getArray("counts");
        } catch (const spool::FormatError&) {
            throw;
        } catch (const std::exception& error) {
            throw spool::FormatError(std::string("visit counts are not valid JSON: ") + error.what());
        }
    }
    if (!counts)
        throw spool::FormatError("visit counts entry has no counts");
    const auto& header = reader.header();
    try {
        storeVisitCounts(header, **counts);
    } catch (const DatabaseError& error) {
        // A count the table's checks reject (a malformed day, say) can only
        // come from a forged entry; the transaction stored nothing.
        if (error.kind() != DatabaseError::Kind::Constraint)
            throw;
        throw spool::FormatError("visit counts hold an invalid row");
    }
    faultPoint("ingest-after-commit");
    removeEntry(entry);
    return Outcome::Ingested;
}

void Ingester::storeVisitCounts(const spool::Header& header, const Poco::JSON::Array& counts)
{
    database_.transaction([&] {
        database_.prepare("INSERT INTO spool_entries (entry_uuid, kind, ingested_at) VALUES (?, ?, ?)")
            .bind(1, header.uuid.bytes)
            .bind(2, static_cast<std::int64_t>(header.kind))
            .bind(3, utcNow())
            .run();
        for (std::size_t i = 0; i < counts.size(); ++i) {
            const auto item = counts.getObject(static_cast<unsigned>(i));
            if (!item)
                throw spool::FormatError("a visit count is not an object");
            database_.prepare("INSERT INTO visit_counts (day, page, language, count) VALUES (?, ?, ?, ?) "
                              "ON CONFLICT (day, page, language) DO UPDATE SET count = count + excluded.count")
                .bind(1, item->optValue<std::string>("day", ""))
                .bind(2, item->optValue<std::string>("page", ""))
                .bind(3, item->optValue<std::string>("language", ""))
                .bind(4, static_cast<std::int64_t>(item->optValue<Poco::Int64>("count", 0)))
                .run();
        }
    });
}

// A follow-up or a withdrawal from a returning reporter. meldpunt-public
// checked the receipt secret before writing it.
// NOTE: the entry carries no proof of the secret, so any process that can
// write into the spool can add to or withdraw a report by its reference.
// Only meldpunt-public may write there.
Ingester::Outcome Ingester::ingestReporterEntry(const fs::path& entry, spool::Reader& reader)
{
    std::optional<Poco::JSON::Object::Ptr> root;
    while (auto record = reader.next()) {
        if (record->type != spool::RecordType::Fields || root)
            throw spool::FormatError("reporter entry has an unexpected record");
        try {
            Poco::JSON::Parser parser;
            root = parser.parse(std::string(record->payload.begin(), record->payload.end()))
                       .extract<Poco::JSON::Object::Ptr>();
        } catch (const std::exception& error) {
            throw spool::FormatError(std::string("reporter entry is not valid JSON: ") + error.what());
        }
    }
    if (!root || (*root)->optValue<int>("schema", 0) != 1)
        throw spool::FormatError("reporter entry has an unknown schema");
    const auto& header = reader.header();
    const std::string reference = (*root)->optValue<std::string>("reference", "");
    const std::string now = utcNow();
    DeletedFiles withdrawn;
    database_.transaction([&] {
        database_.prepare("INSERT INTO spool_entries (entry_uuid, kind, ingested_at) VALUES (?, ?, ?)")
            .bind(1, header.uuid.bytes)
            .bind(2, static_cast<std::int64_t>(header.kind))
            .bind(3, now)
            .run();
        if (header.kind == spool::EntryKind::FollowUp)
            storeReporterMessage(database_, reference, header.uuid.bytes,
                (*root)->optValue<std::string>("message", ""), now);
        else
            withdrawReport(database_, reference, now, withdrawn);
    });
    faultPoint("ingest-after-commit");
    // The keys went with the commit; the files follow.
    for (const auto& fileId : withdrawn.attachmentIds)
        attachments_.remove(fileId);
    if (!withdrawn.attachmentIds.empty())
        attachments_.syncFolder();
    removeEntry(entry);
    return Outcome::Ingested;
}

void Ingester::removeEntry(const fs::path& entry)
{
    // The pieces are removed before the entry, the last piece first (see
    // spool::piecesOf). After a crash the stored entry is found again as a
    // duplicate, which needs no piece.
    auto pieces = spool::piecesOf(entry);
    for (auto piece = pieces.rbegin(); piece != pieces.rend(); ++piece) {
        if (::unlink(piece->c_str()) != 0 && errno != ENOENT)
            throw std::system_error(errno, std::generic_category(), "removing ingested piece '" + piece->string() + "'");
    }
    if (::unlink(entry.c_str()) != 0 && errno != ENOENT)
        throw std::system_error(errno, std::generic_category(), "removing ingested entry '" + entry.string() + "'");
    fsutil::syncDirectory(spoolFolder_);
}

void Ingester::quarantine(const fs::path& entry, const std::string& reason)
{
    // RENAME_NOREPLACE keeps an earlier quarantined file of the same name,
    // and a numbered suffix distinguishes the copies. The entry's pieces go
    // before it, the last piece first, each keeping its own name.
    auto moveAside = [this](const fs::path& file) -> std::optional<fs::path> {
        fs::path target = quarantineFolder_ / file.filename();
        int result = ::renameat2(AT_FDCWD, file.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE);
        for (int copy = 1; result != 0 && errno == EEXIST && copy < 1000; ++copy) {
            target = quarantineFolder_ / (file.filename().string() + "." + std::to_string(copy));
            result = ::renameat2(AT_FDCWD, file.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE);
        }
        if (result != 0) {
            log::error("Failed to quarantine spool file '" + file.filename().string() + "': " + std::strerror(errno));
            return std::nullopt;
        }
        return target;
    };
    // A rejected entry may miss a piece in the middle, so its pieces are
    // found by listing the folder, not by their numbers.
    const std::string prefix = entry.stem().string() + ".";
    std::vector<fs::path> pieces;
    std::error_code error;
    for (const auto& item : fs::directory_iterator(spoolFolder_, error)) {
        const std::string name = item.path().filename().string();
        if (name.starts_with(prefix) && name.ends_with(spool::kPieceSuffix))
            pieces.push_back(item.path());
    }
    std::sort(pieces.begin(), pieces.end(), [](const fs::path& a, const fs::path& b) {
        return a.string().size() != b.string().size() ? a.string().size() < b.string().size() : a < b;
    });
    for (auto piece = pieces.rbegin(); piece != pieces.rend(); ++piece) {
        if (!moveAside(*piece))
            return;
    }
    if (!moveAside(entry))
        return;
    fsutil::syncDirectory(spoolFolder_);
    log::warning("Quarantined spool entry '" + entry.filename().string() + "': " + reason);
}

} // namespace meldpunt::storage
