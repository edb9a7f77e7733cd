#include "Spool.h"

#include "ChunkedFile.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace meldpunt::spool {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kKeyInfo = "meldpunt spool v1 chunk key";
constexpr std::size_t kRecordHeaderSize = 5;

void putBigEndian(std::uint8_t* out, std::uint64_t value, int bytes)
{
    for (int i = bytes - 1; i >= 0; --i) {
        out[i] = static_cast<std::uint8_t>(value & 0xff);
        value >>= 8;
    }
}

std::uint64_t getBigEndian(const std::uint8_t* in, int bytes)
{
    std::uint64_t value = 0;
    for (int i = 0; i < bytes; ++i)
        value = value << 8 | in[i];
    return value;
}

// The nonce is the chunk counter (big-endian, bytes 0 to 7) and the final
// flag (byte 11). The key is unique per entry, so a counter never repeats
// under one key; the flag makes a truncated entry fail to verify.
std::array<std::uint8_t, crypto::kGcmNonceSize> chunkNonce(std::uint64_t counter, bool final)
{
    std::array<std::uint8_t, crypto::kGcmNonceSize> nonce{};
    putBigEndian(nonce.data(), counter, 8);
    nonce[11] = final ? 1 : 0;
    return nonce;
}

bool isKnownKind(std::uint8_t kind)
{
    return kind >= static_cast<std::uint8_t>(EntryKind::Report)
        && kind <= static_cast<std::uint8_t>(EntryKind::VisitCounts);
}

bool isKnownRecordType(std::uint8_t type)
{
    return (type >= static_cast<std::uint8_t>(RecordType::Fields)
               && type <= static_cast<std::uint8_t>(RecordType::ReceiptSecret))
        || type == static_cast<std::uint8_t>(RecordType::End);
}

} // namespace

std::array<std::uint8_t, kHeaderSize> Header::serialize() const
{
    std::array<std::uint8_t, kHeaderSize> out{};
    std::uint8_t* p = out.data();
    std::copy(kMagic.begin(), kMagic.end(), p);
    putBigEndian(p + 8, kFormatVersion, 2);
    p[10] = static_cast<std::uint8_t>(kind);
    p[11] = 0; // flags, none defined in version 1
    std::copy(uuid.bytes.begin(), uuid.bytes.end(), p + 12);
    std::copy(intakeKeyId.begin(), intakeKeyId.end(), p + 28);
    std::copy(ephemeralKey.begin(), ephemeralKey.end(), p + 44);
    putBigEndian(p + 76, chunkSize, 4);
    return out;
}

Header Header::parse(std::span<const std::uint8_t> bytes)
{
    if (bytes.size() < kHeaderSize)
        throw FormatError("entry is shorter than its header");
    if (!std::equal(kMagic.begin(), kMagic.end(), bytes.begin()))
        throw FormatError("not a spool entry (wrong magic)");
    const auto version = getBigEndian(bytes.data() + 8, 2);
    if (version != kFormatVersion)
        throw FormatError("unsupported spool format version " + std::to_string(version));
    if (!isKnownKind(bytes[10]))
        throw FormatError("unknown entry kind " + std::to_string(bytes[10]));
    if (bytes[11] != 0)
        throw FormatError("unknown header flags");
    Header header;
    header.kind = static_cast<EntryKind>(bytes[10]);
    std::copy_n(bytes.begin() + 12, 16, header.uuid.bytes.begin());
    std::copy_n(bytes.begin() + 28, 16, header.intakeKeyId.begin());
    std::copy_n(bytes.begin() + 44, 32, header.ephemeralKey.begin());
    header.chunkSize = static_cast<std::uint32_t>(getBigEndian(bytes.data() + 76, 4));
    if (header.chunkSize < kMinChunkSize || header.chunkSize > kMaxChunkSize)
        throw FormatError("chunk size out of range");
    return header;
}

SecretBytes deriveChunkKey(std::span<const std::uint8_t> sharedSecret,
    std::span<const std::uint8_t> header)
{
    std::vector<std::uint8_t> info(kKeyInfo.begin(), kKeyInfo.end());
    info.insert(info.end(), header.begin(), header.end());
    return crypto::hkdfSha256(sharedSecret, {}, info, crypto::kAes256KeySize);
}

