#include "StaffServer.h"

#include "FormData.h"
#include "OutcomeEndpoint.h"
#include "Outbox.h"
#include "Pages.h"
#include "UnixHttpServer.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <Poco/String.h>

#include <algorithm>
#include <istream>

namespace meldpunt::daemon {

namespace {

using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

constexpr std::size_t kMaxRecoveryBody = 4096;
constexpr std::size_t kMaxOutcomeBody = 4096;
// The largest staff form body read; StaffApp rejects anything larger.
constexpr std::size_t kMaxStaffBody = 64 * 1024;

enum class Body { Read, Stream };

// Reads a body up to one byte past `limit`, so that the caller can tell a
// body over the limit, and reads and drops whatever follows. A response
// sent with the rest unread closes the socket with data in it. The reset
// can then destroy the response before the edge has passed it on, and the
// edge shows its own error page instead. The edge bounds the body.
std::string readBoundedBody(std::istream& in, std::size_t limit)
{
    std::string body;
    char buffer[4096];
    while (in && body.size() <= limit) {
        in.read(buffer, static_cast<std::streamsize>(std::min(sizeof buffer, limit + 1 - body.size())));
        body.append(buffer, static_cast<std::size_t>(in.gcount()));
    }
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    }
    return body;
}

// Converts the request. With Body::Stream the body stays unread in
// request.stream(), for the bundle upload.
staff::StaffRequest staffRequest(HTTPServerRequest& request, Body body = Body::Read)
{
    staff::StaffRequest converted;
    converted.method = request.getMethod();
    const std::string& uri = request.getURI();
    const auto question = uri.find('?');
    converted.path = uri.substr(0, question);
    if (question != std::string::npos)
        converted.query = uri.substr(question + 1);
    for (const auto& [name, value] : request) {
        std::string lower = Poco::toLower(name);
        // Repeated headers (Cookie from HTTP/2) are joined as RFC 9110 allows.
        auto [item, inserted] = converted.headers.emplace(lower, value);
        if (!inserted)
            item->second += (lower == "cookie" ? "; " : ", ") + value;
    }
    converted.address = request.get("X-Real-IP", "");
    if (converted.method == "POST" && body == Body::Read)
        converted.body = readBoundedBody(request.stream(), kMaxStaffBody);
    return converted;
}

void sendStaffResponse(HTTPServerRequest& request, HTTPServerResponse& response, const staff::StaffResponse& answer)
{
    response.setStatusAndReason(static_cast<HTTPResponse::HTTPStatus>(answer.status));
    for (const auto& [name, value] : answer.headers) {
        if (name == "Set-Cookie")
            response.add(name, value);
        else
            response.set(name, value);
    }
    response.setContentType(answer.contentType);
    sendAtOnce(request, response, answer.body);
}

std::string page(const std::string& body)
{
    return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
           "<title>Meldpunt</title><link rel=\"stylesheet\" href=\"/static/site.css\"></head><body><main>"
           "<h1>Meldpunt</h1>"
        + body + "</main></body></html>";
}

std::string statusBody(const StaffStatus& status, const std::string& notice)
{
    std::string body;
    if (!notice.empty())
        body += "<div class=\"notice\" role=\"alert\"><p>" + escapeHtml(notice) + "</p></div>";
    if (!status.locked) {
        body += "<p>The database is open and reports are being ingested.</p>";
        if (!status.tpmWarning.empty())
            body += "<p>The TPM reports: " + escapeHtml(status.tpmWarning) + ".</p>";
        return body;
    }
    body += "<p role=\"alert\">The database is locked: " + escapeHtml(status.lockedReason) + ".</p>"
            "<p>The public site keeps taking reports into the spool; they are ingested once the database opens.</p>"
            "<form method=\"post\" action=\"/recovery\" autocomplete=\"off\">"
            "<div class=\"field\"><label for=\"recovery_key\">Recovery key</label>"
            "<p class=\"hint\" id=\"recovery-hint\">Eight groups of five characters, as shown once when this box was set up. "
            "Hyphens and spaces are optional.</p>"
            "<input type=\"text\" id=\"recovery_key\" name=\"recovery_key\" autocomplete=\"off\" spellcheck=\"false\" "
            "aria-describedby=\"recovery-hint\"></div>"
            "<button type=\"submit\" class=\"primary\">Unlock with the recovery key</button></form>";
    return body;
}

class StaffHandler : public Poco::Net::HTTPRequestHandler {
public:
    explicit StaffHandler(Daemon& daemon)
        : daemon_(daemon)
    {
    }

