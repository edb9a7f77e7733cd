// The attachments on the case page: the list with each file's type, size
// and SHA-256, images blurred until a caseworker reveals them one by one,
// and the routes that decrypt and serve a file. Only raster images are
// shown inline, and every other type is a download.

#include "StaffApp.h"
#include "StaffContext.h"

#include "AttachmentStore.h"
#include "ChunkedFile.h"
#include "Crypto.h"
#include "Log.h"

#include <charconv>
#include <system_error>

namespace meldpunt::staff {

namespace {

// The policy of every served attachment: a document opened from it runs
// no script and loads nothing, whatever its bytes are.
constexpr const char* kAttachmentPolicy = "sandbox; default-src 'none'";

struct AttachmentRow {
    std::int64_t id = 0;
    std::int64_t reportId = 0;
    std::string fileId;
    std::string name;
    std::string mediaType;
    std::int64_t size = 0;
    std::string sha256;
};

std::vector<AttachmentRow> readAttachments(storage::Database& database, const std::string& condition,
    std::int64_t value)
{
    auto rows = database.prepare("SELECT id, report_id, file_id, name, media_type, size, sha256 FROM attachments WHERE "
        + condition + " = ? ORDER BY position");
    rows.bind(1, value);
    std::vector<AttachmentRow> list;
    while (rows.step()) {
        const auto hash = rows.columnBlob(6);
        list.push_back({rows.columnInt(0), rows.columnInt(1), rows.columnText(2), rows.columnText(3),
            rows.columnText(4), rows.columnInt(5), crypto::toHex(hash)});
    }
    return list;
}

// The raster types the report form accepts that browsers draw. HEIC is
// accepted too, but chromium and Firefox do not draw it, so it is a
// download like any other type.
bool isShownImage(const std::string& mediaType)
{
    return mediaType == "image/jpeg" || mediaType == "image/png" || mediaType == "image/gif"
        || mediaType == "image/webp";
}

// Checks that the decrypted bytes start with the signature of the
// recorded type, so that only a real image is ever served inline.
bool hasImageSignature(const std::string& mediaType, std::string_view bytes)
{
    if (mediaType == "image/jpeg")
        return bytes.starts_with("\xff\xd8\xff");
    if (mediaType == "image/png")
        return bytes.starts_with("\x89PNG\r\n\x1a\n");
    if (mediaType == "image/gif")
        return bytes.starts_with("GIF87a") || bytes.starts_with("GIF89a");
    if (mediaType == "image/webp")
        return bytes.size() >= 12 && bytes.starts_with("RIFF") && bytes.substr(8, 4) == "WEBP";
    return false;
}

// A Content-Disposition header value (RFC 6266): an ASCII fallback name
// for old clients and the UTF-8 name percent-encoded (RFC 8187).
std::string contentDisposition(const std::string& kind, const std::string& name)
{
    std::string fallback;
    std::string encoded;
    static const char* digits = "0123456789ABCDEF";
    for (const char c : name) {
        const auto byte = static_cast<unsigned char>(c);
        const bool plain = (byte >= '0' && byte <= '9') || (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z')
            || std::string_view("!#$&+-.^_`|~").find(c) != std::string_view::npos;
        fallback += (byte >= 0x20 && byte < 0x7f && c != '"' && c != '\\' && c != '%') ? c : '_';
        if (plain) {
            encoded += c;
        } else {
            encoded += '%';
            encoded += digits[byte >> 4];
            encoded += digits[byte & 0x0f];
        }
    }
    return kind + "; filename=\"" + fallback + "\"; filename*=UTF-8''" + encoded;
}

std::optional<std::int64_t> parseId(const std::string& text)
{
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || value <= 0)
        return std::nullopt;
    return value;
}

} // namespace

PageData StaffApp::attachmentData(Context& context, std::int64_t caseId)
{
    PageData list{PageData::type::list};
    for (const auto& row : readAttachments(database_, "report_id", caseId)) {
        PageData item;
        item.set("id", std::to_string(row.id));
        item.set("case_id", std::to_string(caseId));
        item.set("name", row.name);
        item.set("media_type", row.mediaType);
        item.set("size", std::to_string(row.size));
        item.set("sha256", row.sha256);
        const bool image = isShownImage(row.mediaType);
        item.set("image", image);
        item.set("blurred", image && row.id != context.revealedAttachment);
        item.set("csrf", context.session->csrfToken);
        list.push_back(item);
    }
    return list;
}

StaffResponse StaffApp::attachmentReveal(Context& context)
{
    const std::int64_t caseId = context.match.id;
    if (!cases_.find(caseId))
        return message(context, 404, "Case not found", "No case has this number. Go back to the inbox.");
    const auto chosen = parseId(context.form.get("attachment"));
    const auto rows = readAttachments(database_, "report_id", caseId);
    const auto found = std::find_if(rows.begin(), rows.end(),
        [&](const AttachmentRow& row) { return chosen && row.id == *chosen; });
    if (found == rows.end() || !isShownImage(found->mediaType))
        return casePage(context, false,
            "The attachment to reveal is not an image of this case. Open the case again and choose from its list.", 400);
    audit(context, "attachment.reveal", "attachment", std::to_string(found->id));
    context.revealedAttachment = found->id;
    return casePage(context, false, {}, 200);
}

StaffResponse StaffApp::attachmentFile(Context& context)
{
    const std::int64_t id = context.match.id;
    const bool inlineImage = context.match.route->id == RouteId::AttachmentImage;
    const auto rows = readAttachments(database_, "id", id);
    if (rows.empty())
        return message(context, 404, "Attachment not found", "No attachment has this number. Go back to the case.");
    const AttachmentRow& row = rows.front();
    if (inlineImage && !isShownImage(row.mediaType))
        return message(context, 404, "Not an image", "Only images are shown on the case page. Download this file from the case page instead.");
    if (attachmentFolder_.empty())
        return message(context, 503, "Attachments are not available",
            "The attachment folder is not set on this box. Tell a technician.");

    // NOTE: the whole file is held in memory, because staff responses are
    // strings. The public form limits a file to max_file_bytes, which is
    // 200 MiB by default.
    std::string content;
    content.reserve(static_cast<std::size_t>(row.size));
    try {
        storage::readStoredAttachment(database_, storage::AttachmentStore(attachmentFolder_), row.fileId,
            [&](std::span<const std::uint8_t> bytes) {
                content.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
            });
    } catch (const chunked::IntegrityError& error) {
        log::error("Failed to read attachment " + std::to_string(id) + ": " + error.what());
        return message(context, 500, "The attachment cannot be read",
            "The stored file is damaged or its key is missing. Tell a technician.");
    } catch (const std::system_error& error) {
        log::error("Failed to read attachment " + std::to_string(id) + ": " + error.what());
        return message(context, 500, "The attachment cannot be read",
            "The stored file is missing or cannot be opened. Tell a technician.");
    }
    if (inlineImage && !hasImageSignature(row.mediaType, content)) {
        log::warning("Attachment " + std::to_string(id) + " does not start like its recorded type; it is not shown inline");
        return message(context, 404, "Not an image",
            "This file does not look like the image it was recorded as. Download it from the case page instead.");
    }
    audit(context, inlineImage ? "attachment.view" : "attachment.download", "attachment", std::to_string(id));

    StaffResponse response;
    // Only raster images keep their type. Everything else (PDF, documents,
    // video, anything unknown) goes out as bytes to be saved, never shown.
    response.contentType = isShownImage(row.mediaType) ? row.mediaType : "application/octet-stream";
    response.body = std::move(content);
    response.headers.emplace_back("Content-Disposition", contentDisposition(inlineImage ? "inline" : "attachment", row.name));
    response.headers.emplace_back("Content-Security-Policy", kAttachmentPolicy);
    return response;
}

} // namespace meldpunt::staff
