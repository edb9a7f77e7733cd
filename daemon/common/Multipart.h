#pragma once

// A streaming parser for multipart/form-data request bodies (RFC 7578 on
// top of RFC 2046, as browsers send them). It holds at most one header
// block and a boundary's length of body bytes, whatever the size of the
// parts, so a 1 GB upload passes through it in constant memory.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace meldpunt {

// The body is not valid multipart/form-data, or exceeds a structural limit
// (header block size, number of parts).
class MalformedMultipartError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// What the headers of one part say. `fileName` is set only for a file
// input; it is the raw name the browser sent (UTF-8 not yet checked) and
// must never be used as a path.
struct PartHeaders {
    std::string name;
    std::optional<std::string> fileName;
    std::string contentType; // lower case, without parameters; empty when absent
};

struct MultipartLimits {
    std::size_t maxHeaderBytes = 8 * 1024; // one part's header block
    std::size_t maxParts = 300;
    std::size_t maxNameBytes = 64;
};

// Receives the parts in order. onPartData may be called many times per
// part, with pieces of any size; the spans are valid only during the call.
class MultipartHandler {
public:
    virtual ~MultipartHandler() = default;
    virtual void onPartBegin(const PartHeaders& headers) = 0;
    virtual void onPartData(std::span<const std::uint8_t> data) = 0;
    virtual void onPartEnd() = 0;
};

// Returns the boundary parameter of a multipart/form-data Content-Type, or
// nullopt when the type is another one or the boundary is missing or
// invalid (RFC 2046: 1 to 70 characters from a fixed set).
std::optional<std::string> multipartBoundary(std::string_view contentType);

// Parses one body pushed in pieces through feed(). Exceptions thrown by
// the handler pass through unchanged. Not thread-safe.
class MultipartParser {
public:
    MultipartParser(std::string boundary, MultipartHandler& handler, MultipartLimits limits = {});

    // Throws MalformedMultipartError when the bytes cannot be a valid body.
    void feed(std::span<const std::uint8_t> bytes);
    // Returns true once the closing delimiter has been read.
    bool complete() const { return state_ == State::Epilogue; }
    // Throws MalformedMultipartError when the body ended before the closing
    // delimiter, which is how a cut-off upload shows.
    void finish();

private:
    enum class State { Preamble, AfterDelimiter, Headers, Body, Epilogue };

    void step();
    std::span<const std::uint8_t> passBody(std::span<const std::uint8_t> bytes);
    bool findDelimiter(bool emitData);
    bool readAfterDelimiter();
    bool readHeaders();
    PartHeaders parseHeaders(std::string_view block) const;
    void emit(std::size_t count);

    std::string delimiter_; // CRLF "--" boundary
    MultipartHandler& handler_;
    MultipartLimits limits_;
    State state_ = State::Preamble;
    std::string pending_;
    std::size_t parts_ = 0;
};

// Turns a file name a browser sent into a name fit to show on a page and
// to keep as metadata: only the last path part, valid UTF-8 (invalid bytes
// become U+FFFD), no control, format or bidirectional control characters,
// no leading dots or surrounding spaces, at most `maxCodePoints` code
// points with the extension kept, and "attachment" when nothing is left.
// The result is still never to be used as a path.
std::string sanitizeFileName(std::string_view raw, std::size_t maxCodePoints = 100);

} // namespace meldpunt