    void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override
    {
        response.set("Cache-Control", "no-store");
        const std::string& uri = request.getURI();
        // The partner outcome endpoint is not a staff page: only the partner
        // edge reaches it, with a verified client certificate.
        const bool staffPage = uri != "/healthz" && uri != referral::kOutcomePath;
        if (staffPage && (uri != "/recovery" || !daemon_.status().locked)) {
            if (staff::StaffApp* app = daemon_.staffApp()) {
                // A bundle upload streams into a file as it arrives: it may
                // be far larger than any form the server reads into memory.
                if (request.getMethod() == "POST" && uri == staff::StaffApp::kUploadPath) {
                    sendStaffResponse(
                        request, response, app->handleUpload(staffRequest(request, Body::Stream), request.stream()));
                    return;
                }
                sendStaffResponse(request, response, app->handle(staffRequest(request)));
                return;
            }
        }
        if (uri == "/healthz") {
            response.setContentType("text/plain");
            response.send() << "ok\n";
        } else if (uri == "/" && request.getMethod() != "POST") {
            const StaffStatus status = daemon_.status();
            send(response, status.locked ? HTTPResponse::HTTP_SERVICE_UNAVAILABLE : HTTPResponse::HTTP_OK,
                statusBody(status, {}));
        } else if (uri == "/recovery" && request.getMethod() == "POST") {
            handleRecovery(request, response);
        } else if (uri == referral::kOutcomePath && request.getMethod() == "POST") {
            handlePartnerOutcome(request, response);
        } else {
            send(response, HTTPResponse::HTTP_NOT_FOUND, "<p>This page does not exist.</p>");
        }
    }

private:
    // Browsers mark a form posted from another site. Only a form from the
    // staff listener itself, or a tool that sends no such header, may try a
    // key, so a web page that a staff member opens cannot.
    static bool isCrossSite(const HTTPServerRequest& request)
    {
        const std::string site = request.get("Sec-Fetch-Site", "");
        return !site.empty() && site != "same-origin" && site != "none";
    }

    void handlePartnerOutcome(HTTPServerRequest& request, HTTPServerResponse& response)
    {
        const std::string body = readBoundedBody(request.stream(), kMaxOutcomeBody);
        const auto result = referral::handleOutcomePost(daemon_.referrals(),
            request.get(referral::kPartnerCertificateHeader, ""), body, referral::formatUtc(referral::Clock::now()));
        response.setStatus(static_cast<HTTPResponse::HTTPStatus>(result.status));
        if (result.status == HTTPResponse::HTTP_NO_CONTENT) {
            response.setContentLength(0);
            response.send();
            return;
        }
        response.setContentType("text/plain; charset=utf-8");
        response.send() << result.message << '\n';
    }

    void handleRecovery(HTTPServerRequest& request, HTTPServerResponse& response)
    {
        if (isCrossSite(request))
            return send(response, HTTPResponse::HTTP_FORBIDDEN,
                statusBody(daemon_.status(), "This form can only be sent from this page."));
        const std::string body = readBoundedBody(request.stream(), kMaxRecoveryBody);
        std::string typed;
        try {
            if (body.size() > kMaxRecoveryBody)
                throw MalformedFormError("too long");
            typed = parseUrlEncoded(body).get("recovery_key");
        } catch (const MalformedFormError&) {
            return send(response, HTTPResponse::HTTP_BAD_REQUEST,
                statusBody(daemon_.status(), "The form could not be read. Type the recovery key again."));
        }
        const RecoveryAttempt attempt = daemon_.recover(typed, request.get("X-Real-IP", "unknown"));
        switch (attempt.result) {
        case RecoveryResult::Unlocked:
        case RecoveryResult::NotLocked:
            response.set("Location", "/");
            response.setStatusAndReason(HTTPResponse::HTTP_SEE_OTHER);
            response.setContentLength(0);
            response.send();
            return;
        case RecoveryResult::Malformed:
            return send(response, HTTPResponse::HTTP_BAD_REQUEST, statusBody(daemon_.status(), attempt.message));
        case RecoveryResult::WrongKey:
            response.set("Retry-After", std::to_string(attempt.retryAfter.count()));
            return send(response, HTTPResponse::HTTP_FORBIDDEN,
                statusBody(daemon_.status(), "This recovery key does not unlock this box. You can try again in "
                        + std::to_string(attempt.retryAfter.count()) + " seconds."));
        case RecoveryResult::TooSoon:
            response.set("Retry-After", std::to_string(attempt.retryAfter.count()));
            return send(response, HTTPResponse::HTTP_TOO_MANY_REQUESTS,
                statusBody(daemon_.status(), "Too many attempts. Try again in "
                        + std::to_string(attempt.retryAfter.count()) + " seconds."));
        case RecoveryResult::Failed:
            return send(response, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR,
                statusBody(daemon_.status(), "The recovery key was accepted, but unlocking failed: " + attempt.message));
        }
    }

    static void send(HTTPServerResponse& response, HTTPResponse::HTTPStatus status, const std::string& body)
    {
        const std::string html = page(body);
        response.setStatusAndReason(status);
        response.setContentType("text/html; charset=utf-8");
        response.setContentLength(static_cast<std::streamsize>(html.size()));
        response.send() << html;
    }

    Daemon& daemon_;
};

class StaffFactory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit StaffFactory(Daemon& daemon)
        : daemon_(daemon)
    {
    }
    Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override
    {
        return new StaffHandler(daemon_);
    }

private:
    Daemon& daemon_;
};

} // namespace

Poco::Net::HTTPRequestHandlerFactory::Ptr makeStaffHandlerFactory(Daemon& daemon)
{
    return new StaffFactory(daemon);
}

} // namespace meldpunt::daemon
