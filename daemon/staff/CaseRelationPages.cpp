// The case page's related reports: links between reports and merges of
// duplicates into their primary.

#include "CaseRelations.h"
#include "StaffApp.h"
#include "StaffContext.h"

#include <cstdlib>

namespace meldpunt::staff {

PageData StaffApp::relationData(std::int64_t caseId)
{
    const CaseRelationsOf relations = CaseRelations(database_, clock_).of(caseId);
    const auto listOf = [&](const std::vector<RelatedCase>& cases) {
        PageData list{PageData::type::list};
        for (const auto& each : cases) {
            PageData item;
            item.set("id", std::to_string(each.id));
            item.set("reference", each.reference);
            const auto label = statusLabels().find(each.status);
            item.set("status",
                pages_.catalog().translate("en", label == statusLabels().end() ? each.status : label->second));
            list.push_back(item);
        }
        return list;
    };
    PageData data;
    data.set("case_id", std::to_string(caseId));
    data.set("linked", listOf(relations.linked));
    data.set("has_linked", !relations.linked.empty());
    data.set("duplicates", listOf(relations.duplicates));
    data.set("has_duplicates", !relations.duplicates.empty());
    if (relations.mergedInto) {
        PageData primary;
        primary.set("id", std::to_string(relations.mergedInto->id));
        primary.set("reference", relations.mergedInto->reference);
        data.set("merged_into", primary);
    }
    // A duplicate is merged once, and a report with duplicates of its own
    // stays their primary.
    data.set("may_merge", !relations.mergedInto && relations.duplicates.empty());
    return data;
}

StaffResponse StaffApp::caseRelationChange(Context& context)
{
    const std::int64_t id = context.match.id;
    const auto current = cases_.find(id);
    if (!current)
        return message(context, 404, "Case not found", "No case has this number. Go back to the inbox.");
    const std::string idText = std::to_string(id);
    const std::string back = "/cases/" + idText + "#related";
    CaseRelations relations(database_, clock_);
    try {
        switch (context.match.route->id) {
        case RouteId::CaseLink: {
            const RelatedCase other = relations.link(id, context.form.get("reference"));
            // Both cases' histories show the link, by id only.
            audit(context, "case.linked", "case", idText);
            audit(context, "case.linked", "case", std::to_string(other.id));
            return redirect(back);
        }
        case RouteId::CaseUnlink: {
            const std::int64_t other = std::atoll(context.form.get("report").c_str());
            relations.unlink(id, other);
            audit(context, "case.unlinked", "case", idText);
            audit(context, "case.unlinked", "case", std::to_string(other));
            return redirect(back);
        }
        case RouteId::CaseMerge: {
            if (context.form.get("confirm") != "yes")
                throw CaseError("Tick the box to confirm that this report is closed as a duplicate, then merge.");
            const RelatedCase primary = relations.merge(id, context.form.get("primary"), cases_,
                deadlines_.deadlineFor(current->summary.receivedAt));
            audit(context, "case.merged_as_duplicate", "case", idText);
            audit(context, "case.duplicate_merged_in", "case", std::to_string(primary.id));
            return redirect("/cases/" + idText);
        }
        default:
            break;
        }
    } catch (const CaseError& error) {
        return casePage(context, false, error.what(), 400);
    }
    return message(context, 404, "Page not found", "This page does not exist.");
}

} // namespace meldpunt::staff
