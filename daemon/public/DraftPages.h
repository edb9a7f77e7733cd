#pragma once

#include "FormPage.h"

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <string>

namespace meldpunt::site {

class PublicSite;

// Fields of the report form that belong to the draft machinery, not to
// the report: the save button and the resume code of a resumed draft.
inline constexpr std::string_view kSaveDraftField = "save_draft";
inline constexpr std::string_view kResumeCodeField = "resume_code";

// Saves the posted form as a draft and shows its resume code. A form that
// came from a resumed draft keeps its resume code; otherwise a new one is
// made. Every failure shows the form again with everything typed.
void handleSaveDraft(PublicSite& site, const std::string& language, FormState state,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);

// Deletes the draft a sent report was resumed from, if any.
void removeSentDraft(PublicSite& site, const FormData& fields);

// GET and POST /<language>/resume: the page where a resume code is typed,
// and the form brought back from its draft.
void handleResumeGet(PublicSite& site, const std::string& language,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);
void handleResumePost(PublicSite& site, const std::string& language,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);

// Sets the draft lifetime that the form and the resume page state, in
// days or hours, in `data`.
void setDraftLifetime(const PublicSite& site, PageData& data);

} // namespace meldpunt::site
