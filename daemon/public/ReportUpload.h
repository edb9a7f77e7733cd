#pragma once

// Reading a report form with its attachments, and handing the attachments
// on into the report's spool entry.

#include "FormData.h"
#include "FormRequest.h"
#include "HeldUploads.h"
#include "ReporterCode.h"
#include "Uuid.h"

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <optional>
#include <string>
#include <vector>

namespace meldpunt::site {

class PublicSite;

enum class UploadProblem {
    TooLarge,     // over the per-file limit; skipped, the rest was read
    ReportFull,   // over the per-report limit; skipped, the rest was read
    TooManyFiles, // the form already has the maximum number of files
    NotAllowed,   // the content is not a type the site accepts
    Mismatch,     // the content does not match the type the file claims
    Empty,        // a file of zero bytes
    NotStored,    // a problem on the server (a full disk, say)
};

struct UploadNotice {
    UploadProblem problem;
    std::string fileName; // sanitised
};

struct PostedReport {
    FormData values;
    std::string uploadToken; // empty while the form has no files
    std::vector<UploadNotice> notices;
    // Reading stopped before the end of the body (NotStored):
    // the fields after the file input are missing, so the form must be
    // shown again and not sent.
    bool stoppedEarly = false;
};

// Reads POST /<language>/report as application/x-www-form-urlencoded or
// multipart/form-data. Files are checked by content, hashed and stored
// encrypted in the held-upload store as they stream in; no file is ever
// held whole in memory. On a body that cannot be read at all it sends the
// message page itself (as readPostedForm does) and returns nullopt.
std::optional<PostedReport> readReportPost(PublicSite& site, const std::string& language,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);

// Writes the report's spool entry: the fields record, the receipt secret
// record, then each held file of `uploadToken` as AttachmentBegin,
// AttachmentData and AttachmentEnd records, and commits it. The held files
// are removed only after the commit. A failure is logged without content
// and leaves no entry.
SpoolResult writeReportEntry(PublicSite& site, const std::string& json, const ReporterCode& receiptSecret,
    const std::string& uploadToken, Uuid& uuid);

} // namespace meldpunt::site
