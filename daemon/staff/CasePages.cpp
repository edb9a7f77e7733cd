// The staff pages for cases, accounts and the audit log: the handlers of
// StaffApp that the route table gives to roles.

#include "CaseRelations.h"
#include "StaffApp.h"
#include "StaffContext.h"

#include "FormData.h"
#include "Log.h"
#include "ReportDetails.h"
#include "SiteContent.h"
#include "StatisticsReport.h"
#include "Notices.h"

#include <Poco/URI.h>

#include <algorithm>

namespace meldpunt::staff {


namespace {

constexpr std::size_t kAuditPageSize = 100;

const std::map<std::string, std::string>& outcomeLabels()
{
    static const std::map<std::string, std::string> labels = {{"referred_to_police", "Referred to the police"},
        {"referred_to_partner", "Referred to a partner hotline"}, {"advice_given", "Advice given"},
        {"no_action_possible", "No action possible"}, {"outside_remit", "Outside the hotline's remit"},
        {"duplicate", "Duplicate of another report"}};
    return labels;
}

std::string label(const std::map<std::string, std::string>& labels, const std::string& value)
{
    const auto found = labels.find(value);
    return found == labels.end() ? value : found->second;
}

FormData queryParameters(const std::string& query)
{
    return parseUrlEncoded(query);
}

PageData options(const std::vector<std::string>& values, const std::string& selected)
{
    PageData list{PageData::type::list};
    for (const auto& value : values) {
        PageData item;
        item.set("value", value);
        item.set("selected", value == selected);
        list.push_back(item);
    }
    return list;
}

// The detailed questions of the intake form with what was typed: a
// choice offers the report form's values, free text a text area.
PageData intakeDetailFields(const FormData& form)
{
    PageData list{PageData::type::list};
    for (const auto& column : detailColumns()) {
        PageData item;
        item.set("name", column.name);
        item.set("label", column.label);
        item.set("value", form.get(column.name));
        const auto values = detailOptions(column.name);
        item.set("choice", !values.empty());
        item.set("options", options(values, form.get(column.name)));
        list.push_back(item);
    }
    return list;
}

} // namespace

PageData StaffApp::assigneeOptions(std::int64_t selected)
{
    PageData list{PageData::type::list};
    for (const auto& account : accounts_.list()) {
        if (account.disabled || (account.role != Role::Caseworker && account.role != Role::Coordinator))
            continue;
        PageData item;
        item.set("value", std::to_string(account.id));
        item.set("label", account.username);
        item.set("selected", account.id == selected);
        list.push_back(item);
    }
    return list;
}

StaffResponse StaffApp::inbox(Context& context)
{
    const FormData query = queryParameters(context.request.query);
    CaseFilter filter{query.get("status"), query.get("category"), query.get("channel"), query.get("country"),
        query.get("assignee"), query.get("from"), query.get("to"), query.get("q"), query.get("merged") == "show"};
    std::vector<CaseSummary> cases;
    std::string notice;
    try {
        cases = cases_.list(filter);
    } catch (const CaseError& error) {
        notice = error.what();
    }
    // Search terms stay out of the audit log; only that a search ran.
    audit(context, filter.search.empty() ? "inbox.view" : "inbox.search", "inbox", "");

    const TimePoint now = clock_();
    struct Row {
        TimePoint deadline;
        const CaseSummary* summary;
    };
    std::vector<Row> rows;
    for (const auto& summary : cases)
        rows.push_back({deadlines_.deadlineFor(summary.receivedAt), &summary});
    // Cases still waiting for their acknowledgement come first, the most
    // urgent at the top; acknowledged ones follow in deadline order.
    std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        if (a.summary->acknowledged != b.summary->acknowledged)
            return !a.summary->acknowledged;
        return a.deadline < b.deadline;
    });
    PageData list{PageData::type::list};
    for (const auto& row : rows) {
        const CaseSummary& summary = *row.summary;
        PageData item;
        item.set("id", std::to_string(summary.id));
        item.set("reference", summary.reference);
        item.set("received", deadlines_.localText(summary.receivedAt));
        item.set("deadline", deadlines_.localText(row.deadline));
        if (!summary.acknowledged) {
            const auto urgency = TriageDeadline::urgency(row.deadline, now, settings_.dueSoon);
            if (urgency == TriageDeadline::Urgency::Overdue) {
                item.set("urgency", pages_.catalog().translate("en", "Overdue"));
                item.set("urgency_class", "overdue");
            } else if (urgency == TriageDeadline::Urgency::DueSoon) {
                item.set("urgency", pages_.catalog().translate("en", "Due soon"));
                item.set("urgency_class", "due-soon");
            }
        }
        item.set("status", pages_.catalog().translate("en", label(statusLabels(), summary.status)));
        item.set("category", summary.category);
        item.set("channel", summary.channel);
        item.set("country", summary.country);
        item.set("assignee", summary.assigneeName);
        list.push_back(item);
    }
    PageData data;
    data.set("cases", list);
    data.set("has_cases", !rows.empty());
    data.set("filter_q", filter.search);
    data.set("filter_from", filter.receivedFrom);
    data.set("filter_to", filter.receivedTo);
    data.set("status_all", filter.status == "all");
    data.set("assignee_none", filter.assignee == "none");
    data.set("show_merged", filter.includeMerged);
    PageData statuses{PageData::type::list};
    for (const auto& status : caseStatuses()) {
        PageData item;
        item.set("value", status);
        item.set("label", pages_.catalog().translate("en", label(statusLabels(), status)));
        item.set("selected", status == filter.status);
        statuses.push_back(item);
    }
    data.set("statuses", statuses);
    data.set("categories", options(cases_.distinctValues("category"), filter.category));
    data.set("channels", options(cases_.distinctValues("channel"), filter.channel));
    data.set("countries", options(cases_.distinctValues("country"), filter.country));
    std::int64_t assignee = 0;
    if (!filter.assignee.empty() && filter.assignee != "none")
        assignee = std::atoll(filter.assignee.c_str());
    data.set("assignees", assigneeOptions(assignee));
    return render(context, "inbox", "Inbox", std::move(data), notice, notice.empty() ? 200 : 400);
}

