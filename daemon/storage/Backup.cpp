#include "Backup.h"

#include "FileSystem.h"
#include "KeyRotation.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <openssl/crypto.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <sstream>
#include <string_view>
#include <system_error>

namespace meldpunt::storage {

namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::string_view kKeyInfo = "meldpunt backup v1 chunk key";
constexpr std::string_view kManifestFormat = "meldpunt-backup";
constexpr std::size_t kRecordHeaderSize = 5;
constexpr std::size_t kFingerprintSize = 16;
// Bounds on what a reader accepts, so that a forged length cannot make it
// buffer more than a megabyte.
constexpr std::size_t kMaxRecordSize = 1024 * 1024;
constexpr std::size_t kMaxFiles = 4096;
constexpr std::uint32_t kMinChunkSize = 1024;
constexpr std::uint32_t kMaxChunkSize = 1024 * 1024;

enum class RecordType : std::uint8_t {
    Manifest = 1,
    SnapshotKey = 2,
    FileBegin = 3,
    FileData = 4,
    FileEnd = 5,
    End = 0x7f,
};

struct ManifestFile {
    std::string name;
    std::uint64_t size = 0;
    std::string sha256; // lower-case hex
};

[[noreturn]] void reject(const std::string& what)
{
    throw BackupError(what);
}

void storeBigEndian(std::uint8_t* out, std::uint64_t value, int width)
{
    for (int i = width - 1; i >= 0; --i, value >>= 8)
        out[i] = static_cast<std::uint8_t>(value);
}

std::uint64_t loadBigEndian(const std::uint8_t* in, int width)
{
    std::uint64_t value = 0;
    for (int i = 0; i < width; ++i)
        value = (value << 8) | in[i];
    return value;
}

// Bytes 0 to 7 hold the chunk counter and byte 11 the final flag, so a
// chunk verifies only at its own position and a stream cut at a chunk
// boundary lacks the one chunk sealed as final.
std::array<std::uint8_t, crypto::kGcmNonceSize> chunkNonce(std::uint64_t counter, bool final)
{
    std::array<std::uint8_t, crypto::kGcmNonceSize> nonce{};
    storeBigEndian(nonce.data(), counter, 8);
    nonce[11] = final ? 1 : 0;
    return nonce;
}

std::array<std::uint8_t, kFingerprintSize> fingerprint(const crypto::X25519PublicKey& key)
{
    crypto::Sha256 digest;
    digest.update(key);
    const auto full = digest.finish();
    std::array<std::uint8_t, kFingerprintSize> shortened{};
    std::copy_n(full.begin(), kFingerprintSize, shortened.begin());
    return shortened;
}

// The info contains the recipient's public key as well as the header with
// its fingerprint, which binds the chunk key to that one recipient.
SecretBytes deriveChunkKey(std::span<const std::uint8_t> sharedSecret, std::span<const std::uint8_t> header,
    const crypto::X25519PublicKey& recipient)
{
    Bytes info(kKeyInfo.begin(), kKeyInfo.end());
    info.insert(info.end(), header.begin(), header.end());
    info.insert(info.end(), recipient.begin(), recipient.end());
    return crypto::hkdfSha256(sharedSecret, {}, info, crypto::kAes256KeySize);
}

void wipe(Bytes& bytes)
{
    OPENSSL_cleanse(bytes.data(), bytes.size());
    bytes.clear();
}

fs::path folderOf(const fs::path& path)
{
    return path.parent_path().empty() ? fs::path(".") : path.parent_path();
}

fsutil::FileDescriptor openFile(const fs::path& path, int flags)
{
    fsutil::FileDescriptor fd(::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd)
        throw std::system_error(errno, std::generic_category(), "opening '" + path.string() + "'");
    return fd;
}

// Fills `buffer` and returns its size, or fewer bytes at the end of the file.
std::size_t readUpTo(int fd, std::span<std::uint8_t> buffer, const fs::path& path)
{
    std::size_t filled = 0;
    while (filled < buffer.size()) {
        const ssize_t got = ::read(fd, buffer.data() + filled, buffer.size() - filled);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            throw std::system_error(errno, std::generic_category(), "reading '" + path.string() + "'");
        if (got == 0)
            break;
        filled += static_cast<std::size_t>(got);
    }
    return filled;
}

// A file in the scratch folder (and SQLite's companions of it), removed by
// the destructor unless released.
class TemporaryDatabase {
public:
    explicit TemporaryDatabase(fs::path path)
        : path_(std::move(path))
    {
        removeDatabaseFiles(path_);
    }
    ~TemporaryDatabase()
    {
        std::error_code ignored;
        for (const char* suffix : {"", "-wal", "-shm", "-journal"})
            if (!path_.empty())
                fs::remove(path_.string() + suffix, ignored);
    }
    TemporaryDatabase(const TemporaryDatabase&) = delete;
    TemporaryDatabase& operator=(const TemporaryDatabase&) = delete;

