#pragma once

#include "FormData.h"
#include "Pages.h"
#include "ReportForm.h"
#include "ReportUpload.h"

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <map>
#include <string>

namespace meldpunt::site {

class PublicSite;

// What the reporter typed and what is wrong with it, so that every page
// that shows the form again shows it with everything still in it.
struct FormState {
    FormData values;
    std::map<std::string, FieldProblem> problems;
    std::string notice; // "try_again_shortly", "not_saved" or empty
    // The form's held files are listed from the store by this token.
    std::string uploadToken;
    std::vector<UploadNotice> uploadNotices;
    std::string draftExpires; // when the draft the form was resumed from expires, UTC
};

std::string renderForm(const PublicSite& site, const std::string& language, const FormState& state);

// Data for message.mustache: `kind` selects the text (not_found,
// malformed, too_large, internal_error).
PageData messageData(const std::string& kind);

// Sends an HTML page that no cache may store: report pages carry what a
// reporter typed, and a shared or back-button cache must not keep it.
// The header and the page go to the request's socket in one write, which
// the edge reads at once (see sendAtOnce in UnixHttpServer.h).
void sendPage(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
    Poco::Net::HTTPResponse::HTTPStatus status, const std::string& html);

} // namespace meldpunt::site
