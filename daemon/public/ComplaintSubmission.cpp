#include "ComplaintSubmission.h"

#include "FormPage.h"
#include "FormRequest.h"
#include "PublicSite.h"

#include <Poco/JSON/Object.h>

#include <sstream>

namespace meldpunt::site {

namespace {

using Poco::Net::HTTPResponse;

constexpr std::size_t kMaxMessageCharacters = 10000;
constexpr std::size_t kMaxEmailCharacters = 254;

struct ComplaintState {
    FormData values;
    std::string messageProblem; // "missing", "invalid" or empty
    bool emailInvalid = false;
    std::string notice;
};

void check(ComplaintState& state)
{
    const std::string& message = state.values.get("message");
    if (hasForbiddenControl(message) || countCodePoints(message) > kMaxMessageCharacters)
        state.messageProblem = "invalid";
    else if (!hasVisibleText(message))
        state.messageProblem = "missing";
    const std::string& email = state.values.get("email");
    state.emailInvalid = hasVisibleText(email)
        && (hasForbiddenControl(email) || countCodePoints(email) > kMaxEmailCharacters || !looksLikeEmail(email));
}

std::string render(const PublicSite& site, const std::string& language, const ComplaintState& state)
{
    PageData data;
    data.set("value_message", state.values.get("message"));
    data.set("value_email", state.values.get("email"));
    if (!state.messageProblem.empty()) {
        data.set("error_message", true);
        data.set("error_message_" + state.messageProblem, true);
    }
    data.set("error_email", state.emailInvalid);
    if (!state.notice.empty())
        data.set("notice_" + state.notice, true);
    data.set("page_path", "complaint");
    return site.pages().render("complaint", language, data);
}

std::string toJson(const ComplaintState& state, const std::string& language)
{
    Poco::JSON::Object fields;
    fields.set("message", state.values.get("message"));
    fields.set("email", state.values.get("email"));
    Poco::JSON::Object root;
    root.set("schema", 1);
    root.set("language", language);
    root.set("received_at", utcNow());
    root.set("fields", fields);
    std::ostringstream out;
    root.stringify(out);
    return out.str();
}

} // namespace

void handleComplaintGet(PublicSite& site, const std::string& language, Poco::Net::HTTPServerRequest& request,
    Poco::Net::HTTPServerResponse& response)
{
    sendPage(request, response, HTTPResponse::HTTP_OK, render(site, language, ComplaintState{}));
}

void handleComplaintPost(PublicSite& site, const std::string& language,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response)
{
    auto posted = readPostedForm(site, language, request, response);
    if (!posted)
        return;
    ComplaintState state;
    state.values = std::move(*posted);
    check(state);
    if (!state.messageProblem.empty() || state.emailInvalid)
        return sendPage(request, response, HTTPResponse::HTTP_UNPROCESSABLE_ENTITY, render(site, language, state));
    if (!state.values.get("website").empty()) {
        state.notice = "honeypot";
        return sendPage(request, response, HTTPResponse::HTTP_UNPROCESSABLE_ENTITY, render(site, language, state));
    }
    const std::string address = request.get("X-Real-IP", "unknown");
    if (!site.reportLimiter().allow(address)) {
        state.notice = "too_many";
        response.set("Retry-After", std::to_string(site.reportLimiter().wait(address).count()));
        return sendPage(request, response, HTTPResponse::HTTP_TOO_MANY_REQUESTS, render(site, language, state));
    }
    Uuid uuid;
    if (writeSpoolEntry(site, spool::EntryKind::Complaint, toJson(state, language), uuid) != SpoolResult::Written) {
        state.notice = "not_saved";
        response.set("Retry-After", "300");
        return sendPage(request, response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, render(site, language, state));
    }
    PageData data;
    sendPage(request, response, HTTPResponse::HTTP_OK, site.pages().render("complaint-received", language, data));
}

} // namespace meldpunt::site