    const fs::path& path() const { return path_; }
    void release() { path_.clear(); }

private:
    fs::path path_;
};

// Encrypts records chunk by chunk into `output` + ".partial"; commit()
// renames it into place. Destroying an uncommitted writer removes it.
class BackupWriter {
public:
    BackupWriter(const fs::path& output, const crypto::X25519PublicKey& recipient);
    ~BackupWriter();
    BackupWriter(const BackupWriter&) = delete;
    BackupWriter& operator=(const BackupWriter&) = delete;

    void writeRecord(RecordType type, std::span<const std::uint8_t> payload);
    void commit();

private:
    void append(std::span<const std::uint8_t> bytes);
    void flushChunk(bool final);

    fs::path output_;
    fs::path partial_;
    fsutil::FileDescriptor fd_;
    std::array<std::uint8_t, kBackupHeaderSize> header_{};
    SecretBytes key_{crypto::kAes256KeySize};
    std::uint64_t counter_ = 0;
    Bytes buffer_;
    bool committed_ = false;
};

BackupWriter::BackupWriter(const fs::path& output, const crypto::X25519PublicKey& recipient)
    : output_(output)
    , partial_(output.string() + ".partial")
{
    const auto ephemeral = crypto::x25519Ephemeral(recipient);
    std::uint8_t* p = header_.data();
    std::copy(kBackupMagic.begin(), kBackupMagic.end(), p);
    storeBigEndian(p + 8, kBackupFormatVersion, 2);
    storeBigEndian(p + 10, 0, 2); // flags, none defined in version 1
    storeBigEndian(p + 12, kBackupChunkSize, 4);
    const auto recipientId = fingerprint(recipient);
    std::copy(recipientId.begin(), recipientId.end(), p + 16);
    std::copy(ephemeral.publicKey.begin(), ephemeral.publicKey.end(), p + 32);
    key_ = deriveChunkKey(ephemeral.shared.span(), header_, recipient);

    // A partial file can only be the leftover of a backup that crashed.
    fs::remove(partial_);
    fd_ = openFile(partial_, O_WRONLY | O_CREAT | O_EXCL);
    buffer_.reserve(kBackupChunkSize);
    try {
        fsutil::writeAll(fd_.get(), header_, partial_);
    } catch (...) {
        fd_.reset();
        ::unlink(partial_.c_str());
        throw;
    }
}

BackupWriter::~BackupWriter()
{
    wipe(buffer_);
    if (!committed_) {
        fd_.reset();
        ::unlink(partial_.c_str());
    }
}

void BackupWriter::writeRecord(RecordType type, std::span<const std::uint8_t> payload)
{
    if (payload.size() > kMaxRecordSize)
        throw std::invalid_argument("backup record too large");
    std::array<std::uint8_t, kRecordHeaderSize> recordHeader{};
    recordHeader[0] = static_cast<std::uint8_t>(type);
    storeBigEndian(recordHeader.data() + 1, payload.size(), 4);
    append(recordHeader);
    append(payload);
}

void BackupWriter::append(std::span<const std::uint8_t> bytes)
{
    while (!bytes.empty()) {
        const std::size_t take = std::min<std::size_t>(kBackupChunkSize - buffer_.size(), bytes.size());
        buffer_.insert(buffer_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
        bytes = bytes.subspan(take);
        if (buffer_.size() == kBackupChunkSize)
            flushChunk(false);
    }
}

void BackupWriter::flushChunk(bool final)
{
    const auto sealed = crypto::seal(key_.span(), chunkNonce(counter_++, final), header_, buffer_);
    fsutil::writeAll(fd_.get(), sealed, partial_);
    wipe(buffer_);
}

void BackupWriter::commit()
{
    writeRecord(RecordType::End, {});
    // A full buffer is flushed as soon as it fills, so the final chunk is
    // always shorter than the chunk size (possibly empty).
    flushChunk(true);
    fsutil::syncFile(fd_.get(), partial_);
    fd_.reset();
    fs::rename(partial_, output_);
    committed_ = true;
    fsutil::syncDirectory(folderOf(output_));
}

struct Record {
    RecordType type;
    Bytes payload;
};

// Decrypts a backup chunk by chunk and hands out its records. Any chunk
// that does not verify at its position raises BackupError.
class BackupReader {
public:
    BackupReader(const fs::path& path, std::span<const std::uint8_t> recipientPrivateKey);
    ~BackupReader() { wipe(plain_); }
    BackupReader(const BackupReader&) = delete;
    BackupReader& operator=(const BackupReader&) = delete;

    Record next();
    Bytes expect(RecordType type, const std::string& what);
    // After the end record: the final chunk must follow and nothing else.
    void finish();

private:
    bool readChunk();
    std::size_t available() const { return plain_.size() - position_; }

    fs::path path_;
    fsutil::FileDescriptor fd_;
    std::array<std::uint8_t, kBackupHeaderSize> header_{};
    std::uint32_t chunkSize_ = 0;
    SecretBytes key_{crypto::kAes256KeySize};
    std::uint64_t counter_ = 0;
    Bytes plain_;
    std::size_t position_ = 0;
    bool finalSeen_ = false;
};

BackupReader::BackupReader(const fs::path& path, std::span<const std::uint8_t> recipientPrivateKey)
    : path_(path)
    , fd_(openFile(path, O_RDONLY))
{
    if (recipientPrivateKey.size() != crypto::kX25519KeySize)
        throw std::invalid_argument("the recovery private key must be 32 bytes");
    if (readUpTo(fd_.get(), header_, path) < kBackupHeaderSize)
        reject("truncated: '" + path.string() + "' is shorter than a backup header");
    const std::uint8_t* p = header_.data();
    if (!std::equal(kBackupMagic.begin(), kBackupMagic.end(), p))
        reject("unknown format: '" + path.string() + "' is not a Meldpunt backup");
    if (const auto version = loadBigEndian(p + 8, 2); version != kBackupFormatVersion)
        reject("unknown format: backup format version " + std::to_string(version) + " is not supported");
    if (loadBigEndian(p + 10, 2) != 0)
        reject("unknown format: the header has flags this version does not know");
    chunkSize_ = static_cast<std::uint32_t>(loadBigEndian(p + 12, 4));
    if (chunkSize_ < kMinChunkSize || chunkSize_ > kMaxChunkSize)
        reject("damaged: the chunk size in the header is out of range");
    const auto recipient = crypto::X25519KeyPair::fromPrivate(recipientPrivateKey);
    if (!std::equal(p + 16, p + 32, fingerprint(recipient.publicKey).begin()))
        reject("wrong key: the backup was made for another recovery key");
    crypto::X25519PublicKey ephemeral{};
    std::copy_n(p + 32, ephemeral.size(), ephemeral.begin());
    try {
        const SecretBytes shared = crypto::x25519(recipient.privateKey.span(), ephemeral);
        key_ = deriveChunkKey(shared.span(), header_, recipient.publicKey);
    } catch (const crypto::CryptoError&) {
        // OpenSSL rejects low-order points, whose shared secret is zero.
        reject("damaged: the ephemeral key in the header is invalid");
    }
}

bool BackupReader::readChunk()
{
    if (finalSeen_)
        return false;
    Bytes sealed(chunkSize_ + crypto::kGcmTagSize);
    sealed.resize(readUpTo(fd_.get(), sealed, path_));
    const std::string chunk = "chunk " + std::to_string(counter_);
    if (sealed.empty())
        reject("truncated: the backup ends before its final chunk, at " + chunk);
    const bool final = sealed.size() < chunkSize_ + crypto::kGcmTagSize;
    Bytes plain;
    try {
        plain = crypto::open(key_.span(), chunkNonce(counter_, final), header_, sealed);
    } catch (const crypto::CryptoError&) {
        reject(final ? "damaged or truncated: the last " + chunk + " does not verify"
                     : "damaged: " + chunk + " does not verify");
    }
    plain_.erase(plain_.begin(), plain_.begin() + static_cast<std::ptrdiff_t>(position_));
    position_ = 0;
    plain_.insert(plain_.end(), plain.begin(), plain.end());
    wipe(plain);
    ++counter_;
    finalSeen_ = final;
    return true;
}

Record BackupReader::next()
{
    while (available() < kRecordHeaderSize)
        if (!readChunk())
            reject("damaged: the backup ends without an end record");
    const auto type = static_cast<RecordType>(plain_[position_]);
    const auto size = static_cast<std::size_t>(loadBigEndian(plain_.data() + position_ + 1, 4));
    if (size > kMaxRecordSize)
        reject("damaged: a record is larger than the limit");
    while (available() < kRecordHeaderSize + size)
        if (!readChunk())
            reject("damaged: the backup ends inside a record");
    const auto begin = plain_.begin() + static_cast<std::ptrdiff_t>(position_ + kRecordHeaderSize);
    Record record{type, Bytes(begin, begin + static_cast<std::ptrdiff_t>(size))};
    position_ += kRecordHeaderSize + size;
    return record;
}

Bytes BackupReader::expect(RecordType type, const std::string& what)
{
    Record record = next();
    if (record.type != type) {
        wipe(record.payload);
        reject("damaged: " + what + " is missing where the format places it");
    }
    return std::move(record.payload);
}

void BackupReader::finish()
{
    while (readChunk()) {
    }
    std::array<std::uint8_t, 1> extra{};
    if (available() != 0 || readUpTo(fd_.get(), extra, path_) != 0)
        reject("damaged: data follows the end record");
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

std::string uniqueName(const std::string& purpose)
{
    return "backup-" + purpose + "-" + crypto::toHex(crypto::randomBytes(8)) + ".db";
}

std::string manifestJson(const BackupInfo& info, const std::vector<ManifestFile>& files)
{
    Poco::JSON::Object root(Poco::JSON_PRESERVE_KEY_ORDER);
    root.set("format", std::string(kManifestFormat));
    root.set("version", static_cast<int>(kBackupFormatVersion));
    root.set("created_at", info.createdAt);
    root.set("database_id", info.databaseId);
    root.set("schema_version", info.schemaVersion);
    Poco::JSON::Array list;
    for (const auto& file : files) {
        Poco::JSON::Object entry(Poco::JSON_PRESERVE_KEY_ORDER);
        entry.set("name", file.name);
        entry.set("size", static_cast<Poco::UInt64>(file.size));
        entry.set("sha256", file.sha256);
        list.add(entry);
    }
    root.set("files", list);
    std::ostringstream out;
    root.stringify(out);
    return out.str();
}

std::vector<ManifestFile> parseManifestFiles(const Poco::JSON::Array::Ptr& list)
{
    if (list.isNull() || list->size() == 0 || list->size() > kMaxFiles)
        reject("damaged: the manifest lists no files or too many");
    std::vector<ManifestFile> files;
    for (std::size_t i = 0; i < list->size(); ++i) {
        const auto entry = list->getObject(static_cast<unsigned>(i));
        if (entry.isNull())
            reject("damaged: a file entry of the manifest is not an object");
        files.push_back({entry->getValue<std::string>("name"), entry->getValue<Poco::UInt64>("size"),
            entry->getValue<std::string>("sha256")});
    }
    return files;
}

std::vector<ManifestFile> parseManifest(const Bytes& json, BackupInfo& info)
{
    try {
        Poco::JSON::Parser parser;
        const auto root = parser.parse(std::string(json.begin(), json.end())).extract<Poco::JSON::Object::Ptr>();
        if (root->optValue<std::string>("format", "") != kManifestFormat)
            reject("unknown format: the manifest is not a Meldpunt backup manifest");
        if (const int version = root->getValue<int>("version"); version != kBackupFormatVersion)
            reject("unknown format: manifest version " + std::to_string(version) + " is not supported");
        info.createdAt = root->getValue<std::string>("created_at");
        info.databaseId = root->getValue<std::string>("database_id");
        info.schemaVersion = root->getValue<int>("schema_version");
        auto files = parseManifestFiles(root->getArray("files"));
        for (const auto& file : files)
            info.files.emplace_back(file.name, file.size);
        return files;
    } catch (const Poco::Exception& error) {
        reject("damaged: the manifest is not valid: " + error.displayText());
    }
}

ManifestFile digestFile(const std::string& name, const fs::path& path)
{
    ManifestFile file{name, fs::file_size(path), {}};
    const auto fd = openFile(path, O_RDONLY);
    Bytes block(kBackupChunkSize);
    crypto::Sha256 digest;
    for (std::uint64_t done = 0; done < file.size;) {
        const std::size_t got = readUpTo(fd.get(), block, path);
        if (got == 0)
            throw std::runtime_error("'" + path.string() + "' shrank while it was hashed");
        digest.update(std::span(block).first(got));
        done += got;
    }
    file.sha256 = crypto::toHex(digest.finish());
    return file;
}

// Streams a file whose size and digest are already in the manifest, and
// hashes it again on the way so that a file changed in between is caught.
void sendFile(BackupWriter& writer, const ManifestFile& file, const fs::path& path)
{
    writer.writeRecord(RecordType::FileBegin, crypto::asBytes(file.name));
    const auto fd = openFile(path, O_RDONLY);
    Bytes block(kBackupChunkSize);
    crypto::Sha256 digest;
    for (std::uint64_t sent = 0; sent < file.size;) {
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), file.size - sent));
        const std::size_t got = readUpTo(fd.get(), std::span(block).first(want), path);
        if (got == 0)
            throw std::runtime_error("'" + path.string() + "' shrank while it was backed up");
        digest.update(std::span(block).first(got));
        writer.writeRecord(RecordType::FileData, std::span(block).first(got));
        sent += got;
    }
    if (crypto::toHex(digest.finish()) != file.sha256 || readUpTo(fd.get(), std::span(block).first(1), path) != 0)
        throw std::runtime_error("'" + path.string() + "' changed while it was backed up");
    writer.writeRecord(RecordType::FileEnd, {});
}

