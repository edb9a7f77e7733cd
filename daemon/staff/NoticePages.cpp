// The notices on every staff page (reports waiting for case roles, the
// box's health for admins) and the admin's form for notice addresses.

#include "StaffApp.h"
#include "StaffContext.h"

#include "Log.h"
#include "Notices.h"

namespace meldpunt::staff {

void StaffApp::addNotices(const Context& context, PageData& data)
{
    const Role role = context.account->role;
    const std::string language = "en";
    if (role == Role::Caseworker || role == Role::Coordinator) {
        const NoticeCounts counts = StaffNotices(database_, deadlines_, settings_.dueSoon).counts(clock_());
        if (counts.waiting > 0) {
            data.set("has_case_notices", true);
            data.set("notice_waiting", std::to_string(counts.waiting));
            data.set("has_notice_due_soon", counts.dueSoon > 0);
            data.set("notice_due_soon", std::to_string(counts.dueSoon));
            data.set("notice_due_hours", std::to_string(settings_.dueSoon.count()));
        }
    }
    // The box's health is the technician's work, which is the admin role.
    if (role == Role::Admin && settings_.health) {
        PageData list{PageData::type::list};
        for (const auto& condition : settings_.health->conditions()) {
            PageData item;
            item.set("title", pages_.catalog().translate(language, condition.title));
            item.set("detail", condition.detail);
            item.set("action", pages_.catalog().translate(language, condition.action));
            list.push_back(item);
        }
        data.set("has_health_alerts", !list.is_empty_list());
        data.set("health_alerts", list);
    }
}

StaffResponse StaffApp::accountNoticeEmail(Context& context)
{
    const std::int64_t id = context.match.id;
    if (!accounts_.find(id))
        return message(context, 404, "Account not found", "No staff account has this number. Go back to the list.");
    try {
        StaffNotices(database_, deadlines_, settings_.dueSoon).setNoticeEmail(id, context.form.get("email"));
    } catch (const AccountError& error) {
        return accountList(context, error.what(), 400, {});
    }
    // The address itself stays out of the audit log and the journal.
    audit(context, "account.notice_email_set", "account", std::to_string(id));
    log::securityEvent(kAccountChangedMessageId, "Staff account " + std::to_string(id) + ": notice e-mail address set");
    return redirect("/accounts");
}

} // namespace meldpunt::staff
