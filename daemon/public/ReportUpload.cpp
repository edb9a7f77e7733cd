#include "ReportUpload.h"

#include "FileType.h"
#include "FormPage.h"
#include "PublicSite.h"

#include "FaultPoint.h"
#include "Log.h"
#include "Multipart.h"
#include "Spool.h"
#include "UnixHttpServer.h"

#include <Poco/JSON/Object.h>
#include <openssl/crypto.h>

#include <cerrno>
#include <istream>
#include <memory>
#include <sstream>
#include <system_error>

namespace meldpunt::site {

namespace {

using Poco::Net::HTTPResponse;

// A large file arrives in reads of this size and passes through the
// multipart parser without being copied. Each upload in progress uses one
// such buffer, and 256 KiB made a 1 GiB upload no faster on a 2-core test
// machine than 128 KiB.
constexpr std::size_t kReadBytes = 128 * 1024;

// Thrown by the receiver to stop reading the body when the server cannot
// store more.
struct StopReading {};
// The text fields alone are larger than any report the site takes.
struct TextTooLarge {};

// Collects the text fields of a multipart report form and streams its
// files into the held-upload store, checking each against the limits and
// its type as it arrives.
// NOTE: the limits apply per form, and anyone can open many forms, so a
// flood of uploads can fill the disk until the sweep removes them; a full
// disk then gets the "not stored" message. A per-address cap on held bytes
// would close this.
class ReportReceiver : public MultipartHandler {
public:
    explicit ReportReceiver(PublicSite& site)
        : site_(site)
    {
    }

    void onPartBegin(const PartHeaders& headers) override
    {
        current_ = Part::Ignored;
        if (!headers.fileName) {
            current_ = Part::Text;
            name_ = headers.name;
            value_.clear();
            return;
        }
        // Browsers send a file input left empty as an empty part with an
        // empty file name.
        if (headers.fileName->empty())
            return;
        fileName_ = sanitizeFileName(*headers.fileName);
        rawFileName_ = *headers.fileName;
        claimedType_ = headers.contentType;
        ensureToken();
        if (heldCount_ >= site_.config().maxFiles) {
            report_.notices.push_back({UploadProblem::TooManyFiles, fileName_});
            return;
        }
        upload_ = site_.heldUploads().begin(report_.uploadToken);
        head_.clear();
        typeChecked_ = false;
        current_ = Part::File;
    }

    void onPartData(std::span<const std::uint8_t> data) override
    {
        if (current_ == Part::Text) {
            textBytes_ += data.size();
            if (textBytes_ > site_.config().maxReportBytes)
                throw TextTooLarge{};
            value_.append(reinterpret_cast<const char*>(data.data()), data.size());
        } else if (current_ == Part::File) {
            receiveFileData(data);
        }
    }

    void onPartEnd() override
    {
        if (current_ == Part::Text) {
            if (!isValidUtf8(value_))
                throw MalformedFormError("a field is not valid UTF-8");
            report_.values.add(name_, std::move(value_));
            value_.clear();
        } else if (current_ == Part::File) {
            finishFile();
        }
        current_ = Part::Ignored;
    }

    PostedReport& report() { return report_; }

    // A form that sent no file may still hold files from an earlier post.
    void adoptTokenOfForm()
    {
        if (report_.uploadToken.empty() && HeldUploads::isValidToken(report_.values.get("upload_token")))
            report_.uploadToken = report_.values.get("upload_token");
    }

private:
    enum class Part { Text, File, Ignored };

    void ensureToken()
    {
        if (!report_.uploadToken.empty())
            return;
        // The hidden token field comes before the file input in the form,
        // so it has arrived by now if the form had one.
        adoptTokenOfForm();
        if (report_.uploadToken.empty())
            report_.uploadToken = HeldUploads::newToken();
        for (const auto& file : site_.heldUploads().list(report_.uploadToken)) {
            heldBytes_ += file.size;
            ++heldCount_;
        }
    }