StaffResponse StaffApp::casePage(Context& context, bool revealed, const std::string& notice, int status,
    const std::string& note)
{
    const std::int64_t id = context.match.id;
    const auto detail = cases_.find(id);
    if (!detail)
        return message(context, 404, "Case not found", "No case has this number. Go back to the inbox.");
    if (context.request.method == "GET")
        audit(context, "case.view", "case", std::to_string(id));
    const TimePoint deadline = deadlines_.deadlineFor(detail->summary.receivedAt);
    PageData data;
    data.set("id", std::to_string(id));
    data.set("reference", detail->summary.reference);
    data.set("deadline", deadlines_.localText(deadline));
    data.set("acknowledged", detail->summary.acknowledged);
    if (!detail->summary.acknowledged) {
        const auto urgency = TriageDeadline::urgency(deadline, clock_(), settings_.dueSoon);
        if (urgency == TriageDeadline::Urgency::Overdue) {
            data.set("urgency", pages_.catalog().translate("en", "Overdue"));
            data.set("urgency_class", "overdue");
        } else if (urgency == TriageDeadline::Urgency::DueSoon) {
            data.set("urgency", pages_.catalog().translate("en", "Due soon"));
            data.set("urgency_class", "due-soon");
        }
    }
    for (const auto& [key, fields] : {std::pair{"fields", &detail->fields}, std::pair{"contact", &detail->contact}}) {
        PageData list{PageData::type::list};
        for (const auto& field : *fields) {
            PageData item;
            item.set("name", field.name);
            item.set("label", pages_.catalog().translate("en", field.label));
            item.set("value", field.value);
            list.push_back(item);
        }
        data.set(key, list);
    }
    data.set("details", detailData(id));
    data.set("attachments", attachmentData(context, id));
    data.set("messages", messageData(context, id));
    data.set("anonymous", detail->anonymous);
    data.set("revealed", revealed);
    data.set("legal_hold", detail->legalHold);
    data.set("may_hold", context.account->role == Role::Coordinator);
    data.set("status", pages_.catalog().translate("en", label(statusLabels(), detail->summary.status)));
    // Mustache treats an empty string as true, so an absent outcome stays unset.
    if (!detail->outcome.empty())
        data.set("outcome", pages_.catalog().translate("en", label(outcomeLabels(), detail->outcome)));
    PageData statuses{PageData::type::list};
    for (const auto& value : caseStatuses()) {
        PageData item;
        item.set("value", value);
        item.set("label", pages_.catalog().translate("en", label(statusLabels(), value)));
        item.set("selected", value == detail->summary.status);
        statuses.push_back(item);
    }
    data.set("statuses", statuses);
    PageData outcomes{PageData::type::list};
    for (const auto& value : caseOutcomes()) {
        PageData item;
        item.set("value", value);
        item.set("label", pages_.catalog().translate("en", label(outcomeLabels(), value)));
        outcomes.push_back(item);
    }
    data.set("outcomes", outcomes);
    data.set("assignees", assigneeOptions(detail->summary.assigneeId));
    PageData notes{PageData::type::list};
    for (const auto& each : detail->notes) {
        PageData item;
        item.set("author", each.author);
        item.set("at", each.at);
        item.set("text", each.text);
        notes.push_back(item);
    }
    data.set("notes", notes);
    data.set("note", note);
    if (const auto& mail = detail->acknowledgementMail) {
        PageData item;
        item.set("mail_" + mail->state, true);
        item.set("attempts", std::to_string(mail->attempts));
        item.set("next_attempt_at", mail->nextAttemptAt);
        item.set("sent_at", mail->sentAt);
        if (!mail->lastError.empty())
            item.set("last_error", mail->lastError);
        data.set("mail", item);
    }
    data.set("referral", referralData(context, id, detail->summary.category));
    data.set("protocol", protocolData(context, id, detail->summary.category));
    data.set("relations", relationData(id));
    if (context.request.method == "POST") {
        data.set("link_reference", context.form.get("reference"));
        data.set("primary_reference", context.form.get("primary"));
    }
    return render(context, "case", "Case " + detail->summary.reference, std::move(data), notice, status);
}

