#pragma once

// Checks an uploaded file's type by its content with libmagic, against the
// types the site accepts and the type the browser claimed.

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

struct magic_set;

namespace meldpunt::site {

// libmagic needs no more than this many leading bytes for the types the
// site accepts; a file's type is decided on them.
inline constexpr std::size_t kTypeSniffBytes = 64 * 1024;

enum class TypeVerdict {
    Accepted,
    NotAllowed,   // the content is of a type the site does not take
    Mismatch,     // the content is an allowed type, but not the one claimed
};

struct TypeCheck {
    TypeVerdict verdict = TypeVerdict::NotAllowed;
    std::string mediaType; // the accepted type's canonical name, such as "image/jpeg"
};

// Owns one libmagic handle with the system's compiled database. libmagic
// handles are not thread-safe, so calls are serialised by a mutex.
class FileTypeChecker {
public:
    // Throws std::runtime_error when libmagic or its database cannot be
    // loaded.
    FileTypeChecker();
    ~FileTypeChecker();

    // Decides on `head`, the file's first bytes (up to kTypeSniffBytes).
    // `claimedType` is the part's Content-Type; `fileName` is the name the
    // browser sent, whose extension is a claim too.
    TypeCheck check(std::span<const std::uint8_t> head, std::string_view claimedType,
        std::string_view fileName);

    // The type libmagic sees in `head`, such as "image/png".
    std::string detect(std::span<const std::uint8_t> head);

private:
    struct MagicDeleter {
        void operator()(magic_set* handle) const;
    };
    std::mutex mutex_;
    std::unique_ptr<magic_set, MagicDeleter> magic_;
};

} // namespace meldpunt::site