void receiveFile(BackupReader& reader, const ManifestFile& file, const fs::path& target)
{
    Bytes name = reader.expect(RecordType::FileBegin, "the beginning of '" + file.name + "'");
    if (std::string(name.begin(), name.end()) != file.name)
        reject("damaged: another file arrives where the manifest lists '" + file.name + "'");
    const auto fd = openFile(target, O_WRONLY | O_CREAT | O_EXCL);
    crypto::Sha256 digest;
    std::uint64_t received = 0;
    // Every data record carries at least one byte and the total may not
    // pass the size in the manifest, which bounds this loop.
    for (Record record = reader.next(); record.type != RecordType::FileEnd; record = reader.next()) {
        if (record.type != RecordType::FileData || record.payload.empty())
            reject("damaged: an unexpected record lies inside '" + file.name + "'");
        received += record.payload.size();
        if (received > file.size)
            reject("damaged: '" + file.name + "' is larger than the manifest says");
        digest.update(record.payload);
        fsutil::writeAll(fd.get(), record.payload, target);
    }
    if (received != file.size)
        reject("damaged: '" + file.name + "' is smaller than the manifest says");
    if (crypto::toHex(digest.finish()) != file.sha256)
        reject("damaged: the SHA-256 of '" + file.name + "' does not match the manifest");
}

