#include "ReferralStore.h"

#include "Manifest.h"

#include <openssl/rand.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <set>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace meldpunt::receiver {

namespace fs = std::filesystem;
using referral::Bytes;

namespace {

constexpr const char* kManifestFile = "manifest.cms";
constexpr const char* kReceiptFile = "receipt.cms";

class Descriptor {
public:
    explicit Descriptor(int fd)
        : fd_(fd)
    {
    }
    ~Descriptor()
    {
        if (fd_ >= 0)
            ::close(fd_);
    }
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

[[noreturn]] void failSystem(const std::string& operation, const fs::path& path)
{
    throw std::system_error(errno, std::generic_category(), operation + " '" + path.string() + "'");
}

void syncPath(const fs::path& path, int flags)
{
    Descriptor fd(::open(path.c_str(), flags | O_CLOEXEC));
    if (fd.get() < 0)
        failSystem("opening", path);
    if (::fsync(fd.get()) != 0)
        failSystem("syncing", path);
}

void writeSynced(const fs::path& path, const Bytes& content)
{
    Descriptor fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd.get() < 0)
        failSystem("creating", path);
    std::size_t written = 0;
    while (written < content.size()) {
        const ssize_t result
            = ::write(fd.get(), content.data() + written, content.size() - written);
        if (result < 0 && errno == EINTR)
            continue;
        if (result < 0)
            failSystem("writing", path);
        written += static_cast<std::size_t>(result);
    }
    if (::fsync(fd.get()) != 0)
        failSystem("syncing", path);
}

Bytes readWhole(const fs::path& path)
{
    Descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0)
        failSystem("opening", path);
    Bytes content;
    std::uint8_t buffer[65536];
    for (;;) {
        const ssize_t result = ::read(fd.get(), buffer, sizeof buffer);
        if (result < 0 && errno == EINTR)
            continue;
        if (result < 0)
            failSystem("reading", path);
        if (result == 0)
            return content;
        content.insert(content.end(), buffer, buffer + result);
    }
}

std::string utcNow()
{
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm parts{};
    gmtime_r(&now, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

std::string randomSuffix()
{
    unsigned char bytes[8];
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        throw std::runtime_error("the random number generator failed");
    return referral::sha256Hex({bytes, sizeof bytes}).substr(0, 16);
}

referral::VerifiedContent openFile(
    const ReceiverKeys& keys, const std::string& name, const Bytes& content)
{
    try {
        return referral::openReferralFile(
            content, keys.recipientCertificate, keys.recipientKey, keys.trustedSigners);
    } catch (const referral::ReferralError& error) {
        throw InvalidReferral("file '" + name + "': " + error.what());
    }
}

} // namespace

ReferralStore::ReferralStore(fs::path folder, ReceiverKeys keys)
    : folder_(std::move(folder))
    , keys_(std::move(keys))
{
    fs::create_directories(folder_);
}

referral::Receipt ReferralStore::verify(
    const std::string& idempotencyKey, const std::map<std::string, Bytes>& files) const
{
    const auto manifestFile = files.find(kManifestFile);
    if (manifestFile == files.end())
        throw InvalidReferral("the referral has no manifest.cms");
    const auto opened = openFile(keys_, kManifestFile, manifestFile->second);
    referral::Manifest manifest;
    try {
        manifest = referral::parseManifest(std::string_view(
            reinterpret_cast<const char*>(opened.content.data()), opened.content.size()));
    } catch (const referral::ReferralError& error) {
        throw InvalidReferral(std::string("manifest.cms: ") + error.what());
    }
    if (manifest.referral != idempotencyKey)
        throw InvalidReferral("the Idempotency-Key does not match the manifest's referral UUID");

    std::set<std::string> expected = {kManifestFile};
    for (const auto& attachment : manifest.attachments) {
        expected.insert(attachment.file);
        const auto file = files.find(attachment.file);
        if (file == files.end())
            throw InvalidReferral("the referral has no " + attachment.file);
        const auto content = openFile(keys_, attachment.file, file->second);
        // Every file of one referral comes from the one signer.
        if (content.signerFingerprint != opened.signerFingerprint)
            throw InvalidReferral(attachment.file + " has another signer than the manifest");
        if (content.content.size() != attachment.size)
            throw InvalidReferral(attachment.file + " does not have the size the manifest gives");
        if (referral::sha256Hex(content.content) != attachment.sha256)
            throw InvalidReferral(attachment.file + " does not match its SHA-256 in the manifest");
    }
    for (const auto& [name, content] : files)
        if (expected.count(name) == 0)
            throw InvalidReferral("the manifest does not name the file '" + name + "'");

    referral::Receipt receipt;
    receipt.referral = manifest.referral;
    receipt.manifestSha256 = referral::sha256Hex(opened.content);
    receipt.receivedAt = utcNow();
    for (const auto& [name, content] : files)
        receipt.files.push_back(name);
    return receipt;
}

void ReferralStore::store(
    const std::string& uuid, const std::map<std::string, Bytes>& files, const Bytes& receipt) const
{
    const fs::path incoming = folder_ / (".incoming-" + uuid + "-" + randomSuffix());
    fs::create_directory(incoming);
    for (const auto& [name, content] : files)
        writeSynced(incoming / name, content);
    writeSynced(incoming / kReceiptFile, receipt);
    syncPath(incoming, O_RDONLY | O_DIRECTORY);
    if (::rename(incoming.c_str(), (folder_ / uuid).c_str()) != 0)
        failSystem("renaming", incoming);
    syncPath(folder_, O_RDONLY | O_DIRECTORY);
}

Acceptance ReferralStore::accept(
    const std::string& idempotencyKey, const std::map<std::string, Bytes>& files)
{
    const auto verified = verify(idempotencyKey, files);
    // The key is a canonical UUID now, so it is safe as a folder name.
    const fs::path stored = folder_ / verified.referral;

    std::lock_guard lock(mutex_);
    if (fs::exists(stored / kReceiptFile))
        return {true, readWhole(stored / kReceiptFile)};
    const std::string json = referral::toJson(verified);
    Acceptance acceptance;
    acceptance.receipt = referral::signContent(
        referral::asBytes(json), keys_.receiptCertificate, keys_.receiptKey);
    store(verified.referral, files, acceptance.receipt);
    return acceptance;
}

} // namespace meldpunt::receiver
