#include "CaseRelations.h"

#include <algorithm>
#include <cctype>

namespace meldpunt::staff {

namespace {

constexpr std::size_t kMaxReferenceBytes = 64;

std::string normalizedReference(const std::string& typed)
{
    const auto start = typed.find_first_not_of(" \t\r\n");
    if (start == std::string::npos)
        return {};
    const auto end = typed.find_last_not_of(" \t\r\n");
    std::string reference = typed.substr(start, end - start + 1);
    std::transform(reference.begin(), reference.end(), reference.begin(),
        [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return reference;
}

RelatedCase readCase(const storage::Statement& row)
{
    return {row.columnInt(0), row.columnText(1), row.columnText(2)};
}

std::vector<RelatedCase> readCases(storage::Statement& query)
{
    std::vector<RelatedCase> cases;
    while (query.step())
        cases.push_back(readCase(query));
    return cases;
}

} // namespace

CaseRelations::CaseRelations(storage::Database& database, Clock clock)
    : database_(database)
    , clock_(std::move(clock))
{
}

std::optional<RelatedCase> CaseRelations::find(std::int64_t id)
{
    auto query = database_.prepare("SELECT id, reference, status FROM reports WHERE id = ?");
    query.bind(1, id);
    if (!query.step())
        return std::nullopt;
    return readCase(query);
}

CaseRelationsOf CaseRelations::of(std::int64_t id)
{
    CaseRelationsOf relations;
    auto linked = database_.prepare(
        "SELECT r.id, r.reference, r.status FROM report_links l JOIN reports r "
        "ON r.id = CASE WHEN l.report_id = ?1 THEN l.linked_report_id ELSE l.report_id END "
        "WHERE l.report_id = ?1 OR l.linked_report_id = ?1 ORDER BY r.received_at, r.id");
    linked.bind(1, id);
    relations.linked = readCases(linked);
    auto primary = database_.prepare("SELECT r.id, r.reference, r.status FROM case_merges m JOIN reports r "
                                     "ON r.id = m.primary_id WHERE m.duplicate_id = ?");
    primary.bind(1, id);
    if (primary.step())
        relations.mergedInto = readCase(primary);
    auto duplicates = database_.prepare("SELECT r.id, r.reference, r.status FROM case_merges m JOIN reports r "
                                        "ON r.id = m.duplicate_id WHERE m.primary_id = ? ORDER BY r.received_at, r.id");
    duplicates.bind(1, id);
    relations.duplicates = readCases(duplicates);
    return relations;
}

RelatedCase CaseRelations::byReference(const std::string& typed)
{
    const std::string reference = normalizedReference(typed);
    if (reference.empty())
        throw CaseError("Type the reference of the other report, such as MP-1A2B3C4D.");
    if (reference.size() > kMaxReferenceBytes)
        throw CaseError("The reference is too long. Type a reference such as MP-1A2B3C4D.");
    auto query = database_.prepare("SELECT id, reference, status FROM reports WHERE upper(reference) = ?");
    query.bind(1, reference);
    if (!query.step())
        throw CaseError("No report has the reference '" + reference + "'. Check the reference and type it again.");
    return readCase(query);
}

RelatedCase CaseRelations::link(std::int64_t id, const std::string& reference)
{
    const RelatedCase other = byReference(reference);
    if (other.id == id)
        throw CaseError("A report cannot be linked to itself. Type the reference of another report.");
    const auto [low, high] = std::minmax(id, other.id);
    auto existing = database_.prepare("SELECT 1 FROM report_links WHERE report_id = ? AND linked_report_id = ?");
    existing.bind(1, low).bind(2, high);
    if (existing.step())
        throw CaseError("This report is linked to " + other.reference + " already.");
    database_.prepare("INSERT INTO report_links (report_id, linked_report_id, linked_at) VALUES (?, ?, ?)")
        .bind(1, low)
        .bind(2, high)
        .bind(3, formatUtc(clock_()))
        .run();
    return other;
}

void CaseRelations::unlink(std::int64_t id, std::int64_t otherId)
{
    const auto [low, high] = std::minmax(id, otherId);
    auto existing = database_.prepare("SELECT 1 FROM report_links WHERE report_id = ? AND linked_report_id = ?");
    existing.bind(1, low).bind(2, high);
    if (!existing.step())
        throw CaseError("These reports are not linked. Open the case again to see its links.");
    database_.prepare("DELETE FROM report_links WHERE report_id = ? AND linked_report_id = ?")
        .bind(1, low)
        .bind(2, high)
        .run();
}

RelatedCase CaseRelations::merge(std::int64_t duplicateId, const std::string& primaryReference, CaseQueries& cases,
    TimePoint duplicateDeadline)
{
    const RelatedCase primary = byReference(primaryReference);
    if (primary.id == duplicateId)
        throw CaseError("A report cannot be merged into itself. Type the reference of the report it duplicates.");
    const CaseRelationsOf own = of(duplicateId);
    if (own.mergedInto)
        throw CaseError("This report is merged into " + own.mergedInto->reference + " already.");
    if (!own.duplicates.empty())
        throw CaseError("Other reports are merged into this one, so it cannot become a duplicate itself. Merge "
                        + primary.reference + " into this report instead.");
    const CaseRelationsOf ofPrimary = of(primary.id);
    if (ofPrimary.mergedInto)
        throw CaseError(primary.reference + " is itself a duplicate of " + ofPrimary.mergedInto->reference
            + ". Merge this report into " + ofPrimary.mergedInto->reference + " instead.");
    // setStatus() runs its own transaction, and transactions do not nest,
    // so the merge row is removed again when closing the case fails.
    database_.prepare("INSERT INTO case_merges (duplicate_id, primary_id, merged_at) VALUES (?, ?, ?)")
        .bind(1, duplicateId)
        .bind(2, primary.id)
        .bind(3, formatUtc(clock_()))
        .run();
    try {
        cases.setStatus(duplicateId, "closed", "duplicate", duplicateDeadline);
    } catch (...) {
        database_.prepare("DELETE FROM case_merges WHERE duplicate_id = ?").bind(1, duplicateId).run();
        throw;
    }
    return primary;
}

} // namespace meldpunt::staff
