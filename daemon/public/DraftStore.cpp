#include "DraftStore.h"

#include "Crypto.h"
#include "FileSystem.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <cerrno>
#include <sstream>
#include <system_error>

namespace meldpunt::site {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMagic = "MPDRAFT1";
constexpr std::uint8_t kStateDraft = 1;
constexpr std::uint8_t kStateExpired = 2;
constexpr std::size_t kHeaderSize = 8 + 1 + 8; // magic, state, expiry
constexpr std::size_t kNameKeySize = 32;
constexpr std::string_view kNameKeyFile = "name-key";
constexpr std::string_view kSuffix = ".draft";
// A draft contains one form, which the site limits to far less than this.
constexpr std::size_t kMaxDraftBytes = 16 * 1024 * 1024;
// Saving a draft takes milliseconds, so a partial file this old was left
// by a crash.
constexpr auto kPartialAge = std::chrono::hours(1);

SecretBytes loadOrCreateNameKey(const fs::path& folder)
{
    const fs::path file = folder / kNameKeyFile;
    std::error_code error;
    if (!fs::exists(file, error)) {
        const SecretBytes fresh = SecretBytes::random(kNameKeySize);
        fsutil::writeFileAtomically(file, fresh.span(), 0600);
    }
    const std::string stored = fsutil::readSmallFile(file, kNameKeySize + 1);
    if (stored.size() != kNameKeySize)
        throw std::system_error(EINVAL, std::generic_category(),
            "reading '" + file.string() + "': the drafts' hashing key is not 32 bytes");
    SecretBytes key(kNameKeySize);
    std::copy(stored.begin(), stored.end(), key.data());
    return key;
}

SecretBytes derive(const ReporterCode& code, const SecretBytes& nameKey, std::string_view label)
{
    return crypto::hkdfSha256(code.bytes(), nameKey.span(), crypto::asBytes(label), 32);
}

std::string header(std::uint8_t state, DraftStore::Clock::time_point expires)
{
    std::string bytes(kMagic);
    bytes.push_back(static_cast<char>(state));
    const auto seconds = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(expires.time_since_epoch()).count());
    for (int shift = 56; shift >= 0; shift -= 8)
        bytes.push_back(static_cast<char>(seconds >> shift & 0xff));
    return bytes;
}

struct Header {
    std::uint8_t state = 0;
    DraftStore::Clock::time_point expires;
};

std::optional<Header> readHeader(std::string_view file)
{
    if (file.size() < kHeaderSize || file.substr(0, kMagic.size()) != kMagic)
        return std::nullopt;
    Header parsed;
    parsed.state = static_cast<std::uint8_t>(file[kMagic.size()]);
    std::uint64_t seconds = 0;
    for (std::size_t i = kMagic.size() + 1; i < kHeaderSize; ++i)
        seconds = seconds << 8 | static_cast<std::uint8_t>(file[i]);
    if (seconds > static_cast<std::uint64_t>(INT64_MAX / 1000000))
        return std::nullopt;
    parsed.expires = DraftStore::Clock::time_point(std::chrono::seconds(static_cast<std::int64_t>(seconds)));
    return parsed;
}

std::string fieldsToJson(const std::string& language, const FormData& fields)
{
    Poco::JSON::Array list;
    for (const auto& [name, value] : fields.fields()) {
        Poco::JSON::Array pair;
        pair.add(name);
        pair.add(value);
        list.add(pair);
    }
    Poco::JSON::Object root;
    root.set("language", language);
    root.set("fields", list);
    std::ostringstream out;
    root.stringify(out);
    return out.str();
}

// The content was authenticated, so a parse failure means a bug or a
// format from another version; either way the draft cannot be used.
bool fieldsFromJson(const std::string& json, DraftStore::Draft& draft)
{
    try {
        Poco::JSON::Parser parser;
        const auto root = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
        draft.language = root->getValue<std::string>("language");
        const auto list = root->getArray("fields");
        if (!list)
            return false;
        for (unsigned i = 0; i < list->size(); ++i) {
            const auto pair = list->getArray(i);
            if (!pair || pair->size() != 2)
                return false;
            draft.fields.add(pair->getElement<std::string>(0), pair->getElement<std::string>(1));
        }
        return true;
    } catch (const Poco::Exception&) {
        return false;
    }
}

} // namespace

DraftStore::DraftStore(std::filesystem::path folder, std::chrono::seconds lifetime)
    : folder_(std::move(folder))
    , lifetime_(lifetime)
    , nameKey_(loadOrCreateNameKey(folder_))
{
}

