#include "FileType.h"

#include <magic.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace meldpunt::site {

namespace {

// One accepted type: what libmagic may call it, what a browser may claim
// for it, and the file name extensions that go with it.
struct AcceptedType {
    std::string_view mediaType;
    std::vector<std::string_view> detected;
    std::vector<std::string_view> claimed;
    std::vector<std::string_view> extensions;
};

// Images, documents and videos a reporter is likely to have on a phone or
// a laptop. Executables, archives, HTML and scripts are not among them.
const std::vector<AcceptedType>& acceptedTypes()
{
    static const std::vector<AcceptedType> types = {
        {"image/jpeg", {"image/jpeg"}, {"image/jpeg", "image/pjpeg"}, {"jpg", "jpeg", "jpe", "jfif"}},
        {"image/png", {"image/png"}, {"image/png"}, {"png"}},
        {"image/gif", {"image/gif"}, {"image/gif"}, {"gif"}},
        {"image/webp", {"image/webp"}, {"image/webp"}, {"webp"}},
        {"image/heic", {"image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"},
            {"image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"}, {"heic", "heif"}},
        {"application/pdf", {"application/pdf"}, {"application/pdf", "application/x-pdf"}, {"pdf"}},
        {"text/plain", {"text/plain"}, {"text/plain"}, {"txt"}},
        // libmagic 5.44 names an OOXML document by its first two zip members
        // and falls back to application/zip when a writer ordered them
        // otherwise, so a zip is accepted only under a .docx claim.
        {"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/zip"},
            {"application/vnd.openxmlformats-officedocument.wordprocessingml.document"}, {"docx"}},
        {"application/vnd.oasis.opendocument.text", {"application/vnd.oasis.opendocument.text"},
            {"application/vnd.oasis.opendocument.text"}, {"odt"}},
        {"application/msword", {"application/msword", "application/cdfv2"}, {"application/msword"}, {"doc"}},
        // MP4, QuickTime and 3GP are one container format (ISO base media),
        // and phones label their videos with any of these names.
        {"video/mp4", {"video/mp4", "video/quicktime", "video/3gpp", "video/x-m4v"},
            {"video/mp4", "video/quicktime", "video/3gpp", "video/x-m4v"}, {"mp4", "m4v", "mov", "3gp"}},
        {"video/webm", {"video/webm"}, {"video/webm"}, {"webm"}},
        {"video/x-matroska", {"video/x-matroska"}, {"video/x-matroska", "video/matroska"}, {"mkv"}},
    };
    return types;
}

bool contains(const std::vector<std::string_view>& list, std::string_view value)
{
    return std::find(list.begin(), list.end(), value) != list.end();
}

std::string lowerExtension(std::string_view fileName)
{
    const auto slash = fileName.find_last_of("/\\");
    if (slash != std::string_view::npos)
        fileName.remove_prefix(slash + 1);
    const auto dot = fileName.rfind('.');
    if (dot == std::string_view::npos || dot == 0)
        return {};
    std::string extension(fileName.substr(dot + 1));
    std::transform(extension.begin(), extension.end(), extension.begin(),
        [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return extension;
}

} // namespace

void FileTypeChecker::MagicDeleter::operator()(magic_set* handle) const
{
    magic_close(handle);
}

FileTypeChecker::FileTypeChecker()
    // Compressed files are not opened: the site takes none, and
    // decompressing a stranger's data only widens what libmagic parses.
    : magic_(magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR | MAGIC_NO_CHECK_COMPRESS))
{
    if (!magic_)
        throw std::runtime_error("Failed to open libmagic: out of memory");
    if (magic_load(magic_.get(), nullptr) != 0)
        throw std::runtime_error(std::string("Failed to load the libmagic database: ") + magic_error(magic_.get()));
}

FileTypeChecker::~FileTypeChecker() = default;

std::string FileTypeChecker::detect(std::span<const std::uint8_t> head)
{
    std::lock_guard lock(mutex_);
    const char* type = magic_buffer(magic_.get(), head.data(), head.size());
    if (type == nullptr)
        return "application/octet-stream";
    std::string result(type);
    std::transform(result.begin(), result.end(), result.begin(),
        [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return result;
}

TypeCheck FileTypeChecker::check(std::span<const std::uint8_t> head, std::string_view claimedType,
    std::string_view fileName)
{
    const std::string detected = detect(head);
    const std::string extension = lowerExtension(fileName);
    const AcceptedType* match = nullptr;
    for (const auto& type : acceptedTypes()) {
        if (!contains(type.detected, detected))
            continue;
        // A zip counts as a document only under its own claim, so the
        // claim picks among entries that share a detected type.
        const bool claimFits = contains(type.claimed, claimedType) || contains(type.extensions, extension);
        if (!match || claimFits)
            match = &type;
        if (claimFits)
            break;
    }
    if (!match || (detected == "application/zip" && !contains(match->extensions, extension)))
        return {TypeVerdict::NotAllowed, {}};

    // Browsers derive the claimed type from the extension and send
    // application/octet-stream when they know neither; only a real claim
    // can be contradicted.
    const bool typeClaimed = !claimedType.empty() && claimedType != "application/octet-stream";
    if (typeClaimed && !contains(match->claimed, claimedType))
        return {TypeVerdict::Mismatch, std::string(match->mediaType)};
    if (!extension.empty() && !contains(match->extensions, extension))
        return {TypeVerdict::Mismatch, std::string(match->mediaType)};
    return {TypeVerdict::Accepted, std::string(match->mediaType)};
}

} // namespace meldpunt::site
