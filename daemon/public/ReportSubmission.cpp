#include "ReportSubmission.h"

#include "DraftPages.h"
#include "FormPage.h"
#include "FormRequest.h"
#include "PublicSite.h"
#include "ReportUpload.h"

#include "Log.h"
#include "PublishedContent.h"
#include "ReporterCode.h"
#include "Spool.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/String.h>

#include <algorithm>

#include <cerrno>
#include <set>
#include <sstream>
#include <istream>
#include <system_error>

namespace meldpunt::site {

namespace {

using Poco::Net::HTTPResponse;

void sendReceipt(PublicSite& site, const std::string& language, const std::string& reference,
    const ReporterCode& secret, Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response)
{
    PageData data;
    data.set("reference", reference);
    data.set("receipt_secret", secret.toString());
    sendPage(request, response, HTTPResponse::HTTP_OK, site.pages().render("receipt", language, data));
}

} // namespace

void handleReportPost(PublicSite& site, const std::string& language,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response)
{
    FormState state;
    auto posted = readReportPost(site, language, request, response);
    if (!posted)
        return;
    state.values = std::move(posted->values);
    state.uploadToken = posted->uploadToken;
    state.uploadNotices = std::move(posted->notices);

    // Attachments: a body that stopped early, a skipped file, and the
    // attach and remove buttons all bring the form back unsent, with
    // everything typed and every held file still in it.
    if (posted->stoppedEarly) {
        // The rest of the body was not read, so the connection cannot
        // carry another request.
        response.setKeepAlive(false);
        const bool serverProblem = std::any_of(state.uploadNotices.begin(), state.uploadNotices.end(),
            [](const UploadNotice& notice) { return notice.problem == UploadProblem::NotStored; });
        if (serverProblem)
            response.set("Retry-After", "300");
        return sendPage(request, response,
            serverProblem ? HTTPResponse::HTTP_SERVICE_UNAVAILABLE : HTTPResponse::HTTP_REQUESTENTITYTOOLARGE,
            renderForm(site, language, state));
    }
    if (state.values.has("remove_upload") && !state.uploadToken.empty())
        site.heldUploads().remove(state.uploadToken, state.values.get("remove_upload"));
    if (state.values.has("remove_upload") || state.values.has("attach_files"))
        return sendPage(request, response, HTTPResponse::HTTP_OK, renderForm(site, language, state));
    if (!state.uploadNotices.empty())
        return sendPage(request, response, HTTPResponse::HTTP_UNPROCESSABLE_ENTITY, renderForm(site, language, state));

    // The language switch is a submit button of the form itself, so that
    // nothing typed is lost; it skips validation.
    if (state.values.has("switch_language"))
        return sendPage(request, response, HTTPResponse::HTTP_OK, renderForm(site, language, state));

    // "Save and continue later" is a submit button too; a draft may be
    // incomplete, so it skips validation as well.
    if (state.values.has(kSaveDraftField))
        return handleSaveDraft(site, language, std::move(state), request, response);

    // The categories that meldpuntd published replace the form's own; a
    // category a coordinator disabled is refused like any unknown choice.
    const auto content = readPublishedSiteContent(site.config().publishFolder);
    std::set<std::string> categories;
    if (content)
        for (const auto& category : content->categories)
            categories.insert(category.id);
    state.problems = ReportForm::validate(state.values, site.countryCodes(), content ? &categories : nullptr);
    if (!state.problems.empty())
        return sendPage(request, response, HTTPResponse::HTTP_UNPROCESSABLE_ENTITY, renderForm(site, language, state));

    // The honeypot field is hidden from people. A person who reads it (with
    // style sheets off) also reads its label, so gets the form back.
    if (!state.values.get("website").empty()) {
        state.notice = "honeypot";
        return sendPage(request, response, HTTPResponse::HTTP_UNPROCESSABLE_ENTITY, renderForm(site, language, state));
    }

    // nginx sets X-Real-IP from the connection; the address is used here,
    // in memory, and nowhere else.
    const std::string address = request.get("X-Real-IP", "unknown");
    if (!site.reportLimiter().allow(address)) {
        state.notice = "too_many";
        response.set("Retry-After", std::to_string(site.reportLimiter().wait(address).count()));
        return sendPage(request, response, HTTPResponse::HTTP_TOO_MANY_REQUESTS, renderForm(site, language, state));
    }

    // The receipt secret travels inside the encrypted entry; meldpuntd
    // runs Argon2id over it when it ingests the report, so no reporter
    // waits for that here.
    const ReporterCode secret = ReporterCode::generate(ReporterCode::Kind::Receipt);

    Uuid uuid;
    const std::string json = ReportForm::toJson(state.values, language, utcNow());
    switch (writeReportEntry(site, json, secret, state.uploadToken, uuid)) {
    case SpoolResult::NoIntakeKey:
        state.notice = "try_again_shortly";
        response.set("Retry-After", "60");
        return sendPage(request, response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, renderForm(site, language, state));
    case SpoolResult::Failed:
        state.notice = "not_saved";
        response.set("Retry-After", "300");
        return sendPage(request, response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, renderForm(site, language, state));
    case SpoolResult::Written:
        break;
    }
    removeSentDraft(site, state.values);
    const std::string reference = referenceFromUuid(uuid);
    sendReceipt(site, language, reference, secret, request, response);
}

} // namespace meldpunt::site
