#pragma once

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <string>

namespace meldpunt::site {

class PublicSite;

// GET and POST /<language>/return: a reporter comes back with the
// reference and receipt secret of a report to read staff replies, add
// information or reply, or withdraw the report while it has not been
// referred. The secret is checked against the receipt meldpuntd published.
// Wrong secrets and unknown references count against a GuessLimiter, and
// the Argon2id run holds a SlowHashGate place. What the reporter adds goes
// into the spool as a follow-up or a withdrawal entry.
void handleReturnGet(PublicSite& site, const std::string& language, Poco::Net::HTTPServerRequest& request,
    Poco::Net::HTTPServerResponse& response);
void handleReturnPost(PublicSite& site, const std::string& language,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);

} // namespace meldpunt::site
