#pragma once

// Stored attachments: each one a file of fixed-size AES-256-GCM chunks
// under its own random file key, named by a random id, in the state's
// attachments folder. The file key is kept in the database wrapped by the
// report's key; the database holds the metadata and SHA-256, never the
// bytes. Deleting the report's key row (or the attachment's row) makes the
// file unreadable. docs/attachments.md describes the bytes.

#include "ChunkedFile.h"
#include "Database.h"
#include "SecretBytes.h"

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace meldpunt::storage {

inline constexpr std::size_t kAttachmentHeaderSize = 30;
// Wrapped file key: nonce, the 32-byte key sealed with AES-256-GCM, tag.
inline constexpr std::size_t kWrappedKeySize = 12 + 32 + 16;

// The folder of stored attachments. Not thread-safe; callers serialise
// access with the database.
class AttachmentStore {
public:
    explicit AttachmentStore(std::filesystem::path folder);

    // One attachment being written under a fresh random id and key.
    class Writer {
    public:
        void write(std::span<const std::uint8_t> bytes);
        // Seals the last chunk and syncs the file. The caller syncs the
        // folder (syncFolder) before it commits the row.
        void finish();
        std::uint64_t size() const { return size_; }
        const std::string& fileId() const { return fileId_; }
        const SecretBytes& fileKey() const { return key_; }
        std::array<std::uint8_t, 32> sha256() { return hash_.finish(); }

    private:
        friend class AttachmentStore;
        Writer(const std::filesystem::path& folder, std::string fileId);

        std::string fileId_;
        SecretBytes key_;
        std::unique_ptr<chunked::Writer> file_;
        crypto::Sha256 hash_;
        std::uint64_t size_ = 0;
    };

    std::unique_ptr<Writer> create();
    void syncFolder() const;

    // Streams the original bytes of `fileId` to `sink`, verifying every
    // chunk. Throws chunked::IntegrityError on a damaged file or a wrong
    // key, std::system_error when the file is missing.
    void read(const std::string& fileId, std::span<const std::uint8_t> fileKey,
        const std::function<void(std::span<const std::uint8_t>)>& sink) const;

    void remove(const std::string& fileId) const;
    // Removes every file whose id is not in `known`: files written for an
    // entry whose transaction never committed. Returns how many went.
    std::size_t removeOrphans(const std::set<std::string>& known) const;

    const std::filesystem::path& folder() const { return folder_; }

private:
    std::filesystem::path pathOf(const std::string& fileId) const;

    std::filesystem::path folder_;
};

// Wraps a file key with the report key; the file id is associated data,
// so a wrapped key moved to another attachment's row does not open.
std::vector<std::uint8_t> wrapFileKey(std::span<const std::uint8_t> reportKey,
    std::span<const std::uint8_t> fileKey, const std::string& fileId);
// Throws chunked::IntegrityError when the wrapped key does not verify.
SecretBytes unwrapFileKey(std::span<const std::uint8_t> reportKey, std::span<const std::uint8_t> wrapped,
    const std::string& fileId);

// Reads one stored attachment with the keys in the database: the report
// key unwraps the file key. Throws chunked::IntegrityError when a key row
// is missing or a key does not verify, and as AttachmentStore::read.
void readStoredAttachment(Database& database, const AttachmentStore& store, const std::string& fileId,
    const std::function<void(std::span<const std::uint8_t>)>& sink);

} // namespace meldpunt::storage
