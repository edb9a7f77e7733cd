// The case page's detailed answers and the messages between staff and the
// reporter: the reporter's messages from return visits, and the replies,
// which are published sealed to the reporter's receipt key for
// meldpunt-public to show on the next return visit.

#include "StaffApp.h"
#include "StaffContext.h"

#include "FormData.h"
#include "Log.h"
#include "Receipts.h"
#include "ReportDetails.h"

namespace meldpunt::staff {

namespace {

// Every reply is sealed into the reporter's receipt file, which
// meldpunt-public reads up to 4 MiB. At this limit a sealed reply takes at
// most about 27 KiB in base64, so an estimated 150 of them fit.
constexpr std::size_t kMaxReplyCharacters = 5000;

// The report has a receipt and was not withdrawn: a reply can reach the
// reporter.
bool receiptOpen(storage::Database& database, std::int64_t caseId)
{
    auto query = database.prepare("SELECT 1 FROM receipts WHERE report_id = ? AND withdrawn_at IS NULL");
    query.bind(1, caseId);
    return query.step();
}

void checkReply(const std::string& text)
{
    if (!hasVisibleText(text))
        throw CaseError("The reply is empty. Write the reply, then send it.");
    if (!isValidUtf8(text) || hasForbiddenControl(text))
        throw CaseError("The reply contains control characters. Remove them and send it again.");
    if (countCodePoints(text) > kMaxReplyCharacters)
        throw CaseError("The reply is too long. Keep it under " + std::to_string(kMaxReplyCharacters)
            + " characters, or send it in parts.");
}

} // namespace

PageData StaffApp::detailData(std::int64_t caseId)
{
    PageData list{PageData::type::list};
    for (const auto& field : readReportDetails(database_, caseId)) {
        PageData item;
        item.set("name", field.name);
        item.set("label", pages_.catalog().translate("en", field.label));
        // Mustache treats an empty string as true, so an unanswered
        // question gets no value at all.
        if (!field.value.empty())
            item.set("value", field.value);
        list.push_back(item);
    }
    return list;
}

PageData StaffApp::messageData(Context& context, std::int64_t caseId)
{
    PageData list{PageData::type::list};
    auto rows = database_.prepare("SELECT id, direction, at, body FROM reporter_messages WHERE report_id = ? ORDER BY id");
    rows.bind(1, caseId);
    while (rows.step()) {
        PageData item;
        item.set("id", std::to_string(rows.columnInt(0)));
        item.set("from_reporter", rows.columnText(1) == "from_reporter");
        item.set("at", rows.columnText(2));
        item.set("text", rows.columnText(3));
        list.push_back(item);
    }
    PageData data;
    data.set("has_messages", !list.is_empty_list());
    data.set("list", list);
    data.set("can_reply", receiptOpen(database_, caseId));
    data.set("reply", context.reply);
    return data;
}

StaffResponse StaffApp::caseReply(Context& context)
{
    const std::int64_t id = context.match.id;
    const auto detail = cases_.find(id);
    if (!detail)
        return message(context, 404, "Case not found", "No case has this number. Go back to the inbox.");
    const std::string text = context.form.get("reply");
    try {
        checkReply(text);
    } catch (const CaseError& error) {
        context.reply = text;
        return casePage(context, false, error.what(), 400);
    }
    std::int64_t messageId = 0;
    try {
        messageId = storage::addStaffMessage(database_, detail->summary.reference, text, formatUtc(clock_()));
    } catch (const storage::NoReceiptError&) {
        context.reply = text;
        return casePage(context, false,
            "This report has no receipt, or the reporter withdrew it, so a reply cannot reach the reporter. "
            "Reports typed in by staff have no receipt.",
            400);
    }
    audit(context, "case.reply_sent", "reporter_message", std::to_string(messageId));
    // meldpuntd also publishes changed receipts after every ingest pass,
    // so a failure here only delays the reply.
    if (!settings_.publishFolder.empty()) {
        try {
            storage::publishReceipts(database_, settings_.publishFolder);
        } catch (const std::exception& error) {
            log::error("Failed to publish the receipt after reply " + std::to_string(messageId)
                + "; the next ingest pass retries: " + error.what());
        }
    }
    return redirect("/cases/" + std::to_string(id) + "#messages");
}

} // namespace meldpunt::staff