StaffResponse StaffApp::caseChange(Context& context)
{
    const std::int64_t id = context.match.id;
    const auto current = cases_.find(id);
    if (!current)
        return message(context, 404, "Case not found", "No case has this number. Go back to the inbox.");
    const std::string idText = std::to_string(id);
    const std::string back = "/cases/" + idText;
    try {
        switch (context.match.route->id) {
        case RouteId::CaseReveal:
            audit(context, "case.reveal_contact", "case", idText);
            return casePage(context, true, {}, 200);
        case RouteId::CaseStatus: {
            // A merged duplicate stays closed, or it would leave the inbox
            // while open.
            if (const auto primary = CaseRelations(database_, clock_).of(id).mergedInto)
                throw CaseError("This report is merged into " + primary->reference
                    + " as a duplicate, so its status stays closed. Work on " + primary->reference + " instead.");
            const std::string status = context.form.get("status");
            cases_.setStatus(id, status, context.form.get("outcome"),
                deadlines_.deadlineFor(current->summary.receivedAt));
            audit(context, "case.status." + status, "case", idText);
            return redirect(back);
        }
        case RouteId::CaseAssign: {
            const std::int64_t assignee = std::atoll(context.form.get("assignee").c_str());
            const auto account = assignee == 0 ? std::optional<Account>() : accounts_.find(assignee);
            if (assignee != 0 && (!account || account->disabled || account->role == Role::Admin || account->role == Role::Auditor))
                throw CaseError("Cases can be assigned only to active caseworkers and coordinators. Choose one from the list.");
            cases_.assign(id, assignee);
            audit(context, assignee == 0 ? "case.unassigned" : "case.assigned", "case", idText);
            return redirect(back);
        }
        case RouteId::CaseLegalHold: {
            const std::string hold = context.form.get("hold");
            if (hold != "set" && hold != "release")
                throw CaseError("Choose whether to set or to release the legal hold.");
            cases_.setLegalHold(id, hold == "set");
            audit(context, hold == "set" ? "case.legal_hold_set" : "case.legal_hold_released", "case", idText);
            return redirect(back);
        }
        case RouteId::CaseNote:
            cases_.addNote(id, context.account->id, context.form.get("note"));
            audit(context, "case.note_added", "case", idText);
            return redirect(back);
        default:
            break;
        }
    } catch (const CaseError& error) {
        return casePage(context, false, error.what(), 400,
            context.match.route->id == RouteId::CaseNote ? context.form.get("note") : std::string());
    }
    return message(context, 404, "Page not found", "This page does not exist.");
}

