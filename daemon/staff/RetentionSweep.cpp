#include "RetentionSweep.h"

#include "AuditLog.h"
#include "ReportDeletion.h"

#include <algorithm>
#include <thread>
#include <vector>

namespace meldpunt::staff {

namespace {

// A case under legal hold keeps everything under it.
std::string notHeld(const std::string& reportColumn)
{
    return " AND NOT EXISTS (SELECT 1 FROM case_state h WHERE h.report_id = " + reportColumn + " AND h.legal_hold = 1)";
}

// No sweep runs longer than this many batches of one kind; the next sweep
// goes on where it stopped.
constexpr int kMaxBatches = 100000;

} // namespace

std::int64_t SweepCounts::deleted() const
{
    return reportsClosed + reportsNeverClosed + reportsWithdrawn + attachments + reporterMessages + auditEntries
        + referralCopies + emails;
}

std::string SweepCounts::summary() const
{
    return "deleted " + std::to_string(reportsClosed) + " closed reports, " + std::to_string(reportsNeverClosed)
        + " reports never closed, " + std::to_string(reportsWithdrawn) + " withdrawn reports, "
        + std::to_string(attachments) + " attachments (" + std::to_string(attachmentFiles) + " files), "
        + std::to_string(reporterMessages) + " reporter messages, " + std::to_string(auditEntries) + " audit entries, "
        + std::to_string(referralCopies) + " referral copies, " + std::to_string(emails) + " e-mails; reclaimed "
        + std::to_string(pagesReclaimed) + " pages"
        + (deleted() > 0 && !logEmptied ? "; the write-ahead log is still in use and stays until the next sweep" : "");
}

RetentionSweep::RetentionSweep(storage::Database& database, std::mutex& databaseMutex, SweepSettings settings,
    Clock clock)
    : database_(database)
    , databaseMutex_(databaseMutex)
    , settings_(std::move(settings))
    , clock_(std::move(clock))
{
}

bool RetentionSweep::stopRequested() const
{
    return settings_.stopRequested && settings_.stopRequested();
}

std::string RetentionSweep::cutoff(int days) const
{
    return formatUtc(now_ - std::chrono::hours(24) * days);
}

// Selects up to one batch of ids with `selectSql` (?1 the cutoff, ?2 the
// batch size) and deletes them with `deleteBatch` in one short transaction,
// then frees the lock for a moment, until no id is left.
template <typename DeleteBatch>
std::int64_t RetentionSweep::inBatches(const std::string& selectSql, const std::string& cutoffText,
    DeleteBatch&& deleteBatch, SweepCounts& counts)
{
    std::int64_t total = 0;
    for (int batch = 0; batch < kMaxBatches; ++batch) {
        storage::DeletedFiles files;
        std::size_t selected = 0;
        const auto started = std::chrono::steady_clock::now();
        {
            std::lock_guard lock(databaseMutex_);
            database_.transaction([&] {
                std::vector<std::int64_t> ids;
                auto query = database_.prepare(selectSql);
                query.bind(1, cutoffText).bind(2, static_cast<std::int64_t>(settings_.batchSize));
                while (query.step())
                    ids.push_back(query.columnInt(0));
                deleteBatch(ids, files);
                selected = ids.size();
            });
        }
        total += static_cast<std::int64_t>(selected);
        counts.attachmentFiles += static_cast<std::int64_t>(
            storage::removeDeletedFiles(files, settings_.attachmentsFolder, settings_.publishFolder));
        if (selected < static_cast<std::size_t>(settings_.batchSize) || stopRequested())
            break;
        // The lock stays free at least as long as the batch held it, so
        // ingestion and staff requests get half the database or more.
        std::this_thread::sleep_for(std::max<std::chrono::steady_clock::duration>(
            settings_.pause, std::chrono::steady_clock::now() - started));
    }
    return total;
}

SweepCounts RetentionSweep::run()
{
    now_ = clock_();
    const auto& periods = settings_.periods;
    SweepCounts counts;
    using Ids = std::vector<std::int64_t>;
    auto deleteReports = [this](const Ids& ids, storage::DeletedFiles& files) {
        storage::deleteReports(database_, ids, files);
    };
    auto deleteAttachments = [this](const Ids& ids, storage::DeletedFiles& files) {
        storage::deleteAttachments(database_, ids, files);
    };
    auto deleteWhereIdIn = [this](const std::string& table) {
        return [this, table](const Ids& ids, storage::DeletedFiles&) {
            database_.prepare("DELETE FROM " + table + " WHERE id IN (SELECT value FROM json_each(?))")
                .bind(1, storage::idList(ids))
                .run();
        };
    };

    counts.reportsClosed = inBatches("SELECT r.id FROM reports r JOIN case_state s ON s.report_id = r.id "
                                     "WHERE r.status = 'closed' AND s.closed_at < ?1 AND s.legal_hold = 0 LIMIT ?2",
        cutoff(periods.reportsAfterClosingDays), deleteReports, counts);
    counts.reportsWithdrawn
        = inBatches("SELECT r.id FROM reports r JOIN receipts c ON c.report_id = r.id WHERE c.withdrawn_at < ?1"
                + notHeld("r.id") + " LIMIT ?2",
            cutoff(periods.reportsAfterClosingDays), deleteReports, counts);
    counts.reportsNeverClosed = inBatches("SELECT r.id FROM reports r WHERE r.status <> 'closed' AND r.received_at < ?1"
            + notHeld("r.id") + " LIMIT ?2",
        cutoff(periods.reportsNeverClosedDays), deleteReports, counts);

    counts.attachments
        = inBatches("SELECT a.id FROM attachments a WHERE a.uploaded_at < ?1" + notHeld("a.report_id") + " LIMIT ?2",
            cutoff(periods.attachmentsDays), deleteAttachments, counts);
    counts.attachments += inBatches(
        "SELECT a.id FROM attachments a WHERE EXISTS (SELECT 1 FROM referrals f WHERE f.report_id = a.report_id "
        "AND f.state = 'delivered' AND f.delivered_at < ?1)"
            + notHeld("a.report_id") + " LIMIT ?2",
        cutoff(periods.attachmentsAfterReferralDays), deleteAttachments, counts);

    counts.reporterMessages = inBatches(
        "SELECT m.id FROM reporter_messages m WHERE m.at < ?1" + notHeld("m.report_id") + " LIMIT ?2",
        cutoff(periods.reporterMessagesDays),
        [this, &deleteWhereIdIn](const Ids& ids, storage::DeletedFiles& files) {
            // The reporter's receipt file lists the replies; it is
            // written again without these.
            database_
                .prepare("UPDATE receipts SET needs_publish = 1 WHERE report_id IN "
                         "(SELECT report_id FROM reporter_messages WHERE id IN (SELECT value FROM json_each(?)))")
                .bind(1, storage::idList(ids))
                .run();
            deleteWhereIdIn("reporter_messages")(ids, files);
        },
        counts);

    counts.referralCopies = inBatches(
        "SELECT f.id FROM referrals f WHERE f.state IN ('delivered', 'failed', 'retracted') "
        "AND f.finished_at < ?1 AND EXISTS (SELECT 1 FROM referral_files WHERE referral_id = f.id)"
            + notHeld("f.report_id") + " LIMIT ?2",
        cutoff(periods.outboxCopiesDays),
        [this](const Ids& ids, storage::DeletedFiles&) {
            database_.prepare("DELETE FROM referral_files WHERE referral_id IN (SELECT value FROM json_each(?))")
                .bind(1, storage::idList(ids))
                .run();
        },
        counts);
    counts.emails = inBatches("SELECT e.id FROM email_outbox e WHERE e.state IN ('sent', 'failed') "
                              "AND coalesce(e.sent_at, e.next_attempt_at) < ?1"
            + notHeld("e.report_id") + " LIMIT ?2",
        cutoff(periods.outboxCopiesDays), deleteWhereIdIn("email_outbox"), counts);

    {
        std::lock_guard lock(databaseMutex_);
        counts.auditEntries = AuditLog(database_, [this] {
            return now_;
        }).pruneBefore(now_ - std::chrono::hours(24) * periods.auditLogDays);
    }
    if (counts.deleted() > 0)
        reclaim(counts);
    return counts;
}

// Deleted values are already overwritten in their pages (secure_delete);
// this gives the freed pages back to the file system and empties the
// write-ahead log, which still holds the pages as they were.
void RetentionSweep::reclaim(SweepCounts& counts)
{
    auto pragmaInt = [this](const std::string& sql) {
        auto statement = database_.prepare(sql);
        return statement.step() ? statement.columnInt(0) : 0;
    };
    bool incremental = false;
    {
        std::lock_guard lock(databaseMutex_);
        database_.exec("PRAGMA secure_delete = ON");
        incremental = pragmaInt("PRAGMA auto_vacuum") == 2;
        if (!incremental) {
            // A database made before auto_vacuum was set: VACUUM once
            // rebuilds it with incremental vacuum on. It holds the lock
            // for the whole rebuild, once in the box's life.
            const auto before = pragmaInt("PRAGMA page_count");
            database_.exec("PRAGMA auto_vacuum = INCREMENTAL");
            database_.exec("VACUUM");
            counts.pagesReclaimed += before - pragmaInt("PRAGMA page_count");
        }
    }
    for (int step = 0; incremental && step < kMaxBatches && !stopRequested(); ++step) {
        std::lock_guard lock(databaseMutex_);
        const auto free = pragmaInt("PRAGMA freelist_count");
        if (free == 0)
            break;
        database_.exec("PRAGMA incremental_vacuum(" + std::to_string(settings_.batchSize * 10) + ")");
        const auto left = pragmaInt("PRAGMA freelist_count");
        counts.pagesReclaimed += free - left;
        if (left >= free)
            break;
    }
    std::lock_guard lock(databaseMutex_);
    auto checkpoint = database_.prepare("PRAGMA wal_checkpoint(TRUNCATE)");
    counts.logEmptied = checkpoint.step() && checkpoint.columnInt(0) == 0;
}

} // namespace meldpunt::staff