// Reads and verifies the whole backup, leaving the encrypted snapshot in
// `snapshotPath` and its key in `snapshotKey`.
BackupInfo readBackup(const fs::path& backup, std::span<const std::uint8_t> privateKey, const fs::path& snapshotPath,
    SecretBytes& snapshotKey)
{
    BackupReader reader(backup, privateKey);
    BackupInfo info;
    const auto files = parseManifest(reader.expect(RecordType::Manifest, "the manifest"), info);
    if (files.size() != 1 || files.front().name != kBackupDatabaseName)
        reject("unknown format: the backup holds files this version cannot restore");
    Bytes key = reader.expect(RecordType::SnapshotKey, "the snapshot key");
    const bool keySizeOk = key.size() == snapshotKey.size();
    if (keySizeOk)
        std::copy(key.begin(), key.end(), snapshotKey.data());
    wipe(key);
    if (!keySizeOk)
        reject("damaged: the snapshot key has the wrong size");
    receiveFile(reader, files.front(), snapshotPath);
    reader.expect(RecordType::End, "the end record");
    reader.finish();
    return info;
}

void exportRestored(const fs::path& snapshotPath, const SecretBytes& snapshotKey, const fs::path& target,
    const SecretBytes& newDataKey, int schemaVersion)
{
    try {
        Database snapshot(snapshotPath, snapshotKey.span(), OpenMode::MustExist);
        {
            // Scoped: DETACH after the export fails while a statement of
            // the connection is still open.
            auto check = snapshot.prepare("PRAGMA integrity_check");
            if (!check.step() || check.columnText(0) != "ok")
                reject("damaged: the database snapshot fails its integrity check");
        }
        if (exportEncryptedCopy(snapshot, target, newDataKey) != schemaVersion)
            reject("damaged: the schema version of the snapshot differs from the manifest");
    } catch (const DatabaseError& error) {
        reject(std::string("damaged: the database snapshot cannot be restored: ") + error.what());
    }
}

} // namespace