StaffResponse StaffApp::intakePage(Context& context, const std::string& notice, int status)
{
    PageData data;
    // A form sent back keeps everything typed.
    for (const char* field : {"what", "place", "when", "category", "country", "language", "contact_name",
             "contact_email", "contact_phone"})
        data.set(field, context.form.get(field));
    data.set("language", context.form.has("language") ? context.form.get("language") : std::string("en"));
    data.set("channels", options(manualChannels(), context.form.get("channel")));
    // The report form's categories, stored by their codes as the form
    // stores them, so that the case gets the category's protocol.
    PageData categories{PageData::type::list};
    for (const auto& category : storage::listCategories(database_)) {
        if (category.disabled)
            continue;
        const auto english = category.labels.find("en");
        PageData item;
        item.set("value", category.code);
        item.set("label", english != category.labels.end() ? english->second : valueLabel("category", category.code));
        item.set("selected", category.code == context.form.get("category"));
        categories.push_back(item);
    }
    data.set("categories", categories);
    data.set("details", intakeDetailFields(context.form));
    data.set("consent", context.form.has("consent"));
    return render(context, "intake", "Report by phone or e-mail", std::move(data), notice, status);
}

StaffResponse StaffApp::intake(Context& context)
{
    const FormData& form = context.form;
    ManualReport report{form.get("channel"), form.get("language"), form.get("category"), form.get("country"),
        form.get("place"), form.get("when"), form.get("what"), form.get("contact_name"), form.get("contact_email"),
        form.get("contact_phone"), form.has("consent"), {}};
    for (const auto& column : detailColumns())
        report.details[column.name] = form.get(column.name);
    if (!report.category.empty()) {
        const auto category = storage::findCategoryByCode(database_, report.category);
        if (!category || category->disabled)
            return intakePage(context, "Choose a category from the list, or leave the category empty.", 400);
    }
    std::int64_t id = 0;
    try {
        id = cases_.addManualReport(report);
    } catch (const CaseError& error) {
        return intakePage(context, error.what(), 400);
    }
    audit(context, "case.created." + report.channel, "case", std::to_string(id));
    return redirect("/cases/" + std::to_string(id));
}

