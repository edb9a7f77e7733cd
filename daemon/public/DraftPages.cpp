#include "DraftPages.h"

#include "DraftStore.h"
#include "FormRequest.h"
#include "PublicSite.h"

#include "Log.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Timestamp.h>

#include <system_error>

namespace meldpunt::site {

namespace {

using Poco::Net::HTTPResponse;

constexpr std::string_view kCodeField = "code";

std::string formatUtc(DraftStore::Clock::time_point when)
{
    const auto microseconds
        = std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count();
    return Poco::DateTimeFormatter::format(Poco::Timestamp(microseconds), "%Y-%m-%d %H:%M UTC");
}

// The form's fields that a draft keeps: all of them, hidden ones included,
// except the buttons and the closing field, which the page adds itself.
// The fields a draft keeps. The held files' token is the one this post
// used: files chosen in the same post as "Save and continue later" are
// held under a token the form did not carry yet.
FormData draftFields(const FormData& posted, const std::string& uploadToken)
{
    FormData kept;
    for (const auto& [name, value] : posted.fields()) {
        if (name == kSaveDraftField || name == kResumeCodeField || name == "switch_language"
            || name == "form_end" || name == "website" || name == "upload_token")
            continue;
        kept.add(name, value);
    }
    if (!uploadToken.empty())
        kept.add("upload_token", uploadToken);
    return kept;
}

const char* problemKey(CodeProblem problem)
{
    switch (problem) {
    case CodeProblem::Empty: return "code_empty";
    case CodeProblem::InvalidCharacter: return "code_invalid_character";
    case CodeProblem::WrongLength: return "code_wrong_length";
    case CodeProblem::CheckMismatch: return "code_typo";
    case CodeProblem::OtherKind: return "code_is_receipt";
    }
    return "code_empty";
}

void sendResumePage(PublicSite& site, const std::string& language, HTTPResponse::HTTPStatus status,
    const std::string& notice, std::size_t group, const std::string& typed,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response)
{
    PageData data;
    setDraftLifetime(site, data);
    data.set("page_path", "resume");
    data.set("typed_code", typed);
    if (!notice.empty()) {
        data.set("notice_" + notice, true);
        data.set("has_problem", notice.starts_with("code_"));
    }
    if (group > 0)
        data.set("code_group", std::to_string(group));
    sendPage(request, response, status, site.pages().render("resume", language, data));
}

void sendSavedPage(PublicSite& site, const std::string& language, const ReporterCode& code,
    DraftStore::Clock::time_point expires, bool sameCode, Poco::Net::HTTPServerRequest& request,
    Poco::Net::HTTPServerResponse& response)
{
    PageData data;
    setDraftLifetime(site, data);
    data.set("page_path", "report");
    data.set("resume_code", code.toString());
    data.set("expires_at", formatUtc(expires));
    data.set("same_code", sameCode);
    sendPage(request, response, HTTPResponse::HTTP_OK, site.pages().render("draft-saved", language, data));
}

// A resume code in the form is one the reporter resumed with, so it is
// one they hold. A malformed one is ignored and a new code made.
ReporterCode codeForSave(const FormData& fields, bool& sameCode)
{
    auto parsed = ReporterCode::parse(fields.get(kResumeCodeField), ReporterCode::Kind::Resume);
    sameCode = parsed.code.has_value();
    if (parsed.code)
        return std::move(*parsed.code);
    return ReporterCode::generate(ReporterCode::Kind::Resume);
}

} // namespace

void setDraftLifetime(const PublicSite& site, PageData& data)
{
    constexpr long long kDay = 24 * 60 * 60;
    const long long seconds = site.drafts().lifetime().count();
    // NOTE: the pages name days or hours in the plural form only, which
    // reads wrong for a lifetime of exactly one day or one hour.
    if (seconds >= kDay && seconds % kDay == 0)
        data.set("draft_days", std::to_string(seconds / kDay));
    else
        data.set("draft_hours", std::to_string(std::max(1LL, (seconds + 3599) / 3600)));
}

void handleSaveDraft(PublicSite& site, const std::string& language, FormState state,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response)
{
    const std::string address = request.get("X-Real-IP", "unknown");
    if (!site.draftSaveLimiter().allow(address)) {
        state.notice = "too_many_drafts";
        response.set("Retry-After", std::to_string(site.draftSaveLimiter().wait(address).count()));
        return sendPage(request, response, HTTPResponse::HTTP_TOO_MANY_REQUESTS, renderForm(site, language, state));
    }
    bool sameCode = false;
    const ReporterCode code = codeForSave(state.values, sameCode);
    DraftStore::Clock::time_point expires;
    try {
        expires = site.drafts().save(code, language, draftFields(state.values, state.uploadToken));
    } catch (const std::system_error& error) {
        log::error(std::string("Failed to save a draft: ") + error.what());
        state.notice = "draft_not_saved";
        response.set("Retry-After", "300");
        return sendPage(request, response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, renderForm(site, language, state));
    }
    sendSavedPage(site, language, code, expires, sameCode, request, response);
}

void removeSentDraft(PublicSite& site, const FormData& fields)
{
    const auto parsed = ReporterCode::parse(fields.get(kResumeCodeField), ReporterCode::Kind::Resume);
    if (!parsed.code)
        return;
    try {
        site.drafts().remove(*parsed.code);
    } catch (const std::system_error& error) {
        // The report is safe in the spool; the draft expires by itself.
        log::warning(std::string("Failed to remove a sent draft: ") + error.what());
    }
}

void handleResumeGet(PublicSite& site, const std::string& language, Poco::Net::HTTPServerRequest& request,
    Poco::Net::HTTPServerResponse& response)
{
    sendResumePage(site, language, HTTPResponse::HTTP_OK, {}, 0, {}, request, response);
}

void handleResumePost(PublicSite& site, const std::string& language,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response)
{
    auto posted = readPostedForm(site, language, request, response);
    if (!posted)
        return;
    const std::string& typed = posted->get(kCodeField);
    auto parsed = ReporterCode::parse(typed, ReporterCode::Kind::Resume);
    // A typo costs nothing against the limits: the check characters are
    // public, so they tell a guesser nothing new.
    if (!parsed.code)
        return sendResumePage(site, language, HTTPResponse::HTTP_UNPROCESSABLE_ENTITY,
            problemKey(parsed.problem), parsed.group, typed, request, response);

    const std::string address = request.get("X-Real-IP", "unknown");
    if (!site.resumeLimiter().permits(address)) {
        response.set("Retry-After", std::to_string(site.resumeLimiter().wait(address).count()));
        return sendResumePage(site, language, HTTPResponse::HTTP_TOO_MANY_REQUESTS, "too_many_codes", 0, typed, request, response);
    }
    DraftStore::Draft draft;
    DraftStore::Lookup lookup;
    try {
        lookup = site.drafts().load(*parsed.code, draft);
    } catch (const std::system_error& error) {
        log::error(std::string("Failed to read a draft: ") + error.what());
        return sendResumePage(site, language, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, "draft_unavailable", 0, typed, request, response);
    }
    switch (lookup) {
    case DraftStore::Lookup::NotFound:
        site.resumeLimiter().countFailure(address);
        return sendResumePage(site, language, HTTPResponse::HTTP_NOT_FOUND, "code_unknown", 0, typed, request, response);
    case DraftStore::Lookup::Expired:
        return sendResumePage(site, language, HTTPResponse::HTTP_GONE, "draft_expired", 0, {}, request, response);
    case DraftStore::Lookup::Unreadable:
        log::warning("A draft could not be decrypted or was damaged; it was left in place");
        return sendResumePage(site, language, HTTPResponse::HTTP_UNPROCESSABLE_ENTITY, "draft_damaged", 0, {}, request, response);
    case DraftStore::Lookup::Found:
        break;
    }
    FormState state;
    state.values = std::move(draft.fields);
    // The files held for the form stay bound to its token, which the draft
    // kept among the fields, so the resumed form lists and sends them.
    if (HeldUploads::isValidToken(state.values.get("upload_token")))
        state.uploadToken = state.values.get("upload_token");
    state.values.add(std::string(kResumeCodeField), parsed.code->toString());
    state.notice = "draft_resumed";
    state.draftExpires = formatUtc(draft.expires);
    sendPage(request, response, HTTPResponse::HTTP_OK, renderForm(site, language, state));
}

} // namespace meldpunt::site