BackupInfo createBackup(Database& database, const std::string& databaseId, const crypto::X25519PublicKey& recipient,
    const fs::path& scratchFolder, const fs::path& output)
{
    const SecretBytes snapshotKey = SecretBytes::random(crypto::kAes256KeySize);
    TemporaryDatabase snapshot(scratchFolder / uniqueName("snapshot"));
    BackupInfo info;
    info.databaseId = databaseId;
    info.createdAt = utcNow();
    info.schemaVersion = exportEncryptedCopy(database, snapshot.path(), snapshotKey);
    const ManifestFile file = digestFile(kBackupDatabaseName, snapshot.path());
    info.files = {{file.name, file.size}};

    BackupWriter writer(output, recipient);
    writer.writeRecord(RecordType::Manifest, crypto::asBytes(manifestJson(info, {file})));
    writer.writeRecord(RecordType::SnapshotKey, snapshotKey.span());
    sendFile(writer, file, snapshot.path());
    writer.commit();
    return info;
}

BackupInfo restoreBackup(const fs::path& backup, std::span<const std::uint8_t> recipientPrivateKey,
    const fs::path& scratchFolder, const fs::path& restoredDatabase, const SecretBytes& newDataKey)
{
    if (newDataKey.size() != crypto::kAes256KeySize)
        throw std::invalid_argument("the new data key must be 32 bytes");
    if (fs::exists(restoredDatabase))
        throw std::invalid_argument("'" + restoredDatabase.string() + "' already exists; a restore never overwrites");
    TemporaryDatabase snapshot(scratchFolder / uniqueName("restore"));
    SecretBytes snapshotKey(crypto::kAes256KeySize);
    const BackupInfo info = readBackup(backup, recipientPrivateKey, snapshot.path(), snapshotKey);

    TemporaryDatabase partial(restoredDatabase.string() + ".partial");
    exportRestored(snapshot.path(), snapshotKey, partial.path(), newDataKey, info.schemaVersion);
    {
        const auto fd = openFile(partial.path(), O_RDONLY);
        fsutil::syncFile(fd.get(), partial.path());
    }
    fs::rename(partial.path(), restoredDatabase);
    partial.release();
    fsutil::syncDirectory(folderOf(restoredDatabase));
    return info;
}

} // namespace meldpunt::storage