    void receiveFileData(std::span<const std::uint8_t> data)
    {
        const std::uint64_t size = upload_->size() + data.size();
        if (size > site_.config().maxFileBytes) {
            skip(UploadProblem::TooLarge);
            return;
        }
        // A file that would bring the report over its limit is skipped like
        // an oversized one, and reading goes on: the parts after it (a
        // smaller file, form_end) still arrive, and the reporter gets the
        // form back instead of a page that loses it.
        if (heldBytes_ + size > site_.config().maxUploadBytes) {
            skip(UploadProblem::ReportFull);
            return;
        }
        upload_->write(data);
        if (!typeChecked_) {
            const std::size_t take = std::min(data.size(), kTypeSniffBytes - head_.size());
            head_.insert(head_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
            if (head_.size() == kTypeSniffBytes)
                checkType();
        }
    }

    void checkType()
    {
        typeChecked_ = true;
        const TypeCheck check = site_.fileTypes().check(head_, claimedType_, rawFileName_);
        head_.clear();
        head_.shrink_to_fit();
        if (check.verdict == TypeVerdict::NotAllowed)
            skip(UploadProblem::NotAllowed);
        else if (check.verdict == TypeVerdict::Mismatch)
            skip(UploadProblem::Mismatch);
        else
            mediaType_ = check.mediaType;
    }

    void finishFile()
    {
        if (upload_->size() == 0) {
            skip(UploadProblem::Empty);
            return;
        }
        if (!typeChecked_)
            checkType();
        if (current_ != Part::File)
            return;
        const HeldFile file = upload_->commit(fileName_, mediaType_);
        upload_.reset();
        heldBytes_ += file.size;
        ++heldCount_;
    }

    // Drops the file arriving now (its partial file goes with the upload)
    // and reads past the rest of its part.
    void skip(UploadProblem problem)
    {
        report_.notices.push_back({problem, fileName_});
        upload_.reset();
        current_ = Part::Ignored;
    }

    PublicSite& site_;
    PostedReport report_;
    Part current_ = Part::Ignored;
    std::string name_;
    std::string value_;
    std::size_t textBytes_ = 0;
    std::string fileName_;
    std::string rawFileName_;
    std::string claimedType_;
    std::string mediaType_;
    std::unique_ptr<HeldUploads::Upload> upload_;
    std::vector<std::uint8_t> head_;
    bool typeChecked_ = false;
    std::uint64_t heldBytes_ = 0;
    std::size_t heldCount_ = 0;
};

enum class BodyOutcome { Complete, StoppedEarly, Incomplete };

BodyOutcome readMultipartBody(RequestBody& body, MultipartParser& parser)
{
    std::vector<char> buffer(body.bufferSize(kReadBytes));
    try {
        for (;;) {
            const std::size_t got = body.read(buffer.data(), buffer.size());
            if (got == 0)
                break;
            parser.feed({reinterpret_cast<const std::uint8_t*>(buffer.data()), got});
        }
    } catch (const StopReading&) {
        return BodyOutcome::StoppedEarly;
    }
    // The body ends quietly when the connection closes early, so a body
    // cut short shows as a missing closing delimiter.
    return parser.complete() ? BodyOutcome::Complete : BodyOutcome::Incomplete;
}

bool endsWithFormEnd(const FormData& form)
{
    const auto& fields = form.fields();
    return !fields.empty() && fields.back().first == "form_end" && fields.back().second == "1";
}

void discardBody(RequestBody& body)
{
    std::vector<char> buffer(body.bufferSize(kReadBytes));
    while (body.read(buffer.data(), buffer.size()) > 0) {
    }
}

std::optional<PostedReport> readMultipartReport(PublicSite& site, const std::string& language,
    const std::string& boundary, Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response)
{
    RequestBody body(request);
    auto fail = [&](HTTPResponse::HTTPStatus status, const char* kind) {
        // The rest of the body is read and dropped first: closing a socket
        // with unread data resets it, and the reset can destroy the page
        // before the edge has passed it on. The edge bounds the body.
        discardBody(body);
        response.setKeepAlive(false);
        sendPage(request, response, status, site.pages().render("message", language, messageData(kind)));
        return std::nullopt;
    };
    ReportReceiver receiver(site);
    MultipartParser parser(boundary, receiver);
    BodyOutcome outcome = BodyOutcome::Complete;
    try {
        outcome = readMultipartBody(body, parser);
    } catch (const MalformedMultipartError&) {
        return fail(HTTPResponse::HTTP_BAD_REQUEST, "malformed");
    } catch (const MalformedFormError&) {
        return fail(HTTPResponse::HTTP_BAD_REQUEST, "malformed");
    } catch (const TextTooLarge&) {
        return fail(HTTPResponse::HTTP_REQUESTENTITYTOOLARGE, "too_large");
    } catch (const std::system_error& error) {
        log::error(std::string("Failed to hold an uploaded file: ") + error.what());
        receiver.report().notices.push_back({UploadProblem::NotStored, {}});
        outcome = BodyOutcome::StoppedEarly;
    }
    receiver.adoptTokenOfForm();
    PostedReport report = std::move(receiver.report());
    if (outcome == BodyOutcome::StoppedEarly) {
        // The form goes back with a message; the unread rest is dropped
        // for the same reason as above.
        discardBody(body);
        report.stoppedEarly = true;
        return report;
    }
    if (outcome == BodyOutcome::Incomplete || !endsWithFormEnd(report.values))
        return fail(HTTPResponse::HTTP_BAD_REQUEST, "incomplete");
    return report;
}

// The begin record of an attachment whose bytes lie beside the entry as
// piece `position`, with the key of the piece's chunks.
std::string attachmentBeginJson(const HeldFile& file, std::size_t position, const SecretBytes& key)
{
    Poco::JSON::Object object;
    object.set("schema", 1);
    object.set("name", file.displayName);
    object.set("type", file.mediaType);
    object.set("size", static_cast<Poco::UInt64>(file.size));
    object.set("uploaded_at", file.heldAt);
    object.set("piece", static_cast<Poco::UInt64>(position));
    object.set("piece_id", file.id);
    object.set("piece_key", crypto::toHex(key.span()));
    std::ostringstream out;
    object.stringify(out);
    return out.str();
}

std::string attachmentEndJson(const HeldFile& file)
{
    Poco::JSON::Object object;
    object.set("size", static_cast<Poco::UInt64>(file.size));
    std::ostringstream out;
    object.stringify(out);
    return out.str();
}

// The held files moved beside an entry that is not committed yet. Unless
// the entry commits, they go back into their form, so that the reporter,
// who gets the form back, does not lose them.
class MovedPieces {
public:
    MovedPieces(const HeldUploads& store, const std::string& token)
        : store_(store)
        , token_(token)
    {
    }
    ~MovedPieces()
    {
        if (kept_)
            return;
        for (auto moved = pieces_.rbegin(); moved != pieces_.rend(); ++moved) {
            try {
                store_.moveBack(token_, moved->first, moved->second);
            } catch (const std::exception& error) {
                log::error(std::string("Failed to return a held file to its form: ") + error.what());
            }
        }
    }
    MovedPieces(const MovedPieces&) = delete;
    MovedPieces& operator=(const MovedPieces&) = delete;

