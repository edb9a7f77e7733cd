#pragma once

#include "AttachmentStore.h"
#include "Database.h"
#include "IntakeKeys.h"
#include "ReceiptSecret.h"

#include <Poco/JSON/Array.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>

namespace meldpunt::storage {

struct IngestCounts {
    int ingested = 0;
    int duplicates = 0;
    int quarantined = 0;
    int deferred = 0; // valid entries of a kind this version does not store yet
    int failed = 0;   // entries left in the spool after an I/O error
    bool stoppedEarly = false; // the pass ended at its time budget or a stop request
};

// Moves spool entries into the database, each exactly once: the entry is
// decrypted and verified in full, stored in one transaction keyed by its
// UUID, and only then unlinked. A crash between commit and unlink leaves
// the file, and the next pass sees the UUID already stored and removes it.
// Damaged, tampered, truncated or foreign entries are moved to the
// quarantine folder, never deleted. `databaseMutex` serialises database
// access with other threads.
//
// A report's attachments are re-encrypted into the attachments folder
// beside the database as the entry is read, synced, and only then
// recorded in the report's transaction, so a row never lacks its file. A
// crash before the commit leaves files without rows; the constructor
// removes those, because no ingestion runs before it.
class Ingester {
public:
    // `receiptCost` is the Argon2id cost of the receipt secrets that
    // report entries carry (tests pass a cheap one).
    Ingester(Database& database, std::mutex& databaseMutex, std::filesystem::path spoolFolder,
        std::filesystem::path quarantineFolder, ReceiptHashCost receiptCost = {});

    // Ingests the entries in the spool, oldest first. Stops before the
    // next entry once `budget` has passed or `stopRequested` returns true,
    // and then sets stoppedEarly; the remaining entries wait for the next
    // pass. Each report costs an Argon2id run, so a large backlog takes
    // minutes, and a bounded pass lets the caller publish receipts and
    // show that it is alive in between.
    IngestCounts runOnce(std::chrono::steady_clock::duration budget = std::chrono::steady_clock::duration::max(),
        const std::function<bool()>& stopRequested = {});

private:
    enum class Outcome { Ingested, Duplicate, Deferred };
    Outcome ingest(const std::filesystem::path& entry);
    Outcome ingestComplaint(const std::filesystem::path& entry, spool::Reader& reader);
    Outcome ingestReporterEntry(const std::filesystem::path& entry, spool::Reader& reader);
    Outcome ingestVisitCounts(const std::filesystem::path& entry, spool::Reader& reader);
    void storeVisitCounts(const spool::Header& header, const Poco::JSON::Array& counts);
    struct ReceivedReport;
    void readReport(spool::Reader& reader, ReceivedReport& report);
    void receiveAttachment(spool::Reader& reader, const std::vector<std::uint8_t>& begin, ReceivedReport& report);
    void storeAttachments(std::int64_t reportId, ReceivedReport& report);
    void quarantine(const std::filesystem::path& entry, const std::string& reason);
    void removeEntry(const std::filesystem::path& entry);

    Database& database_;
    std::mutex& databaseMutex_;
    IntakeKeys intakeKeys_;
    std::filesystem::path spoolFolder_;
    std::filesystem::path quarantineFolder_;
    AttachmentStore attachments_;
    ReceiptHashCost receiptCost_;
};

} // namespace meldpunt::storage
