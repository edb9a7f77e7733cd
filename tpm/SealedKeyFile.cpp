#include "SealedKeyFile.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/UUID.h>

#include <openssl/evp.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <system_error>

namespace meldpunt::tpm {

namespace {

namespace fs = std::filesystem;

constexpr const char* formatName = "meldpunt-sealed-key";
constexpr int formatVersion = 1;

// A sealed key file is under 2 KiB. The limit keeps a wrong path, such as a
// database file, from being read into memory whole.
constexpr std::size_t maxFileSize = 64 * 1024;

[[noreturn]] void reject(const fs::path& path, const std::string& problem)
{
    throw SealedKeyFileError("sealed key file " + path.string() + " " + problem);
}

[[noreturn]] void throwErrno(const std::string& context)
{
    throw std::system_error(errno, std::generic_category(), context);
}

std::string readLimited(const fs::path& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        reject(path, std::string("cannot be opened: ") + std::strerror(errno));
    std::string content;
    char buffer[4096];
    while (true) {
        const ssize_t count = ::read(fd, buffer, sizeof buffer);
        if (count < 0 && errno == EINTR)
            continue;
        if (count < 0) {
            const int error = errno;
            ::close(fd);
            reject(path, std::string("cannot be read: ") + std::strerror(error));
        }
        if (count == 0)
            break;
        content.append(buffer, static_cast<std::size_t>(count));
        if (content.size() > maxFileSize) {
            ::close(fd);
            reject(path, "is larger than 64 KiB, so it is not a sealed key file");
        }
    }
    ::close(fd);
    return content;
}

std::string encodeBase64(const std::vector<std::uint8_t>& bytes)
{
    std::string text(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()), bytes.data(),
        static_cast<int>(bytes.size()));
    text.resize(static_cast<std::size_t>(length));
    return text;
}

bool isBase64(const std::string& text)
{
    if (text.size() % 4 != 0)
        return false;
    const auto padding = text.find('=');
    if (padding != std::string::npos &&
        (padding + 2 < text.size() || text.find_first_not_of('=', padding) != std::string::npos))
        return false;
    const auto body = text.substr(0, padding);
    return std::all_of(body.begin(), body.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '/';
    });
}