Writer::Writer(const fs::path& spoolFolder, EntryKind kind, const Uuid& uuid,
    const IntakePublicKey& intakeKey, std::uint32_t chunkSize)
    : folder_(spoolFolder)
    , partialPath_(spoolFolder / ("." + uuid.toString() + kPartialSuffix))
    , entryPath_(spoolFolder / (uuid.toString() + kEntrySuffix))
    , chunkSize_(chunkSize)
{
    if (chunkSize < kMinChunkSize || chunkSize > kMaxChunkSize)
        throw std::invalid_argument("spool chunk size out of range");

    const auto ephemeral = crypto::x25519Ephemeral(intakeKey.key);
    Header header;
    header.kind = kind;
    header.uuid = uuid;
    header.intakeKeyId = intakeKey.id;
    header.ephemeralKey = ephemeral.publicKey;
    header.chunkSize = chunkSize;
    header_ = header.serialize();
    key_ = deriveChunkKey(ephemeral.shared.span(), header_);

    fd_ = fsutil::FileDescriptor(
        ::open(partialPath_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
    if (!fd_)
        throw std::system_error(errno, std::generic_category(), "creating '" + partialPath_.string() + "'");
    // The daemon's umask is 0077; meldpuntd reads entries through the spool
    // folder's group, so the group read bit is set explicitly.
    if (::fchmod(fd_.get(), 0640) != 0) {
        const int error = errno;
        ::unlink(partialPath_.c_str());
        throw std::system_error(error, std::generic_category(), "setting the mode of '" + partialPath_.string() + "'");
    }
    buffer_.reserve(chunkSize_);
    try {
        fsutil::writeAll(fd_.get(), header_, partialPath_);
        writeBehind_.appended(fd_.get(), header_.size());
    } catch (...) {
        ::unlink(partialPath_.c_str());
        throw;
    }
}

Writer::~Writer()
{
    OPENSSL_cleanse(buffer_.data(), buffer_.size());
    if (!committed_) {
        fd_.reset();
        ::unlink(partialPath_.c_str());
    }
}

void Writer::writeRecord(RecordType type, std::span<const std::uint8_t> payload)
{
    if (committed_)
        throw std::logic_error("spool entry already committed");
    if (payload.size() > kMaxRecordSize)
        throw std::invalid_argument("spool record too large");
    std::array<std::uint8_t, kRecordHeaderSize> recordHeader{};
    recordHeader[0] = static_cast<std::uint8_t>(type);
    putBigEndian(recordHeader.data() + 1, payload.size(), 4);
    append(recordHeader);
    append(payload);
}

void Writer::append(std::span<const std::uint8_t> bytes)
{
    while (!bytes.empty()) {
        const std::size_t room = chunkSize_ - buffer_.size();
        const std::size_t take = std::min(room, bytes.size());
        buffer_.insert(buffer_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
        bytes = bytes.subspan(take);
        if (buffer_.size() == chunkSize_)
            flushChunk(false);
    }
}

void Writer::flushChunk(bool final)
{
    const auto nonce = chunkNonce(counter_++, final);
    const auto sealed = crypto::seal(key_.span(), nonce, header_, buffer_);
    fsutil::writeAll(fd_.get(), sealed, partialPath_);
    writeBehind_.appended(fd_.get(), sealed.size());
    OPENSSL_cleanse(buffer_.data(), buffer_.size());
    buffer_.clear();
}

fs::path Writer::commit()
{
    writeRecord(RecordType::End, {});
    // The final chunk always contains fewer than chunkSize bytes, because a
    // full buffer is flushed as a non-final chunk as soon as it fills.
    flushChunk(true);
    fsutil::syncFile(fd_.get(), partialPath_);
    fd_.reset();
    if (::rename(partialPath_.c_str(), entryPath_.c_str()) != 0)
        throw std::system_error(errno, std::generic_category(), "renaming '" + partialPath_.string() + "'");
    committed_ = true;
    fsutil::syncDirectory(folder_);
    return entryPath_;
}

Reader::Reader(const fs::path& path, const PrivateKeyLookup& lookup)
    : path_(path)
{
    fd_ = fsutil::FileDescriptor(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd_)
        throw std::system_error(errno, std::generic_category(), "opening '" + path.string() + "'");
    std::vector<std::uint8_t> headerBytes;
    take(kHeaderSize, headerBytes);
    if (headerBytes.size() != kHeaderSize)
        throw FormatError("entry is shorter than its header");
    header_ = Header::parse(headerBytes);
    std::copy(headerBytes.begin(), headerBytes.end(), headerBytes_.begin());

    auto privateKey = lookup(header_.intakeKeyId);
    if (!privateKey)
        throw FormatError("entry was made for an unknown intake key " + crypto::toHex(header_.intakeKeyId));
    try {
        const SecretBytes shared = crypto::x25519(privateKey->span(), header_.ephemeralKey);
        key_ = deriveChunkKey(shared.span(), headerBytes_);
    } catch (const crypto::CryptoError&) {
        // OpenSSL rejects low-order points, whose shared secret is zero;
        // only a forged entry carries one.
        throw FormatError("entry has an invalid ephemeral key");
    }
}

Reader::~Reader()
{
    OPENSSL_cleanse(plain_.data(), plain_.size());
}

void Reader::take(std::size_t size, std::vector<std::uint8_t>& into)
{
    into.resize(size);
    std::size_t filled = 0;
    while (filled < size) {
        const ssize_t got = ::read(fd_.get(), into.data() + filled, size - filled);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            throw std::system_error(errno, std::generic_category(), "reading '" + path_.string() + "'");
        }
        if (got == 0)
            break;
        filled += static_cast<std::size_t>(got);
    }
    into.resize(filled);
}

bool Reader::readChunk()
{
    if (finalSeen_)
        return false;
    std::vector<std::uint8_t> sealed;
    take(header_.chunkSize + crypto::kGcmTagSize, sealed);
    if (sealed.size() < crypto::kGcmTagSize)
        throw FormatError("entry is truncated (no final chunk)");
    const bool final = sealed.size() < header_.chunkSize + crypto::kGcmTagSize;
    try {
        auto plain = crypto::open(key_->span(), chunkNonce(counter_, final), headerBytes_, sealed);
        // Records already returned are wiped before their bytes are dropped.
        OPENSSL_cleanse(plain_.data(), position_);
        plain_.erase(plain_.begin(), plain_.begin() + static_cast<std::ptrdiff_t>(position_));
        position_ = 0;
        plain_.insert(plain_.end(), plain.begin(), plain.end());
        OPENSSL_cleanse(plain.data(), plain.size());
    } catch (const crypto::CryptoError&) {
        throw FormatError("chunk " + std::to_string(counter_) + " does not verify");
    }
    ++counter_;
    finalSeen_ = final;
    return true;
}

std::optional<Record> Reader::next()
{
    if (endSeen_)
        return std::nullopt;
    while (plain_.size() - position_ < kRecordHeaderSize) {
        if (!readChunk())
            throw FormatError("entry ends without an end record");
    }
    const std::uint8_t type = plain_[position_];
    const auto size = static_cast<std::size_t>(getBigEndian(plain_.data() + position_ + 1, 4));
    if (!isKnownRecordType(type))
        throw FormatError("unknown record type " + std::to_string(type));
    if (size > kMaxRecordSize)
        throw FormatError("record larger than the limit");
    while (plain_.size() - position_ < kRecordHeaderSize + size) {
        if (!readChunk())
            throw FormatError("entry ends inside a record");
    }
    Record record{static_cast<RecordType>(type), {}};
    const auto begin = plain_.begin() + static_cast<std::ptrdiff_t>(position_ + kRecordHeaderSize);
    record.payload.assign(begin, begin + static_cast<std::ptrdiff_t>(size));
    position_ += kRecordHeaderSize + size;

    if (record.type == RecordType::End) {
        if (!record.payload.empty())
            throw FormatError("end record carries data");
        // The final chunk may follow as an empty chunk when the end record
        // filled the previous one exactly.
        while (!finalSeen_)
            readChunk();
        if (position_ != plain_.size())
            throw FormatError("data follows the end record");
        std::vector<std::uint8_t> rest;
        take(1, rest);
        if (!rest.empty())
            throw FormatError("data follows the final chunk");
        endSeen_ = true;
        return std::nullopt;
    }
    return record;
}

std::vector<fs::path> listEntries(const fs::path& spoolFolder)
{
    std::vector<std::pair<fs::file_time_type, fs::path>> found;
    for (const auto& item : fs::directory_iterator(spoolFolder)) {
        const auto name = item.path().filename().string();
        // symlink_status, not status: a link named like an entry is not an
        // entry, and the reader opens entries with O_NOFOLLOW.
        std::error_code statusError;
        if (!fs::is_regular_file(item.symlink_status(statusError)) || name.starts_with(".")
            || !name.ends_with(kEntrySuffix))
            continue;
        std::error_code error;
        const auto time = item.last_write_time(error);
        found.emplace_back(error ? fs::file_time_type::min() : time, item.path());
    }
    std::sort(found.begin(), found.end());
    std::vector<fs::path> entries;
    for (auto& [time, path] : found)
        entries.push_back(std::move(path));
    return entries;
}

std::array<std::uint8_t, PieceHeader::kSize> PieceHeader::serialize() const
{
    std::array<std::uint8_t, kSize> out{};
    std::copy(kMagic.begin(), kMagic.end(), out.begin());
    std::copy(id.begin(), id.end(), out.begin() + 8);
    putBigEndian(out.data() + 24, chunkSize, 4);
    return out;
}

PieceHeader PieceHeader::parse(std::span<const std::uint8_t> bytes)
{
    if (bytes.size() < kSize || !std::equal(kMagic.begin(), kMagic.end(), bytes.begin()))
        throw FormatError("not an attachment piece (wrong magic)");
    PieceHeader header;
    std::copy_n(bytes.begin() + 8, header.id.size(), header.id.begin());
    header.chunkSize = static_cast<std::uint32_t>(getBigEndian(bytes.data() + 24, 4));
    if (header.chunkSize < kMinChunkSize || header.chunkSize > kMaxChunkSize)
        throw FormatError("piece chunk size out of range");
    return header;
}

fs::path piecePath(const fs::path& spoolFolder, const Uuid& entry, std::size_t position)
{
    return spoolFolder / (entry.toString() + "." + std::to_string(position) + kPieceSuffix);
}

std::vector<fs::path> piecesOf(const fs::path& entry)
{
    // Pieces are numbered from 0 without gaps, and are removed and moved
    // from the last one back, so those left after a crash are numbered
    // from 0 too. Probing the names costs one stat each, where listing the
    // folder would cost a pass over every entry in it.
    const std::string name = entry.filename().string();
    const std::string uuid = name.substr(0, name.size() - std::string_view(kEntrySuffix).size());
    std::vector<fs::path> pieces;
    for (std::size_t position = 0; position < 100000; ++position) {
        fs::path piece = entry.parent_path() / (uuid + "." + std::to_string(position) + kPieceSuffix);
        struct stat status {};
        if (::lstat(piece.c_str(), &status) != 0)
            break;
        pieces.push_back(std::move(piece));
    }
    return pieces;
}

namespace {

// Rethrows the exception being handled, as a FormatError when it shows
// that the piece at `path` is damaged or missing.
[[noreturn]] void rethrowPieceError(const fs::path& path)
{
    try {
        throw;
    } catch (const chunked::IntegrityError& error) {
        throw FormatError(error.what());
    } catch (const std::system_error& error) {
        if (error.code().value() == ENOENT)
            throw FormatError("piece '" + path.filename().string() + "' is missing");
        throw;
    }
}

} // namespace

PieceHeader readPieceHeader(const fs::path& path)
{
    try {
        return PieceHeader::parse(chunked::Reader(path, PieceHeader::kSize).header());
    } catch (...) {
        rethrowPieceError(path);
    }
}

void readPiece(const fs::path& path, const std::array<std::uint8_t, 16>& id, std::span<const std::uint8_t> key,
    const std::function<void(std::span<const std::uint8_t>)>& sink)
{
    // The chunk size comes from the header, so the file is opened again
    // for the chunks. The id is checked in the header that the chunks are
    // verified against.
    const std::uint32_t chunkSize = readPieceHeader(path).chunkSize;
    try {
        chunked::Reader reader(path, PieceHeader::kSize, chunkSize);
        if (PieceHeader::parse(reader.header()).id != id)
            throw FormatError("piece '" + path.filename().string() + "' belongs to another attachment");
        std::vector<std::uint8_t> plain;
        while (reader.next(key, plain)) {
            if (!plain.empty())
                sink(plain);
            OPENSSL_cleanse(plain.data(), plain.size());
        }
    } catch (...) {
        rethrowPieceError(path);
    }
}

} // namespace meldpunt::spool
