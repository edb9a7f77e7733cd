#pragma once

// Files of fixed-size AES-256-GCM chunks behind a plain header, for data
// too large to hold in memory: uploads held by meldpunt-public and stored
// attachments in meldpuntd. The layout is the spool's (docs/spool-format.md,
// "Chunks"): each chunk's nonce is its counter and a final flag, and the
// header is the associated data of every chunk, so a flipped byte, a
// dropped, repeated or reordered chunk and a cut-off file all fail to
// verify. Each key must be used for one file only.

#include "Crypto.h"
#include "FileSystem.h"
#include "SecretBytes.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

namespace meldpunt::chunked {

inline constexpr std::uint32_t kDefaultChunkSize = 64 * 1024;
// A writer collects this many sealed chunks before it writes them, which
// halves the write calls. Four made an upload no faster.
inline constexpr std::size_t kChunksPerWrite = 2;

// Whether finishing a file waits until its bytes are on the disk.
enum class Durability { Synced, CacheOnly };

// The file is damaged, tampered with or truncated, or the key is wrong.
class IntegrityError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Writes a new file (O_EXCL) chunk by chunk. Destroying an unfinished
// writer removes the file. Errors are std::system_error naming the file.
// Not thread-safe.
class Writer {
public:
    Writer(std::filesystem::path path, std::span<const std::uint8_t> header, std::span<const std::uint8_t> key,
        unsigned mode, std::uint32_t chunkSize = kDefaultChunkSize);
    ~Writer();
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    void write(std::span<const std::uint8_t> bytes);
    // Seals the final chunk and, with Durability::Synced, syncs the file
    // to disk. The caller syncs the folder when the file's name must
    // survive a crash.
    void finish(Durability durability = Durability::Synced);
    // Removes the file now.
    void abandon();
    std::uint64_t plainBytes() const { return plainBytes_; }
    const std::filesystem::path& path() const { return path_; }

private:
    void sealChunk(std::span<const std::uint8_t> plain, bool final);
    void writeSealed();

    std::filesystem::path path_;
    fsutil::FileDescriptor fd_;
    std::vector<std::uint8_t> header_;
    crypto::Aes256Gcm cipher_;
    std::uint32_t chunkSize_;
    std::uint64_t counter_ = 0;
    std::uint64_t plainBytes_ = 0;
    // The start of the next chunk, when fewer bytes than a chunk have come.
    std::vector<std::uint8_t> plain_;
    // Sealed chunks not yet written: a few go to the file in one write.
    // The buffer is not zeroed first, as a vector's would be.
    std::unique_ptr<std::uint8_t[]> sealed_;
    std::size_t sealedSize_ = 0;
    std::size_t sealedCapacity_;
    // A large file reaches the disk while it is written, so the final sync
    // is short and the page cache does not fill with it.
    fsutil::WriteBehind writeBehind_;
    bool done_ = false;
};

// Reads such a file. header() is available at once, so the caller can
// check it and derive the key before reading chunks.
class Reader {
public:
    // Throws std::system_error when the file cannot be opened, and
    // IntegrityError when it is shorter than `headerSize`.
    Reader(const std::filesystem::path& path, std::size_t headerSize, std::uint32_t chunkSize = kDefaultChunkSize);

    const std::vector<std::uint8_t>& header() const { return header_; }
    // Decrypts the next chunk into `plain`. Returns false after the final
    // chunk. Throws IntegrityError when a chunk does not verify, the file
    // ends without a final chunk, or data follows the final chunk.
    bool next(std::span<const std::uint8_t> key, std::vector<std::uint8_t>& plain);

private:
    std::size_t readUpTo(std::size_t size, std::vector<std::uint8_t>& into);

    std::filesystem::path path_;
    fsutil::FileDescriptor fd_;
    std::vector<std::uint8_t> header_;
    std::uint32_t chunkSize_;
    std::uint64_t counter_ = 0;
    bool finalSeen_ = false;
    // The cipher, made from the first key next() is given and made again
    // only when a later call brings another key.
    std::optional<crypto::Aes256Gcm> cipher_;
    SecretBytes cipherKey_{crypto::kAes256KeySize};
    std::vector<std::uint8_t> sealed_;
};

} // namespace meldpunt::chunked
