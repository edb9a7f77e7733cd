#include "HeldUploads.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <sstream>
#include <system_error>

namespace meldpunt::site {

namespace fs = std::filesystem;

namespace {

using Token = std::array<std::uint8_t, 16>;

constexpr std::array<std::uint8_t, 8> kMetaMagic = {'M', 'L', 'D', 'H', 'E', 'L', 'D', 'M'};
constexpr std::size_t kIdSize = 16;
constexpr std::size_t kMetaHeaderSize = 8 + kIdSize;
constexpr std::size_t kMaxMetaBytes = 4096;
constexpr const char* kDataSuffix = ".data";
constexpr const char* kMetaSuffix = ".meta";
constexpr const char* kPartialSuffix = ".partial";

Token parseToken(std::string_view token)
{
    if (!HeldUploads::isValidToken(token))
        throw std::invalid_argument("invalid form token");
    const auto bytes = crypto::fromHex(token);
    Token out{};
    std::copy(bytes.begin(), bytes.end(), out.begin());
    return out;
}

bool isValidId(std::string_view id)
{
    return HeldUploads::isValidToken(id); // the same shape: 32 lower-case hex digits
}

// Derives a key for one purpose and one file from the token. Distinct
// labels keep the folder name, the data key and the metadata key apart.
SecretBytes deriveKey(const Token& token, std::string_view label, std::span<const std::uint8_t> id)
{
    std::vector<std::uint8_t> info(label.begin(), label.end());
    info.insert(info.end(), id.begin(), id.end());
    return crypto::hkdfSha256(token, {}, info, crypto::kAes256KeySize);
}

std::array<std::uint8_t, spool::PieceHeader::kSize> dataHeader(std::span<const std::uint8_t> id, std::uint32_t chunkSize)
{
    spool::PieceHeader header;
    std::copy(id.begin(), id.end(), header.id.begin());
    header.chunkSize = chunkSize;
    return header.serialize();
}

std::vector<std::uint8_t> metaHeader(std::span<const std::uint8_t> id)
{
    std::vector<std::uint8_t> header(kMetaMagic.begin(), kMetaMagic.end());
    header.insert(header.end(), id.begin(), id.end());
    return header;
}

// With microseconds, so that files held one after another list in order.
std::string utcNow()
{
    return Poco::DateTimeFormatter::format(Poco::DateTime(), Poco::DateTimeFormat::ISO8601_FRAC_FORMAT);
}

std::string toJson(const HeldFile& file)
{
    Poco::JSON::Object object;
    object.set("name", file.displayName);
    object.set("type", file.mediaType);
    object.set("size", static_cast<Poco::UInt64>(file.size));
    object.set("held_at", file.heldAt);
    std::ostringstream out;
    object.stringify(out);
    return out.str();
}

std::optional<HeldFile> readMeta(const fs::path& path, const Token& token, const std::string& id)
{
    std::string sealed;
    try {
        sealed = fsutil::readSmallFile(path, kMaxMetaBytes);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    const auto idBytes = crypto::fromHex(id);
    const auto header = metaHeader(idBytes);
    const std::size_t prefix = kMetaHeaderSize + crypto::kGcmNonceSize;
    const auto bytes = crypto::asBytes(sealed);
    if (bytes.size() < prefix || !std::equal(header.begin(), header.end(), bytes.begin()))
        return std::nullopt;
    try {
        const SecretBytes key = deriveKey(token, "meldpunt held uploads v1 metadata", idBytes);
        const auto plain = crypto::open(key.span(), bytes.subspan(kMetaHeaderSize, crypto::kGcmNonceSize), header,
            bytes.subspan(prefix));
        Poco::JSON::Parser parser;
        const auto object = parser.parse(std::string(plain.begin(), plain.end())).extract<Poco::JSON::Object::Ptr>();
        HeldFile file;
        file.id = id;
        file.displayName = object->getValue<std::string>("name");
        file.mediaType = object->getValue<std::string>("type");
        file.size = object->getValue<Poco::UInt64>("size");
        file.heldAt = object->getValue<std::string>("held_at");
        return file;
    } catch (const std::exception&) {
        return std::nullopt; // a metadata file that does not verify is not listed
    }
}

// Seconds since the epoch of the file's last change, or nullopt when it is
// gone.
std::optional<std::time_t> modifiedAt(const fs::path& path)
{
    struct stat status {};
    if (::lstat(path.c_str(), &status) != 0)
        return std::nullopt;
    return status.st_mtime;
}

void makePrivateFolder(const fs::path& path)
{
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
        throw std::system_error(errno, std::generic_category(), "creating '" + path.string() + "'");
}

// Copies a file's bytes, unchanged, into a new file, and syncs the copy.
void copyFile(const fs::path& from, const fs::path& to, unsigned mode)
{
    fsutil::FileDescriptor in(::open(from.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!in)
        throw std::system_error(errno, std::generic_category(), "opening '" + from.string() + "'");
    fsutil::FileDescriptor out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (!out)
        throw std::system_error(errno, std::generic_category(), "creating '" + to.string() + "'");
    try {
        for (;;) {
            const ssize_t copied = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, 1 << 30, 0);
            if (copied < 0 && errno == EINTR)
                continue;
            if (copied < 0)
                throw std::system_error(errno, std::generic_category(), "copying '" + from.string() + "'");
            if (copied == 0)
                break;
        }
        if (::fchmod(out.get(), mode) != 0)
            throw std::system_error(errno, std::generic_category(), "setting the mode of '" + to.string() + "'");
        fsutil::syncFile(out.get(), to);
    } catch (...) {
        out.reset();
        ::unlink(to.c_str());
        throw;
    }
}

// Moves a file, or copies and removes it where the two folders lie on
// different file systems or mounts.
void moveFile(const fs::path& from, const fs::path& to, unsigned mode)
{
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0)
        return;
    if (errno != EXDEV)
        throw std::system_error(errno, std::generic_category(), "moving '" + from.string() + "'");
    copyFile(from, to, mode);
    ::unlink(from.c_str());
}

} // namespace

HeldUploads::HeldUploads(fs::path folder, std::chrono::seconds holdTime, std::uint32_t chunkSize)
    : folder_(std::move(folder))
    , holdTime_(holdTime)
    , chunkSize_(chunkSize)
{
}

std::string HeldUploads::newToken()
{
    return crypto::toHex(crypto::randomBytes(16));
}

bool HeldUploads::isValidToken(std::string_view token)
{
    return token.size() == 32 && token.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

fs::path HeldUploads::formFolder(const Token& token) const
{
    const SecretBytes name = deriveKey(token, "meldpunt held uploads v1 folder", {});
    return folder_ / crypto::toHex(name.span().first(16));
}

HeldUploads::Upload::Upload(fs::path folder, std::string id, std::unique_ptr<chunked::Writer> writer, Token token)
    : folder_(std::move(folder))
    , id_(std::move(id))
    , writer_(std::move(writer))
    , token_(token)
{
}

HeldUploads::Upload::~Upload() = default;

void HeldUploads::Upload::write(std::span<const std::uint8_t> bytes)
{
    // No SHA-256 is taken here: the chunk tags prove the bytes, and
    // meldpuntd hashes them as it stores them.
    writer_->write(bytes);
}

HeldFile HeldUploads::Upload::commit(const std::string& displayName, const std::string& mediaType)
{
    HeldFile file;
    file.id = id_;
    file.displayName = displayName;
    file.mediaType = mediaType;
    file.size = writer_->plainBytes();
    file.heldAt = utcNow();

    // The writer has started writeback as the bytes came, and moveOut syncs
    // the file when the report is sent, so a file that is never sent need
    // not wait for the disk here. A power cut before then loses the file,
    // but the reporter has no receipt then and attaches it again.
    writer_->finish(chunked::Durability::CacheOnly);
    const fs::path data = folder_ / (id_ + kDataSuffix);
    if (::rename(writer_->path().c_str(), data.c_str()) != 0)
        throw std::system_error(errno, std::generic_category(), "renaming '" + writer_->path().string() + "'");

    const auto idBytes = crypto::fromHex(id_);
    const auto header = metaHeader(idBytes);
    const SecretBytes key = deriveKey(token_, "meldpunt held uploads v1 metadata", idBytes);
    const auto nonce = crypto::randomBytes(crypto::kGcmNonceSize);
    const auto sealed = crypto::seal(key.span(), nonce, header, crypto::asBytes(toJson(file)));
    std::vector<std::uint8_t> content(header);
    content.insert(content.end(), nonce.begin(), nonce.end());
    content.insert(content.end(), sealed.begin(), sealed.end());
    // The metadata file comes last and is what makes the file listed, so a
    // crash before it leaves only an unlisted data file for the sweep.
    fsutil::writeFileAtomically(folder_ / (id_ + kMetaSuffix), content, 0600);
    return file;
}

std::unique_ptr<HeldUploads::Upload> HeldUploads::begin(const std::string& token)
{
    const Token key = parseToken(token);
    makePrivateFolder(folder_);
    const fs::path form = formFolder(key);
    makePrivateFolder(form);
    const auto idBytes = crypto::randomBytes(kIdSize);
    const std::string id = crypto::toHex(idBytes);
    const SecretBytes dataKey = deriveKey(key, "meldpunt held uploads v1 data", idBytes);
    auto writer = std::make_unique<chunked::Writer>(form / ("." + id + kPartialSuffix),
        dataHeader(idBytes, chunkSize_), dataKey.span(), 0600, chunkSize_);
    return std::unique_ptr<Upload>(new Upload(form, id, std::move(writer), key));
}

std::vector<HeldFile> HeldUploads::list(const std::string& token) const
{
    const Token key = parseToken(token);
    const fs::path form = formFolder(key);
    std::vector<HeldFile> files;
    std::error_code error;
    for (const auto& item : fs::directory_iterator(form, error)) {
        const std::string name = item.path().filename().string();
        if (!name.ends_with(kMetaSuffix))
            continue;
        const std::string id = name.substr(0, name.size() - std::string_view(kMetaSuffix).size());
        if (!isValidId(id) || !fs::exists(form / (id + kDataSuffix)))
            continue;
        if (auto file = readMeta(item.path(), key, id))
            files.push_back(std::move(*file));
    }
    std::sort(files.begin(), files.end(),
        [](const HeldFile& a, const HeldFile& b) { return std::tie(a.heldAt, a.id) < std::tie(b.heldAt, b.id); });
    if (!error)
        ::utimensat(AT_FDCWD, form.c_str(), nullptr, 0);
    return files;
}

SecretBytes HeldUploads::moveOut(const std::string& token, const HeldFile& file, const fs::path& destination) const
{
    const Token key = parseToken(token);
    if (!isValidId(file.id))
        throw std::invalid_argument("invalid held file id");
    const fs::path data = formFolder(key) / (file.id + kDataSuffix);
    {
        fsutil::FileDescriptor fd(::open(data.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        if (!fd)
            throw std::system_error(errno, std::generic_category(), "opening '" + data.string() + "'");
        // meldpuntd reads spool files through the spool folder's group.
        // The held folder passes that group on already (setgid); setting it
        // here as well covers a folder made without the bit.
        struct stat folder {};
        if (::stat(destination.parent_path().c_str(), &folder) != 0
            || ::fchown(fd.get(), static_cast<uid_t>(-1), folder.st_gid) != 0)
            throw std::system_error(errno, std::generic_category(), "giving '" + data.string() + "' the spool group");
        if (::fchmod(fd.get(), 0640) != 0)
            throw std::system_error(errno, std::generic_category(), "setting the mode of '" + data.string() + "'");
        fsutil::syncFile(fd.get(), data);
    }
    moveFile(data, destination, 0640);
    return deriveKey(key, "meldpunt held uploads v1 data", crypto::fromHex(file.id));
}

void HeldUploads::moveBack(const std::string& token, const HeldFile& file, const fs::path& from) const
{
    if (!isValidId(file.id))
        throw std::invalid_argument("invalid held file id");
    moveFile(from, formFolder(parseToken(token)) / (file.id + kDataSuffix), 0640);
}

bool HeldUploads::returnPiece(const fs::path& piece) const
{
    std::string id;
    try {
        id = crypto::toHex(spool::readPieceHeader(piece).id);
    } catch (const spool::FormatError&) {
        return false; // gone, or not a piece this store wrote
    }
    // The form folders are named from tokens this process does not keep,
    // so the form is the one whose metadata names the id and lacks data.
    std::error_code error;
    for (const auto& form : fs::directory_iterator(folder_, error)) {
        std::error_code statusError;
        if (fs::exists(form.path() / (id + kMetaSuffix), statusError)
            && !fs::exists(form.path() / (id + kDataSuffix), statusError)) {
            moveFile(piece, form.path() / (id + kDataSuffix), 0640);
            return true;
        }
    }
    return false;
}

void HeldUploads::remove(const std::string& token, const std::string& id) const
{
    const fs::path form = formFolder(parseToken(token));
    if (!isValidId(id))
        return;
    std::error_code error;
    fs::remove(form / (id + kMetaSuffix), error);
    fs::remove(form / (id + kDataSuffix), error);
}

void HeldUploads::removeAll(const std::string& token) const
{
    std::error_code error;
    fs::remove_all(formFolder(parseToken(token)), error);
}

std::size_t HeldUploads::sweep(std::chrono::system_clock::time_point now) const
{
    const std::time_t cutoff = std::chrono::system_clock::to_time_t(now - holdTime_);
    std::size_t removed = 0;
    std::error_code error;
    for (const auto& form : fs::directory_iterator(folder_, error)) {
        const auto formTime = modifiedAt(form.path());
        if (!formTime)
            continue;
        std::error_code removeError;
        if (*formTime < cutoff) {
            fs::remove_all(form.path(), removeError);
            removed += removeError ? 0 : 1;
            continue;
        }
        for (const auto& item : fs::directory_iterator(form.path(), removeError)) {
            const auto itemTime = modifiedAt(item.path());
            if (item.path().filename().string().ends_with(kPartialSuffix) && itemTime && *itemTime < cutoff)
                fs::remove(item.path(), removeError);
        }
    }
    return removed;
}

void HeldUploads::removeUnfinished() const
{
    std::error_code error;
    for (const auto& form : fs::directory_iterator(folder_, error)) {
        std::error_code itemError;
        for (const auto& item : fs::directory_iterator(form.path(), itemError)) {
            const std::string name = item.path().filename().string();
            // Hidden files are unfinished uploads and metadata files that
            // were never renamed into place; a data file without metadata
            // was never listed.
            const bool dataWithoutMeta = name.ends_with(kDataSuffix)
                && !fs::exists(form.path() / (name.substr(0, name.size() - 5) + kMetaSuffix));
            if (name.starts_with(".") || dataWithoutMeta)
                fs::remove(item.path(), itemError);
        }
    }
}

} // namespace meldpunt::site