std::filesystem::path DraftStore::pathFor(const ReporterCode& code) const
{
    const SecretBytes name = derive(code, nameKey_, "meldpunt draft name v1");
    return folder_ / (crypto::toHex(name.span()) + std::string(kSuffix));
}

DraftStore::Clock::time_point DraftStore::save(const ReporterCode& code, const std::string& language,
    const FormData& fields, Clock::time_point now)
{
    const auto expires = std::chrono::time_point_cast<std::chrono::seconds>(now + lifetime_);
    const fs::path path = pathFor(code);
    const std::string head = header(kStateDraft, expires);
    // The file name is authenticated too, so a draft copied under another
    // code's name does not open.
    const std::string associated = head + path.filename().string();
    const SecretBytes key = derive(code, nameKey_, "meldpunt draft key v1");
    const crypto::Bytes nonce = crypto::randomBytes(crypto::kGcmNonceSize);
    const crypto::Bytes sealed = crypto::seal(key.span(), nonce, crypto::asBytes(associated),
        crypto::asBytes(fieldsToJson(language, fields)));
    crypto::Bytes file(head.begin(), head.end());
    file.insert(file.end(), nonce.begin(), nonce.end());
    file.insert(file.end(), sealed.begin(), sealed.end());
    fsutil::writeFileAtomically(path, file, 0600);
    return expires;
}

DraftStore::Lookup DraftStore::load(const ReporterCode& code, Draft& draft, Clock::time_point now) const
{
    const fs::path path = pathFor(code);
    std::string file;
    try {
        file = fsutil::readSmallFile(path, kMaxDraftBytes);
    } catch (const std::system_error& error) {
        if (error.code().value() == ENOENT)
            return Lookup::NotFound;
        throw;
    }
    const auto head = readHeader(file);
    if (!head)
        return Lookup::Unreadable;
    if (head->state == kStateExpired || head->expires <= now)
        return Lookup::Expired;
    if (head->state != kStateDraft || file.size() < kHeaderSize + crypto::kGcmNonceSize + crypto::kGcmTagSize)
        return Lookup::Unreadable;
    const std::string associated = file.substr(0, kHeaderSize) + path.filename().string();
    const auto bytes = crypto::asBytes(file);
    const SecretBytes key = derive(code, nameKey_, "meldpunt draft key v1");
    crypto::Bytes plain;
    try {
        plain = crypto::open(key.span(), bytes.subspan(kHeaderSize, crypto::kGcmNonceSize),
            crypto::asBytes(associated), bytes.subspan(kHeaderSize + crypto::kGcmNonceSize));
    } catch (const crypto::CryptoError&) {
        return Lookup::Unreadable;
    }
    Draft parsed;
    if (!fieldsFromJson(std::string(plain.begin(), plain.end()), parsed))
        return Lookup::Unreadable;
    parsed.expires = head->expires;
    draft = std::move(parsed);
    return Lookup::Found;
}

void DraftStore::remove(const ReporterCode& code)
{
    const fs::path path = pathFor(code);
    std::error_code error;
    if (fs::remove(path, error))
        fsutil::syncDirectory(folder_);
}

std::size_t DraftStore::sweep(Clock::time_point now)
{
    std::size_t changed = 0;
    std::error_code error;
    for (const auto& item : fs::directory_iterator(folder_, error)) {
        const std::string name = item.path().filename().string();
        if (name == kNameKeyFile || !item.is_regular_file(error))
            continue;
        // A file starting with a dot is a save in progress, or one that a
        // crash cut short; only the latter is old.
        if (name.starts_with(".") && fs::last_write_time(item.path(), error) > fs::file_time_type::clock::now() - kPartialAge)
            continue;
        std::optional<Header> head;
        if (name.ends_with(kSuffix) && !name.starts_with("."))
            head = readHeader(fsutil::readSmallFile(item.path(), kMaxDraftBytes));
        if (head && head->expires > now)
            continue;
        // A marker reports "expired" for one more lifetime. After that, and
        // for anything that is not a draft, the file is removed.
        if (head && head->state == kStateDraft) {
            const std::string marker = header(kStateExpired, std::chrono::time_point_cast<std::chrono::seconds>(now + lifetime_));
            fsutil::writeFileAtomically(item.path(), crypto::asBytes(marker), 0600);
        } else {
            fs::remove(item.path(), error);
        }
        ++changed;
    }
    if (changed > 0)
        fsutil::syncDirectory(folder_);
    return changed;
}

} // namespace meldpunt::site
