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

constexpr std::array<std::uint8_t, 8> kDataMagic = {'M', 'L', 'D', 'H', 'E', 'L', 'D', '1'};
constexpr std::array<std::uint8_t, 8> kMetaMagic = {'M', 'L', 'D', 'H', 'E', 'L', 'D', 'M'};
constexpr std::size_t kIdSize = 16;
constexpr std::size_t kDataHeaderSize = 8 + kIdSize + 4;
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

std::vector<std::uint8_t> dataHeader(std::span<const std::uint8_t> id, std::uint32_t chunkSize)
{
    std::vector<std::uint8_t> header(kDataMagic.begin(), kDataMagic.end());
    header.insert(header.end(), id.begin(), id.end());
    for (int shift = 24; shift >= 0; shift -= 8)
        header.push_back(static_cast<std::uint8_t>(chunkSize >> shift));
    return header;
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
    object.set("sha256", crypto::toHex(file.sha256));
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
        const auto digest = crypto::fromHex(object->getValue<std::string>("sha256"));
        if (digest.size() != file.sha256.size())
            return std::nullopt;
        std::copy(digest.begin(), digest.end(), file.sha256.begin());
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
    hash_.update(bytes);
    writer_->write(bytes);
}

HeldFile HeldUploads::Upload::commit(const std::string& displayName, const std::string& mediaType)
{
    HeldFile file;
    file.id = id_;
    file.displayName = displayName;
    file.mediaType = mediaType;
    file.size = writer_->plainBytes();
    file.sha256 = hash_.finish();
    file.heldAt = utcNow();

    // A held file is a working copy until the report is sent, and the
    // spool entry that takes it is synced. Not syncing it lets a short-lived
    // copy leave the page cache without being written out at all. A power
    // cut loses it; the reporter has no receipt then and attaches it again.
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

void HeldUploads::read(const std::string& token, const HeldFile& file,
    const std::function<void(std::span<const std::uint8_t>)>& sink) const
{
    const Token key = parseToken(token);
    if (!isValidId(file.id))
        throw std::invalid_argument("invalid held file id");
    const auto idBytes = crypto::fromHex(file.id);
    chunked::Reader reader(formFolder(key) / (file.id + kDataSuffix), kDataHeaderSize, chunkSize_);
    if (reader.header() != dataHeader(idBytes, chunkSize_))
        throw chunked::IntegrityError("held file '" + file.id + "' has a foreign header");
    const SecretBytes dataKey = deriveKey(key, "meldpunt held uploads v1 data", idBytes);
    // Each chunk's tag covers its place and the final flag under a key of
    // this file alone, so the bytes are the ones written. The SHA-256 is
    // therefore not computed again here, and meldpuntd recomputes it.
    std::uint64_t size = 0;
    std::vector<std::uint8_t> plain;
    while (reader.next(dataKey.span(), plain)) {
        size += plain.size();
        if (!plain.empty())
            sink(plain);
    }
    if (size != file.size)
        throw chunked::IntegrityError("held file '" + file.id + "' does not have its recorded size");
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
