#pragma once

#include "FormData.h"
#include "Spool.h"
#include "Uuid.h"

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <optional>
#include <string>

namespace meldpunt::site {

class PublicSite;

// Reads a form posted by one of the site's own pages and checks that it
// came whole and from this site. On any problem it sends the page in the
// visitor's language itself (403 for another website's form, 400 for an
// unreadable or cut-off body, 413, 415) and returns nullopt.
std::optional<FormData> readPostedForm(PublicSite& site, const std::string& language,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);

// Returns true when the request's Origin names another website, which
// means that website made the visitor's browser post here. Browsers send
// "Origin: null" for the site's own forms, because its referrer policy is
// no-referrer.
bool isForeignOrigin(const Poco::Net::HTTPServerRequest& request, const std::string& origin);

enum class SpoolResult { Written, NoIntakeKey, Failed };

// Encrypts `json` as one spool entry of `kind` to the published intake key
// and commits it durably (synced file and folder). Sets `uuid` on success;
// a failure is logged without content and leaves no file behind.
SpoolResult writeSpoolEntry(PublicSite& site, spool::EntryKind kind, const std::string& json, Uuid& uuid);

// The current time in UTC, ISO 8601.
std::string utcNow();

} // namespace meldpunt::site
