#pragma once

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <string>

namespace meldpunt::site {

class PublicSite;

// Handles POST /<language>/report: reads and checks the form, writes the
// report durably into the spool and only then shows the receipt. Every
// failure answers with a page in the reporter's language and, where the
// body could be read, the form with everything typed still in it.
void handleReportPost(PublicSite& site, const std::string& language,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);

} // namespace meldpunt::site
