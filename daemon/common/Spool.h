#pragma once

// The spool: how meldpunt-public hands entries to meldpuntd without ever
// being able to read them back. docs/spool-format.md describes the bytes.

#include "Crypto.h"
#include "FileSystem.h"
#include "Uuid.h"

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace meldpunt::spool {

inline constexpr std::array<std::uint8_t, 8> kMagic = {'M', 'L', 'D', 'S', 'P', 'O', 'O', 'L'};
inline constexpr std::uint16_t kFormatVersion = 1;
inline constexpr std::size_t kHeaderSize = 80;
inline constexpr std::uint32_t kDefaultChunkSize = 64 * 1024;
inline constexpr std::uint32_t kMinChunkSize = 1024;
inline constexpr std::uint32_t kMaxChunkSize = 1024 * 1024;
inline constexpr std::uint32_t kMaxRecordSize = 16 * 1024 * 1024;
inline constexpr const char* kEntrySuffix = ".entry";
inline constexpr const char* kPartialSuffix = ".partial";
inline constexpr const char* kPieceSuffix = ".piece";

enum class EntryKind : std::uint8_t {
    Report = 1,
    FollowUp = 2,
    Withdrawal = 3,
    Complaint = 4,
    VisitCounts = 5,
};

enum class RecordType : std::uint8_t {
    Fields = 1,          // a JSON object
    AttachmentBegin = 2, // JSON metadata of one attachment
    AttachmentData = 3,  // a piece of the attachment's bytes
    AttachmentEnd = 4,   // JSON with the size and SHA-256 of the attachment
    ReceiptSecret = 5,   // the 10 bytes of a report's receipt secret
    End = 0x7f,          // marks a complete entry; nothing may follow
};

using KeyId = std::array<std::uint8_t, 16>;

// The public half of the intake key that meldpuntd publishes.
struct IntakePublicKey {
    KeyId id{};
    crypto::X25519PublicKey key{};
};

struct Header {
    EntryKind kind = EntryKind::Report;
    Uuid uuid;
    KeyId intakeKeyId{};
    crypto::X25519PublicKey ephemeralKey{};
    std::uint32_t chunkSize = kDefaultChunkSize;

    std::array<std::uint8_t, kHeaderSize> serialize() const;
    // Throws FormatError on a wrong magic, version, kind or chunk size.
    static Header parse(std::span<const std::uint8_t> bytes);
};

// The entry is malformed, tampered with, truncated or made for a key that
// is not known. The ingester quarantines such entries.
class FormatError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Writes one entry as its content arrives: records are encrypted chunk by
// chunk into a hidden ".<uuid>.partial" file, and commit() makes the entry
// visible as "<uuid>.entry" only after the file and the folder are synced.
// Destroying an uncommitted writer removes the partial file. Errors are
// thrown as std::system_error naming the file, so a full disk (ENOSPC) or
// a missing permission (EACCES) reaches the caller. The plain text it
// buffers is wiped after each chunk. Not thread-safe.
class Writer {
public:
    Writer(const std::filesystem::path& spoolFolder, EntryKind kind, const Uuid& uuid,
        const IntakePublicKey& intakeKey, std::uint32_t chunkSize = kDefaultChunkSize);
    ~Writer();
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    void writeRecord(RecordType type, std::span<const std::uint8_t> payload);
    // Writes the End record and the final chunk, then syncs and renames.
    // Returns the path of the committed entry.
    std::filesystem::path commit();
    // Whether the entry has its final name, even when commit() then
    // failed to sync the folder.
    bool committed() const { return committed_; }

private:
    void append(std::span<const std::uint8_t> bytes);
    void flushChunk(bool final);

    std::filesystem::path folder_;
    std::filesystem::path partialPath_;
    std::filesystem::path entryPath_;
    fsutil::FileDescriptor fd_;
    std::array<std::uint8_t, kHeaderSize> header_{};
    SecretBytes key_{crypto::kAes256KeySize};
    std::uint32_t chunkSize_;
    std::uint64_t counter_ = 0;
    std::vector<std::uint8_t> buffer_;
    // An entry with large attachments reaches the disk while it is written,
    // so commit()'s fsync, which the receipt waits for, is short.
    fsutil::WriteBehind writeBehind_;
    bool committed_ = false;
};

struct Record {
    RecordType type;
    std::vector<std::uint8_t> payload;
};

// Looks up the private half of an intake key by its id; nullopt when the
// key is unknown or already destroyed.
using PrivateKeyLookup = std::function<std::optional<SecretBytes>(const KeyId&)>;

// Reads an entry chunk by chunk, verifying every chunk's tag, the order
// (by the counter nonce) and the final-chunk flag, so truncation,
// reordering and flipped bytes all raise FormatError. The decrypted bytes
// it holds are wiped as they are consumed and when it is destroyed.
class Reader {
public:
    Reader(const std::filesystem::path& path, const PrivateKeyLookup& lookup);
    ~Reader();
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;
    const Header& header() const { return header_; }
    // Returns the next record, or nullopt after the End record. Throws
    // FormatError when the entry is damaged or ends without an End record.
    std::optional<Record> next();

private:
    bool readChunk();
    void take(std::size_t size, std::vector<std::uint8_t>& into);

    std::filesystem::path path_;
    fsutil::FileDescriptor fd_;
    Header header_;
    std::array<std::uint8_t, kHeaderSize> headerBytes_{};
    std::optional<SecretBytes> key_;
    std::uint64_t counter_ = 0;
    std::vector<std::uint8_t> plain_;
    std::size_t position_ = 0;
    bool finalSeen_ = false;
    bool endSeen_ = false;
};

// Derives the chunk key from the X25519 shared secret and the header.
SecretBytes deriveChunkKey(std::span<const std::uint8_t> sharedSecret,
    std::span<const std::uint8_t> header);

// Lists committed entries, oldest first by modification time.
std::vector<std::filesystem::path> listEntries(const std::filesystem::path& spoolFolder);

// The header of a piece: an attachment's bytes in a file beside its entry,
// "<entry uuid>.<position>.piece". A piece is a chunked file (ChunkedFile.h)
// under a key of its own, which only the entry's attachment begin record
// carries. meldpunt-public writes it while the upload streams in and moves
// it beside the entry when the report is sent, so the bytes reach the disk
// once.
struct PieceHeader {
    static constexpr std::size_t kSize = 28;
    static constexpr std::array<std::uint8_t, 8> kMagic = {'M', 'L', 'D', 'P', 'I', 'E', 'C', 'E'};

    std::array<std::uint8_t, 16> id{}; // random, and repeated in the begin record
    std::uint32_t chunkSize = kDefaultChunkSize;

    std::array<std::uint8_t, kSize> serialize() const;
    // Throws FormatError on a wrong magic or chunk size.
    static PieceHeader parse(std::span<const std::uint8_t> bytes);
};

std::filesystem::path piecePath(const std::filesystem::path& spoolFolder, const Uuid& entry, std::size_t position);

// The pieces that lie beside `entry` (a path to "<uuid>.entry").
std::vector<std::filesystem::path> piecesOf(const std::filesystem::path& entry);

// Reads the header of the piece at `path`. Throws FormatError when the
// file is missing or not a piece, and std::system_error on other I/O errors.
PieceHeader readPieceHeader(const std::filesystem::path& path);

// Streams a piece's bytes to `sink`, verifying every chunk, and checks
// that its header names `id`. Throws FormatError when the piece is
// missing, damaged, cut short or not the one named.
void readPiece(const std::filesystem::path& path, const std::array<std::uint8_t, 16>& id,
    std::span<const std::uint8_t> key, const std::function<void(std::span<const std::uint8_t>)>& sink);

} // namespace meldpunt::spool
