#pragma once

#include "CaseQueries.h"
#include "Clock.h"
#include "Database.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace meldpunt::staff {

// Another report as the case page names it: its id, reference and status.
struct RelatedCase {
    std::int64_t id = 0;
    std::string reference;
    std::string status;
};

// A case's ties to other reports: the reports linked to it as related,
// the primary it was merged into as a duplicate, and the duplicates
// merged into it.
struct CaseRelationsOf {
    std::vector<RelatedCase> linked;
    std::optional<RelatedCase> mergedInto;
    std::vector<RelatedCase> duplicates;
};

// Links between related reports and merges of duplicates, in the tables
// report_links and case_merges. Every change is validated and throws
// CaseError with a message for the staff member. Not thread-safe: the
// caller holds the database's lock.
class CaseRelations {
public:
    CaseRelations(storage::Database& database, Clock clock);

    CaseRelationsOf of(std::int64_t id);

    // Finds a report by its reference (case and surrounding spaces do not
    // matter). Throws CaseError when the text is empty or names no report.
    RelatedCase byReference(const std::string& typed);

    // Links `id` with the report whose reference is typed, and returns
    // that report. Throws CaseError when it is this report or linked
    // already.
    RelatedCase link(std::int64_t id, const std::string& reference);
    // Throws CaseError when the two are not linked.
    void unlink(std::int64_t id, std::int64_t otherId);

    // Merges `duplicateId` into the report whose reference is typed:
    // closes it with the outcome "duplicate" through `cases` and records
    // the merge. Notes, messages, attachments and audit entries stay with
    // the duplicate. Returns the primary. Throws CaseError when the
    // primary is this report, is itself merged, or when the duplicate is
    // merged already or has duplicates of its own.
    RelatedCase merge(std::int64_t duplicateId, const std::string& primaryReference, CaseQueries& cases,
        TimePoint duplicateDeadline);

private:
    std::optional<RelatedCase> find(std::int64_t id);

    storage::Database& database_;
    Clock clock_;
};

} // namespace meldpunt::staff
