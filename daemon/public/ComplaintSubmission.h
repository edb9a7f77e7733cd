#pragma once

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <string>

namespace meldpunt::site {

class PublicSite;

// GET and POST /<language>/complaint: feedback and complaints about the
// hotline itself, stored for the coordinator through the spool like a
// report, with the same checks and the same care for what was typed.
void handleComplaintGet(PublicSite& site, const std::string& language, Poco::Net::HTTPServerRequest& request,
    Poco::Net::HTTPServerResponse& response);
void handleComplaintPost(PublicSite& site, const std::string& language,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);

} // namespace meldpunt::site
