#include "StaffServer.h"

#include "Pages.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

namespace meldpunt::daemon {

namespace {

using Poco::Net::HTTPResponse;

class StatusHandler : public Poco::Net::HTTPRequestHandler {
public:
    explicit StatusHandler(std::function<StaffStatus()> status)
        : status_(std::move(status))
    {
    }

    void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override
    {
        response.set("Cache-Control", "no-store");
        if (request.getURI() == "/healthz") {
            response.setContentType("text/plain");
            response.send() << "ok\n";
            return;
        }
        if (request.getURI() != "/") {
            response.setStatusAndReason(HTTPResponse::HTTP_NOT_FOUND);
            response.setContentType("text/plain");
            response.send() << "not found\n";
            return;
        }
        const StaffStatus status = status_();
        std::string html = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                           "<title>Meldpunt</title><link rel=\"stylesheet\" href=\"/static/site.css\"></head><body><main>"
                           "<h1>Meldpunt</h1>";
        if (status.locked) {
            response.setStatusAndReason(HTTPResponse::HTTP_SERVICE_UNAVAILABLE);
            html += "<p role=\"alert\">The database is locked: " + escapeHtml(status.lockedReason)
                + ".</p><p>The public site keeps taking reports into the spool; they are ingested once the database opens.</p>";
        } else {
            html += "<p>The database is open and reports are being ingested.</p>";
        }
        html += "</main></body></html>";
        response.setContentType("text/html; charset=utf-8");
        response.setContentLength(static_cast<std::streamsize>(html.size()));
        response.send() << html;
    }

private:
    std::function<StaffStatus()> status_;
};

class StaffFactory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit StaffFactory(std::function<StaffStatus()> status)
        : status_(std::move(status))
    {
    }
    Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override
    {
        return new StatusHandler(status_);
    }

private:
    std::function<StaffStatus()> status_;
};

} // namespace

Poco::Net::HTTPRequestHandlerFactory::Ptr makeStaffHandlerFactory(std::function<StaffStatus()> status)
{
    return new StaffFactory(std::move(status));
}

} // namespace meldpunt::daemon
