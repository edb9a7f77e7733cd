#include "ReportSubmission.h"

#include "FormPage.h"
#include "PublicSite.h"

#include "Log.h"
#include "Spool.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>

#include <cerrno>
#include <istream>
#include <system_error>

namespace meldpunt::site {

namespace {

using Poco::Net::HTTPResponse;

enum class BodyResult { Read, TooLarge, WrongType };

BodyResult readBody(Poco::Net::HTTPServerRequest& request, std::size_t limit, std::string& body)
{
    const std::string type = request.getContentType();
    if (type.rfind("application/x-www-form-urlencoded", 0) != 0)
        return BodyResult::WrongType;
    std::istream& in = request.stream();
    char buffer[16 * 1024];
    while (in) {
        in.read(buffer, sizeof buffer);
        body.append(buffer, static_cast<std::size_t>(in.gcount()));
        if (body.size() > limit)
            return BodyResult::TooLarge;
    }
    return BodyResult::Read;
}

std::string utcNow()
{
    return Poco::DateTimeFormatter::format(Poco::DateTime(), Poco::DateTimeFormat::ISO8601_FORMAT);
}

// Writes the report into the spool. Returns the reference, or an empty
// string when the spool could not take it (the reason is logged).
std::string spoolReport(PublicSite& site, const spool::IntakePublicKey& key, const FormData& values,
    const std::string& language)
{
    const Uuid uuid = Uuid::generate();
    const std::string json = ReportForm::toJson(values, language, utcNow());
    try {
        spool::Writer writer(site.config().spoolFolder, spool::EntryKind::Report, uuid, key);
        writer.writeRecord(spool::RecordType::Fields, crypto::asBytes(json));
        writer.commit();
    } catch (const std::system_error& error) {
        log::error(std::string("Failed to write a report into the spool: ") + error.what());
        return {};
    }
    return referenceFromUuid(uuid);
}

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
    const Pages& pages = site.pages();
    std::string body;
    switch (readBody(request, site.config().maxReportBytes, body)) {
    case BodyResult::TooLarge:
        return sendPage(response, HTTPResponse::HTTP_REQUESTENTITYTOOLARGE,
            pages.render("message", language, messageData("too_large")));
    case BodyResult::WrongType:
        return sendPage(response, HTTPResponse::HTTP_UNSUPPORTEDMEDIATYPE,
            pages.render("message", language, messageData("malformed")));
    case BodyResult::Read:
        break;
    }

    FormState state;
    try {
        state.values = parseUrlEncoded(body);
    } catch (const MalformedFormError&) {
        return sendPage(response, HTTPResponse::HTTP_BAD_REQUEST,
            pages.render("message", language, messageData("malformed")));
    }

    // The language switch is a submit button of the form itself, so that
    // nothing typed is lost; it skips validation.
    if (state.values.has("switch_language"))
        return sendPage(response, HTTPResponse::HTTP_OK, renderForm(site, language, state));

    state.problems = ReportForm::validate(state.values, site.countryCodes());
    if (!state.problems.empty())
        return sendPage(response, HTTPResponse::HTTP_UNPROCESSABLE_ENTITY, renderForm(site, language, state));

    const auto key = site.intakeKeys().current();
    if (!key) {
        state.notice = "try_again_shortly";
        response.set("Retry-After", "60");
        return sendPage(response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, renderForm(site, language, state));
    }
    const std::string reference = spoolReport(site, *key, state.values, language);
    if (reference.empty()) {
        state.notice = "not_saved";
        response.set("Retry-After", "300");
        return sendPage(response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, renderForm(site, language, state));
    }
    sendReceipt(site, language, reference, response);
}

} // namespace meldpunt::site
