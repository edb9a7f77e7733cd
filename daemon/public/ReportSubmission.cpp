#include "ReportSubmission.h"

#include "DraftPages.h"
#include "FormPage.h"
#include "FormRequest.h"
#include "PublicSite.h"

#include "Log.h"
#include "Spool.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/String.h>

#include <cerrno>
#include <istream>
#include <system_error>

namespace meldpunt::site {

namespace {

using Poco::Net::HTTPResponse;

void sendReceipt(PublicSite& site, const std::string& language, const std::string& reference,
    Poco::Net::HTTPServerResponse& response)
{
    PageData data;
    data.set("reference", reference);
    sendPage(response, HTTPResponse::HTTP_OK, site.pages().render("receipt", language, data));
}

} // namespace

void handleReportPost(PublicSite& site, const std::string& language,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response)
{
    FormState state;
    auto posted = readPostedForm(site, language, request, response);
    if (!posted)
        return;
    state.values = std::move(*posted);

    // The language switch is a submit button of the form itself, so that
    // nothing typed is lost; it skips validation.
    if (state.values.has("switch_language"))
        return sendPage(response, HTTPResponse::HTTP_OK, renderForm(site, language, state));

    // "Save and continue later" is a submit button too; a draft may be
    // incomplete, so it skips validation as well.
    if (state.values.has(kSaveDraftField))
        return handleSaveDraft(site, language, std::move(state), request, response);

    state.problems = ReportForm::validate(state.values, site.countryCodes());
    if (!state.problems.empty())
        return sendPage(response, HTTPResponse::HTTP_UNPROCESSABLE_ENTITY, renderForm(site, language, state));

    // The honeypot field is hidden from people. A person who reads it (with
    // style sheets off) also reads its label, so gets the form back.
    if (!state.values.get("website").empty()) {
        state.notice = "honeypot";
        return sendPage(response, HTTPResponse::HTTP_UNPROCESSABLE_ENTITY, renderForm(site, language, state));
    }

    // nginx sets X-Real-IP from the connection; the address is used here,
    // in memory, and nowhere else.
    const std::string address = request.get("X-Real-IP", "unknown");
    if (!site.reportLimiter().allow(address)) {
        state.notice = "too_many";
        response.set("Retry-After", std::to_string(site.reportLimiter().wait(address).count()));
        return sendPage(response, HTTPResponse::HTTP_TOO_MANY_REQUESTS, renderForm(site, language, state));
    }

    Uuid uuid;
    const std::string json = ReportForm::toJson(state.values, language, utcNow());
    switch (writeSpoolEntry(site, spool::EntryKind::Report, json, uuid)) {
    case SpoolResult::NoIntakeKey:
        state.notice = "try_again_shortly";
        response.set("Retry-After", "60");
        return sendPage(response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, renderForm(site, language, state));
    case SpoolResult::Failed:
        state.notice = "not_saved";
        response.set("Retry-After", "300");
        return sendPage(response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, renderForm(site, language, state));
    case SpoolResult::Written:
        break;
    }
    removeSentDraft(site, state.values);
    const std::string reference = referenceFromUuid(uuid);
    sendReceipt(site, language, reference, response);
}

} // namespace meldpunt::site