    SecretBytes moveOut(const HeldFile& file, const std::filesystem::path& destination)
    {
        SecretBytes key = store_.moveOut(token_, file, destination);
        pieces_.emplace_back(file, destination);
        return key;
    }
    void keep() { kept_ = true; }

private:
    const HeldUploads& store_;
    const std::string& token_;
    std::vector<std::pair<HeldFile, std::filesystem::path>> pieces_;
    bool kept_ = false;
};

} // namespace

std::optional<PostedReport> readReportPost(PublicSite& site, const std::string& language,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response)
{
    const auto boundary = multipartBoundary(request.getContentType());
    if (!boundary) {
        auto form = readPostedForm(site, language, request, response);
        if (!form)
            return std::nullopt;
        PostedReport report;
        report.values = std::move(*form);
        if (HeldUploads::isValidToken(report.values.get("upload_token")))
            report.uploadToken = report.values.get("upload_token");
        return report;
    }
    if (isForeignOrigin(request, site.config().origin)) {
        sendPage(request, response, HTTPResponse::HTTP_FORBIDDEN,
            site.pages().render("message", language, messageData("foreign_origin")));
        return std::nullopt;
    }
    return readMultipartReport(site, language, *boundary, request, response);
}

SpoolResult writeReportEntry(PublicSite& site, const std::string& json, const ReporterCode& receiptSecret,
    const std::string& uploadToken, Uuid& uuid)
{
    const auto key = site.intakeKeys().current();
    if (!key)
        return SpoolResult::NoIntakeKey;
    uuid = Uuid::generate();
    const auto& folder = site.config().spoolFolder;
    try {
        // Each held file already lies encrypted under a key of its own. It
        // moves beside the entry as a piece, and the entry carries the key,
        // so the bytes are written once, while they stream in.
        const auto held = uploadToken.empty() ? std::vector<HeldFile>{} : site.heldUploads().list(uploadToken);
        MovedPieces pieces(site.heldUploads(), uploadToken);
        std::vector<HeldFile> files;
        std::vector<SecretBytes> pieceKeys;
        for (const auto& file : held) {
            try {
                pieceKeys.push_back(pieces.moveOut(file, spool::piecePath(folder, uuid, files.size())));
                files.push_back(file);
            } catch (const std::system_error& error) {
                // A second post of the same form (a double click), sent a
                // moment earlier, has taken the file already. The listing
                // would not show it now either.
                if (error.code().value() != ENOENT)
                    throw;
                log::info("A held file was gone when the report was sent, so it is left out: " + std::string(error.what()));
            }
        }
        // The pieces' names must be durable before the entry that needs
        // them. commit() then syncs the entry and the folder again.
        if (!files.empty())
            fsutil::syncDirectory(folder);
        faultPoint("spool-after-pieces");

        spool::Writer writer(folder, spool::EntryKind::Report, uuid, *key);
        writer.writeRecord(spool::RecordType::Fields, crypto::asBytes(json));
        writer.writeRecord(spool::RecordType::ReceiptSecret, receiptSecret.bytes());
        for (std::size_t position = 0; position < files.size(); ++position) {
            std::string begin = attachmentBeginJson(files[position], position, pieceKeys[position]);
            writer.writeRecord(spool::RecordType::AttachmentBegin, crypto::asBytes(begin));
            OPENSSL_cleanse(begin.data(), begin.size());
            writer.writeRecord(spool::RecordType::AttachmentEnd, crypto::asBytes(attachmentEndJson(files[position])));
        }
        try {
            writer.commit();
        } catch (const std::system_error&) {
            // An entry renamed into place before the folder sync failed
            // may still be ingested, and needs its pieces.
            if (writer.committed())
                pieces.keep();
            throw;
        }
        pieces.keep();
    } catch (const std::system_error& error) {
        log::error(std::string("Failed to write a spool entry: ") + error.what());
        return SpoolResult::Failed;
    }
    // The entry is durable now, so what is left of the form's held files
    // (their metadata) has done its work.
    if (!uploadToken.empty())
        site.heldUploads().removeAll(uploadToken);
    return SpoolResult::Written;
}

} // namespace meldpunt::site
