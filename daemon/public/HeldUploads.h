#pragma once

// Files a reporter attached to a form that is not sent yet. They stay on
// the server, encrypted, bound to the form, so that a failed validation, a
// language switch or adding another file never loses one.
//
// A form is named by a random 128-bit token in a hidden field. Its files
// live in a subfolder named by HKDF-SHA256 of the token, as chunked
// AES-256-GCM files under keys derived from the token and a random file id.
// The token itself is never written down, so nothing on disk can be found
// or read without it. Each file's data is a spool piece already, so that
// sending the report moves it beside the entry instead of copying it.
// docs/attachments.md describes the bytes.

#include "ChunkedFile.h"
#include "Spool.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace meldpunt::site {

// One held file as the form lists it.
struct HeldFile {
    std::string id;          // 32 hex digits, random
    std::string displayName; // sanitised; never a path
    std::string mediaType;   // as checked by content
    std::uint64_t size = 0;
    std::string heldAt;                    // UTC, ISO 8601
};

// The store of held uploads in one folder (mode 0700). Methods that take a
// token throw std::invalid_argument for a token that isValidToken rejects.
// I/O errors are std::system_error; damaged files raise
// chunked::IntegrityError. Thread-safe: every call works on its own files.
class HeldUploads {
public:
    HeldUploads(std::filesystem::path folder, std::chrono::seconds holdTime,
        std::uint32_t chunkSize = chunked::kDefaultChunkSize);

    // A fresh token: 128 random bits as 32 lower-case hex digits.
    static std::string newToken();
    static bool isValidToken(std::string_view token);

    // One file arriving. Nothing is listed until commit(); an upload that
    // is destroyed uncommitted leaves nothing behind.
    class Upload {
    public:
        ~Upload();
        void write(std::span<const std::uint8_t> bytes);
        std::uint64_t size() const { return writer_->plainBytes(); }
        // Finishes the file and makes it part of the form. Returns it.
        HeldFile commit(const std::string& displayName, const std::string& mediaType);

    private:
        friend class HeldUploads;
        Upload(std::filesystem::path folder, std::string id, std::unique_ptr<chunked::Writer> writer,
            std::array<std::uint8_t, 16> token);

        std::filesystem::path folder_;
        std::string id_;
        std::unique_ptr<chunked::Writer> writer_;
        std::array<std::uint8_t, 16> token_;
    };

    std::unique_ptr<Upload> begin(const std::string& token);

    // The form's files, oldest first. A file whose metadata does not verify
    // is left out. Listing also counts as activity, so a form in use does
    // not expire.
    std::vector<HeldFile> list(const std::string& token) const;

    // Hands a held file over to a report's spool entry. Syncs it to disk,
    // makes it readable by the spool folder's group (mode 0640) and moves
    // it to `destination`, where meldpuntd reads it as a piece (Spool.h).
    // Returns the key of its chunks, which the entry carries. Where a rename
    // into the spool folder fails with EXDEV, the encrypted bytes are
    // copied instead. The file is no longer listed afterwards.
    SecretBytes moveOut(const std::string& token, const HeldFile& file, const std::filesystem::path& destination) const;
    // Puts a file that moveOut handed over back into its form, for an
    // entry that could not be committed.
    void moveBack(const std::string& token, const HeldFile& file, const std::filesystem::path& from) const;
    // Puts a piece whose entry was never committed back into the form that
    // still lists its metadata, found by the id in the piece's header, for
    // start-up after a crash. Returns false when no form is waiting for it.
    bool returnPiece(const std::filesystem::path& piece) const;

    // Removes one file; unknown ids are ignored.
    void remove(const std::string& token, const std::string& id) const;
    // Removes the form's folder with everything in it.
    void removeAll(const std::string& token) const;

    // Removes forms not used for longer than the hold time, and files left
    // unfinished by an upload that stopped before `now - holdTime`.
    // Returns the number of forms removed.
    std::size_t sweep(std::chrono::system_clock::time_point now) const;
    // Removes every unfinished file; for start-up, when no upload runs.
    void removeUnfinished() const;

    std::chrono::seconds holdTime() const { return holdTime_; }

private:
    std::filesystem::path formFolder(const std::array<std::uint8_t, 16>& token) const;

    std::filesystem::path folder_;
    std::chrono::seconds holdTime_;
    std::uint32_t chunkSize_;
};

} // namespace meldpunt::site
