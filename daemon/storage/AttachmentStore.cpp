#include "AttachmentStore.h"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include <cerrno>
#include <system_error>

namespace meldpunt::storage {

namespace fs = std::filesystem;

namespace {

constexpr std::array<std::uint8_t, 8> kMagic = {'M', 'L', 'D', 'A', 'T', 'T', 'C', 'H'};
constexpr std::uint16_t kVersion = 1;
constexpr const char* kSuffix = ".att";
constexpr std::string_view kWrapInfo = "meldpunt attachment file key v1";

bool isFileId(std::string_view id)
{
    return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::vector<std::uint8_t> fileHeader(const std::string& fileId)
{
    std::vector<std::uint8_t> header(kMagic.begin(), kMagic.end());
    header.push_back(static_cast<std::uint8_t>(kVersion >> 8));
    header.push_back(static_cast<std::uint8_t>(kVersion & 0xff));
    const auto id = crypto::fromHex(fileId);
    header.insert(header.end(), id.begin(), id.end());
    for (int shift = 24; shift >= 0; shift -= 8)
        header.push_back(static_cast<std::uint8_t>(chunked::kDefaultChunkSize >> shift));
    return header;
}

std::vector<std::uint8_t> wrapAssociatedData(const std::string& fileId)
{
    std::vector<std::uint8_t> data(kWrapInfo.begin(), kWrapInfo.end());
    data.insert(data.end(), fileId.begin(), fileId.end());
    return data;
}

} // namespace

AttachmentStore::AttachmentStore(fs::path folder)
    : folder_(std::move(folder))
{
    if (::mkdir(folder_.c_str(), 0700) != 0 && errno != EEXIST)
        throw std::system_error(errno, std::generic_category(), "creating '" + folder_.string() + "'");
}

AttachmentStore::Writer::Writer(const fs::path& folder, std::string fileId)
    : fileId_(std::move(fileId))
    , key_(SecretBytes::random(crypto::kAes256KeySize))
{
    file_ = std::make_unique<chunked::Writer>(folder / (fileId_ + kSuffix), fileHeader(fileId_), key_.span(), 0600);
}

void AttachmentStore::Writer::write(std::span<const std::uint8_t> bytes)
{
    hash_.update(bytes);
    file_->write(bytes);
    size_ += bytes.size();
}

void AttachmentStore::Writer::finish()
{
    file_->finish();
}

std::unique_ptr<AttachmentStore::Writer> AttachmentStore::create()
{
    return std::unique_ptr<Writer>(new Writer(folder_, crypto::toHex(crypto::randomBytes(16))));
}

void AttachmentStore::syncFolder() const
{
    fsutil::syncDirectory(folder_);
}

fs::path AttachmentStore::pathOf(const std::string& fileId) const
{
    if (!isFileId(fileId))
        throw std::invalid_argument("invalid attachment file id");
    return folder_ / (fileId + kSuffix);
}

void AttachmentStore::read(const std::string& fileId, std::span<const std::uint8_t> fileKey,
    const std::function<void(std::span<const std::uint8_t>)>& sink) const
{
    chunked::Reader reader(pathOf(fileId), kAttachmentHeaderSize);
    if (reader.header() != fileHeader(fileId))
        throw chunked::IntegrityError("attachment '" + fileId + "' has a foreign header");
    std::vector<std::uint8_t> plain;
    while (reader.next(fileKey, plain)) {
        if (!plain.empty())
            sink(plain);
    }
}

void AttachmentStore::remove(const std::string& fileId) const
{
    std::error_code error;
    fs::remove(pathOf(fileId), error);
}

std::size_t AttachmentStore::removeOrphans(const std::set<std::string>& known) const
{
    std::size_t removed = 0;
    std::error_code error;
    for (const auto& item : fs::directory_iterator(folder_, error)) {
        const std::string name = item.path().filename().string();
        const std::string id = name.ends_with(kSuffix) ? name.substr(0, name.size() - 4) : std::string();
        if (isFileId(id) && known.contains(id))
            continue;
        std::error_code removeError;
        if (fs::remove(item.path(), removeError))
            ++removed;
    }
    if (removed > 0)
        syncFolder();
    return removed;
}

std::vector<std::uint8_t> wrapFileKey(std::span<const std::uint8_t> reportKey,
    std::span<const std::uint8_t> fileKey, const std::string& fileId)
{
    // A random nonce is safe here: a report key wraps at most a few dozen
    // file keys, far below the 2^32 messages that random GCM nonces allow.
    auto wrapped = crypto::randomBytes(crypto::kGcmNonceSize);
    const auto sealed = crypto::seal(reportKey, wrapped, wrapAssociatedData(fileId), fileKey);
    wrapped.insert(wrapped.end(), sealed.begin(), sealed.end());
    return wrapped;
}

SecretBytes unwrapFileKey(std::span<const std::uint8_t> reportKey, std::span<const std::uint8_t> wrapped,
    const std::string& fileId)
{
    if (wrapped.size() != kWrappedKeySize)
        throw chunked::IntegrityError("a wrapped attachment key has the wrong size");
    try {
        auto plain = crypto::open(reportKey, wrapped.first(crypto::kGcmNonceSize), wrapAssociatedData(fileId),
            wrapped.subspan(crypto::kGcmNonceSize));
        SecretBytes key(crypto::kAes256KeySize);
        std::copy(plain.begin(), plain.end(), key.data());
        OPENSSL_cleanse(plain.data(), plain.size());
        return key;
    } catch (const crypto::CryptoError&) {
        throw chunked::IntegrityError("the key of attachment '" + fileId + "' does not unwrap");
    }
}

void readStoredAttachment(Database& database, const AttachmentStore& store, const std::string& fileId,
    const std::function<void(std::span<const std::uint8_t>)>& sink)
{
    auto query = database.prepare("SELECT k.key, a.wrapped_key FROM attachments a "
                                  "JOIN report_keys k ON k.report_id = a.report_id WHERE a.file_id = ?");
    query.bind(1, fileId);
    if (!query.step())
        throw chunked::IntegrityError("attachment '" + fileId + "' has no key in the database");
    auto reportKey = query.columnBlob(0);
    SecretBytes fileKey(crypto::kAes256KeySize);
    try {
        fileKey = unwrapFileKey(reportKey, query.columnBlob(1), fileId);
    } catch (...) {
        OPENSSL_cleanse(reportKey.data(), reportKey.size());
        throw;
    }
    OPENSSL_cleanse(reportKey.data(), reportKey.size());
    store.read(fileId, fileKey.span(), sink);
}

} // namespace meldpunt::storage