StaffResponse StaffApp::accountList(Context& context, const std::string& notice, int status, const std::string& username)
{
    if (context.request.method == "GET")
        audit(context, "accounts.view", "accounts", "");
    PageData list{PageData::type::list};
    for (const auto& account : accounts_.list()) {
        PageData item;
        item.set("id", std::to_string(account.id));
        item.set("username", account.username);
        item.set("role", std::string(roleName(account.role)));
        item.set("enrolled", account.totpConfirmed);
        item.set("disabled", account.disabled);
        item.set("self", account.id == context.account->id);
        item.set("notice_email", StaffNotices(database_, deadlines_, settings_.dueSoon).noticeEmail(account.id));
        item.set("csrf", context.session->csrfToken);
        list.push_back(item);
    }
    PageData data;
    data.set("accounts", list);
    data.set("new_username", username);
    std::vector<std::string> roles;
    for (Role role : allRoles())
        roles.emplace_back(roleName(role));
    data.set("roles", options(roles, {}));
    return render(context, "accounts", "Staff accounts", std::move(data), notice, status);
}

StaffResponse StaffApp::accountChange(Context& context)
{
    const RouteId route = context.match.route->id;
    if (route == RouteId::AccountCreate) {
        const auto role = parseRole(context.form.get("role"));
        if (!role)
            return accountList(context, "Choose a role from the list.", 400, context.form.get("username"));
        try {
            const std::int64_t id = accounts_.create(context.form.get("username"), *role, context.form.get("password"));
            audit(context, std::string("account.created.") + roleName(*role), "account", std::to_string(id));
            log::securityEvent(kAccountChangedMessageId, "Created staff account " + std::to_string(id));
        } catch (const AccountError& error) {
            return accountList(context, error.what(), 400, context.form.get("username"));
        }
        return redirect("/accounts");
    }
    const std::int64_t id = context.match.id;
    const auto target = accounts_.find(id);
    if (!target)
        return message(context, 404, "Account not found", "No staff account has this number. Go back to the list.");
    if (id == context.account->id)
        return accountList(context, "You cannot change your own account here; ask another admin.", 400, {});
    std::string action;
    if (route == RouteId::AccountDisable) {
        accounts_.setDisabled(id, true);
        // A leaving staff member's sessions end at once, not at their timeout.
        sessions_.endAll(id);
        action = "account.disabled";
    } else if (route == RouteId::AccountEnable) {
        accounts_.setDisabled(id, false);
        action = "account.enabled";
    } else {
        accounts_.resetSecondFactor(id);
        sessions_.endAll(id);
        action = "account.second_factor_reset";
    }
    audit(context, action, "account", std::to_string(id));
    log::securityEvent(kAccountChangedMessageId, "Staff account " + std::to_string(id) + ": " + action);
    return redirect("/accounts");
}

StaffResponse StaffApp::auditPage(Context& context)
{
    audit(context, "audit.view", "audit", "");
    const FormData query = queryParameters(context.request.query);
    const std::int64_t before = std::max<std::int64_t>(0, std::atoll(query.get("before").c_str()));
    const auto verification = audit_.verify();
    const auto entries = audit_.entries(kAuditPageSize, before);
    PageData list{PageData::type::list};
    for (const auto& entry : entries) {
        PageData item;
        item.set("id", std::to_string(entry.id));
        item.set("at", entry.at);
        item.set("username", entry.username);
        item.set("address", entry.address);
        item.set("action", entry.action);
        item.set("object_type", entry.objectType);
        item.set("object_id", entry.objectId);
        list.push_back(item);
    }
    PageData data;
    data.set("entries", list);
    data.set("intact", verification.intact);
    data.set("checked", std::to_string(verification.entriesChecked));
    data.set("broken_id", std::to_string(verification.firstBrokenId));
    data.set("problem", verification.problem);
    if (entries.size() == kAuditPageSize)
        data.set("older", std::to_string(entries.back().id));
    return render(context, "audit", "Audit log", std::move(data));
}

StaffResponse StaffApp::auditExport(Context& context)
{
    audit(context, "audit.export", "audit", "");
    StaffResponse response;
    response.contentType = "text/csv; charset=utf-8";
    response.body = audit_.exportCsv();
    response.headers.emplace_back("Content-Disposition", "attachment; filename=\"meldpunt-audit.csv\"");
    return response;
}

} // namespace meldpunt::staff
