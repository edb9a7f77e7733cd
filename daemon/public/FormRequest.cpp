#include "FormRequest.h"

#include "FormPage.h"
#include "PublicSite.h"

#include "Log.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/String.h>

#include <system_error>

#include <istream>

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

// Reads and drops the rest of a body. Closing a socket with unread data
// resets it, and the reset can destroy the page before the edge has passed
// it on. The edge bounds the body.
void discardBody(Poco::Net::HTTPServerRequest& request)
{
    std::istream& in = request.stream();
    char buffer[16 * 1024];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    }
}

// The form's last field is form_end=1. Browsers send fields in document
// order, so a body whose last pair is anything else was cut short, which
// is the only way to tell with a chunked body.
bool endsWithFormEnd(const FormData& form)
{
    const auto& fields = form.fields();
    return !fields.empty() && fields.back().first == "form_end" && fields.back().second == "1";
}

} // namespace

bool isForeignOrigin(const Poco::Net::HTTPServerRequest& request, const std::string& origin)
{
    const std::string sender = request.get("Origin", "null");
    return sender != "null" && sender != origin;
}

std::optional<FormData> readPostedForm(PublicSite& site, const std::string& language,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response)
{
    const Pages& pages = site.pages();
    auto fail = [&](HTTPResponse::HTTPStatus status, const char* kind) {
        sendPage(request, response, status, pages.render("message", language, messageData(kind)));
        return std::nullopt;
    };
    if (isForeignOrigin(request, site.config().origin))
        return fail(HTTPResponse::HTTP_FORBIDDEN, "foreign_origin");
    std::string body;
    switch (readBody(request, site.config().maxReportBytes, body)) {
    case BodyResult::TooLarge:
        // The edge lets report bodies far larger than a report through, so
        // the rest of this one may still be on the way.
        discardBody(request);
        response.setKeepAlive(false);
        return fail(HTTPResponse::HTTP_REQUESTENTITYTOOLARGE, "too_large");
    case BodyResult::WrongType:
        return fail(HTTPResponse::HTTP_UNSUPPORTEDMEDIATYPE, "malformed");
    case BodyResult::Incomplete:
        return fail(HTTPResponse::HTTP_BAD_REQUEST, "incomplete");
    case BodyResult::Read:
        break;
    }
    FormData form;
    try {
        form = parseUrlEncoded(body);
    } catch (const MalformedFormError&) {
        return fail(HTTPResponse::HTTP_BAD_REQUEST, "malformed");
    }
    if (!endsWithFormEnd(form))
        return fail(HTTPResponse::HTTP_BAD_REQUEST, "incomplete");
    return form;
}

std::string utcNow()
{
    return Poco::DateTimeFormatter::format(Poco::DateTime(), Poco::DateTimeFormat::ISO8601_FORMAT);
}

SpoolResult writeSpoolEntry(PublicSite& site, spool::EntryKind kind, const std::string& json, Uuid& uuid)
{
    const auto key = site.intakeKeys().current();
    if (!key)
        return SpoolResult::NoIntakeKey;
    uuid = Uuid::generate();
    try {
        spool::Writer writer(site.config().spoolFolder, kind, uuid, *key);
        writer.writeRecord(spool::RecordType::Fields, crypto::asBytes(json));
        writer.commit();
    } catch (const std::system_error& error) {
        log::error(std::string("Failed to write a spool entry: ") + error.what());
        return SpoolResult::Failed;
    }
    return SpoolResult::Written;
}

} // namespace meldpunt::site
