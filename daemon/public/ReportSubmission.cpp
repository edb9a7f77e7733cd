#include "ReportSubmission.h"

#include "FormPage.h"
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

enum class BodyResult { Read, TooLarge, WrongType, Incomplete };

// Compares the media type, before any parameter, without regard to case
// (RFC 9110, section 8.3.1).
bool isUrlEncodedForm(const std::string& contentType)
{
    std::string type = contentType.substr(0, contentType.find(';'));
    while (!type.empty() && type.back() == ' ')
        type.pop_back();
    return Poco::icompare(type, "application/x-www-form-urlencoded") == 0;
}

BodyResult readBody(Poco::Net::HTTPServerRequest& request, std::size_t limit, std::string& body)
{
    if (!isUrlEncodedForm(request.getContentType()))
        return BodyResult::WrongType;
    std::istream& in = request.stream();
    char buffer[16 * 1024];
    while (in) {
        in.read(buffer, sizeof buffer);
        body.append(buffer, static_cast<std::size_t>(in.gcount()));
        if (body.size() > limit)
            return BodyResult::TooLarge;
    }
    // Poco ends the stream quietly when the connection closes early, so a
    // body cut short by a lost connection is detected here.
    if (request.hasContentLength() && static_cast<std::uint64_t>(request.getContentLength64()) != body.size())
        return BodyResult::Incomplete;
    return BodyResult::Read;
}

// The form's last field is form_end=1. Browsers send fields in document
// order, so a body whose last pair is anything else was cut short, which
// is the only way to tell with a chunked body.
bool endsWithFormEnd(const FormData& form)
{
    const auto& fields = form.fields();
    return !fields.empty() && fields.back().first == "form_end" && fields.back().second == "1";
}

// Browsers send "Origin: null" for our own form, because the site's
// referrer policy is no-referrer; a real other origin means another
// website made the visitor's browser post here.
bool isForeignOrigin(const Poco::Net::HTTPServerRequest& request, const std::string& origin)
{
    const std::string sender = request.get("Origin", "null");
    return sender != "null" && sender != origin;
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
    if (isForeignOrigin(request, site.config().origin))
        return sendPage(response, HTTPResponse::HTTP_FORBIDDEN,
            pages.render("message", language, messageData("foreign_origin")));
    std::string body;
    switch (readBody(request, site.config().maxReportBytes, body)) {
    case BodyResult::TooLarge:
        return sendPage(response, HTTPResponse::HTTP_REQUESTENTITYTOOLARGE,
            pages.render("message", language, messageData("too_large")));
    case BodyResult::WrongType:
        return sendPage(response, HTTPResponse::HTTP_UNSUPPORTEDMEDIATYPE,
            pages.render("message", language, messageData("malformed")));
    case BodyResult::Incomplete:
        return sendPage(response, HTTPResponse::HTTP_BAD_REQUEST,
            pages.render("message", language, messageData("incomplete")));
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
    if (!endsWithFormEnd(state.values))
        return sendPage(response, HTTPResponse::HTTP_BAD_REQUEST,
            pages.render("message", language, messageData("incomplete")));

    // The language switch is a submit button of the form itself, so that
    // nothing typed is lost; it skips validation.
    if (state.values.has("switch_language"))
        return sendPage(response, HTTPResponse::HTTP_OK, renderForm(site, language, state));

    state.problems = ReportForm::validate(state.values, site.countryCodes());
    if (!state.problems.empty())
        return sendPage(response, HTTPResponse::HTTP_UNPROCESSABLE_ENTITY, renderForm(site, language, state));

    // The honeypot field is hidden from people; a person who sees it (with
    // style sheets off) reads its label and gets the form back.
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