// EVP_DecodeBlock skips some invalid input and counts padding as data, so
// the text is checked first and the padding is subtracted afterwards.
std::vector<std::uint8_t> decodeBase64(
    const fs::path& path, const std::string& field, const std::string& text)
{
    if (text.empty())
        reject(path, "has an empty field \"" + field + "\"");
    if (!isBase64(text))
        reject(path, "has a field \"" + field + "\" that is not valid base64");
    std::vector<std::uint8_t> bytes(text.size() / 4 * 3);
    const int length = EVP_DecodeBlock(bytes.data(),
        reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (length < 0)
        reject(path, "has a field \"" + field + "\" that is not valid base64");
    const auto padding = static_cast<std::size_t>(std::count(text.end() - 2, text.end(), '='));
    bytes.resize(static_cast<std::size_t>(length) - padding);
    return bytes;
}

std::string stringField(
    const fs::path& path, const Poco::JSON::Object& object, const std::string& field)
{
    if (!object.has(field))
        reject(path, "has no field \"" + field + "\"");
    const Poco::Dynamic::Var value = object.get(field);
    if (!value.isString())
        reject(path, "has a field \"" + field + "\" that is not a string");
    return value.extract<std::string>();
}

void checkFormat(const fs::path& path, const Poco::JSON::Object& object)
{
    if (stringField(path, object, "format") != formatName)
        reject(path,
            "has format \"" + stringField(path, object, "format") + "\", expected \"" + formatName +
                "\"");
    if (!object.has("version"))
        reject(path, "has no field \"version\"");
    const Poco::Dynamic::Var version = object.get("version");
    // The string form is compared so that a number beyond int's range is a
    // wrong version too, not a Poco::RangeException from convert<int>().
    if (!version.isInteger() || version.toString() != std::to_string(formatVersion))
        reject(path,
            "has version " + version.toString() + ", but this program reads version " +
                std::to_string(formatVersion));
}

void checkDatabaseFields(const fs::path& path, const SealedKeyFile& file)
{
    Poco::UUID uuid;
    if (!uuid.tryParse(file.databaseId))
        reject(path, "has a databaseId \"" + file.databaseId + "\" that is not a UUID");
    const fs::path name(file.databaseFile);
    if (file.databaseFile.empty() || name.filename() != name || file.databaseFile == "." ||
        file.databaseFile == "..")
        reject(
            path, "has a databaseFile \"" + file.databaseFile + "\" that is not a plain file name");
}

Poco::JSON::Object::Ptr parseObject(const fs::path& path, const std::string& text)
{
    try {
        Poco::JSON::Parser parser;
        const Poco::Dynamic::Var root = parser.parse(text);
        if (root.type() != typeid(Poco::JSON::Object::Ptr))
            reject(path, "does not contain a JSON object");
        return root.extract<Poco::JSON::Object::Ptr>();
    } catch (const Poco::Exception& error) {
        reject(path, "is not valid JSON (it may be truncated): " + error.displayText());
    }
}

// Closes a file descriptor and removes the temporary file unless the write
// completed, so that a failed write leaves no stray file in the folder.
class TemporaryFile {
public:
    explicit TemporaryFile(const fs::path& target)
        : path_((target.parent_path().empty() ? fs::path(".") : target.parent_path()) /
              ("." + target.filename().string() + ".XXXXXX"))
    {
        std::string pattern = path_.string();
        fd_ = mkostemp(pattern.data(), O_CLOEXEC);
        if (fd_ < 0)
            throwErrno("creating a temporary file for " + target.string());
        path_ = pattern;
    }
    ~TemporaryFile()
    {
        if (fd_ >= 0)
            ::close(fd_);
        if (!renamed_)
            ::unlink(path_.c_str());
    }
    TemporaryFile(const TemporaryFile&) = delete;
    TemporaryFile& operator=(const TemporaryFile&) = delete;

    int fd() const { return fd_; }
    const fs::path& path() const { return path_; }

    void close()
    {
        const int fd = fd_;
        fd_ = -1;
        if (::close(fd) != 0)
            throwErrno("closing " + path_.string());
    }
    void markRenamed() { renamed_ = true; }

private:
    fs::path path_;
    int fd_ = -1;
    bool renamed_ = false;
};

void writeAll(int fd, const std::string& text, const fs::path& path)
{
    std::size_t written = 0;
    while (written < text.size()) {
        const ssize_t count = ::write(fd, text.data() + written, text.size() - written);
        if (count < 0 && errno == EINTR)
            continue;
        if (count < 0)
            throwErrno("writing " + path.string());
        written += static_cast<std::size_t>(count);
    }
}

void syncFolder(const fs::path& folder)
{
    const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        throwErrno("opening folder " + folder.string() + " to fsync it");
    if (::fsync(fd) != 0) {
        const int error = errno;
        ::close(fd);
        throw std::system_error(
            error, std::generic_category(), "fsync of folder " + folder.string());
    }
    if (::close(fd) != 0)
        throwErrno("closing folder " + folder.string());
}

std::string toJson(const SealedKeyFile& file)
{
    Poco::JSON::Object object(Poco::JSON_PRESERVE_KEY_ORDER);
    object.set("format", formatName);
    object.set("version", formatVersion);
    object.set("databaseId", file.databaseId);
    object.set("databaseFile", file.databaseFile);
    object.set("pcrs", file.key.pcrs.toString());
    object.set("public", encodeBase64(file.key.publicArea));
    object.set("private", encodeBase64(file.key.privateArea));
    std::ostringstream text;
    object.stringify(text, 2);
    text << '\n';
    return text.str();
}

} // namespace

SealedKeyFile SealedKeyFile::read(const fs::path& path)
{
    const Poco::JSON::Object::Ptr object = parseObject(path, readLimited(path));
    checkFormat(path, *object);

    SealedKeyFile file;
    file.databaseId = stringField(path, *object, "databaseId");
    file.databaseFile = stringField(path, *object, "databaseFile");
    checkDatabaseFields(path, file);

    const std::string pcrs = stringField(path, *object, "pcrs");
    try {
        file.key.pcrs = PcrSelection::parse(pcrs);
    } catch (const std::invalid_argument& error) {
        reject(path, std::string("has an invalid field \"pcrs\": ") + error.what());
    }
    file.key.publicArea = decodeBase64(path, "public", stringField(path, *object, "public"));
    file.key.privateArea = decodeBase64(path, "private", stringField(path, *object, "private"));
    return file;
}

void SealedKeyFile::writeAtomically(const fs::path& path) const
{
    const std::string text = toJson(*this);
    TemporaryFile temporary(path);
    // mkostemp creates the file with mode 0600 already, but fchmod states
    // the mode independently of the C library's choice.
    if (::fchmod(temporary.fd(), 0600) != 0)
        throwErrno("setting mode 0600 on " + temporary.path().string());
    writeAll(temporary.fd(), text, temporary.path());
    if (::fsync(temporary.fd()) != 0)
        throwErrno("fsync of " + temporary.path().string());
    temporary.close();
    if (::rename(temporary.path().c_str(), path.c_str()) != 0)
        throwErrno("renaming " + temporary.path().string() + " to " + path.string());
    temporary.markRenamed();
    syncFolder(temporary.path().parent_path());
}

} // namespace meldpunt::tpm
