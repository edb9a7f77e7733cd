// Fuzzes the multipart/form-data parser that every report upload passes
// through, and the file name sanitiser behind it. The first input byte
// picks the size of the pieces fed to the parser; the rest is the body,
// with the boundary "fuzz".

#include "FuzzSupport.h"

#include "FormData.h"
#include "Multipart.h"

#include <string>
#include <vector>

using namespace meldpunt;

namespace {

struct Part {
    PartHeaders headers;
    std::string data;
    bool ended = false;
};

struct Outcome {
    std::vector<Part> parts;
    bool malformed = false;
    bool complete = false;
    std::size_t largestPiece = 0;
};

class Collector : public MultipartHandler {
public:
    explicit Collector(Outcome& outcome)
        : outcome_(outcome)
    {
    }
    void onPartBegin(const PartHeaders& headers) override
    {
        FUZZ_CHECK(outcome_.parts.empty() || outcome_.parts.back().ended, "a part began inside another");
        outcome_.parts.push_back({headers, {}, false});
    }
    void onPartData(std::span<const std::uint8_t> data) override
    {
        FUZZ_CHECK(!outcome_.parts.empty() && !outcome_.parts.back().ended, "data outside a part");
        outcome_.parts.back().data.append(reinterpret_cast<const char*>(data.data()), data.size());
        outcome_.largestPiece = std::max(outcome_.largestPiece, data.size());
    }
    void onPartEnd() override
    {
        FUZZ_CHECK(!outcome_.parts.empty() && !outcome_.parts.back().ended, "a part ended twice");
        outcome_.parts.back().ended = true;
    }

private:
    Outcome& outcome_;
};

Outcome parse(std::string_view body, std::size_t pieceSize)
{
    Outcome outcome;
    Collector collector(outcome);
    MultipartParser parser("fuzz", collector, MultipartLimits{256, 16, 16});
    try {
        for (std::size_t offset = 0; offset < body.size(); offset += pieceSize) {
            const auto piece = body.substr(offset, pieceSize);
            parser.feed({reinterpret_cast<const std::uint8_t*>(piece.data()), piece.size()});
        }
        parser.finish();
        outcome.complete = true;
    } catch (const MalformedMultipartError&) {
        outcome.malformed = true;
    }
    return outcome;
}

void checkSanitised(std::string_view raw)
{
    const std::string name = sanitizeFileName(raw, 20);
    FUZZ_CHECK(!name.empty(), "a sanitised name is empty");
    FUZZ_CHECK(isValidUtf8(name), "a sanitised name is not UTF-8");
    FUZZ_CHECK(!hasForbiddenControl(name), "a sanitised name keeps a control character");
    FUZZ_CHECK(name.find_first_of("/\\:*?\"<>|") == std::string::npos, "a sanitised name keeps a path character");
    FUZZ_CHECK(countCodePoints(name) <= 20, "a sanitised name is over the limit");
    FUZZ_CHECK(name.front() != '.' && name.front() != ' ', "a sanitised name starts with a dot or space");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0)
        return 0;
    const std::size_t pieceSize = 1 + data[0] % 64;
    const std::string_view body = fuzz::asText(data + 1, size - 1);

    const Outcome whole = parse(body, body.size() + 1);
    const Outcome pieces = parse(body, pieceSize);
    // Cutting the body into pieces must not change what is read: the same
    // verdict, the same parts, the same bytes.
    FUZZ_CHECK(whole.malformed == pieces.malformed, "the verdict depends on the piece size");
    FUZZ_CHECK(whole.parts.size() == pieces.parts.size(), "the part count depends on the piece size");
    for (std::size_t i = 0; i < whole.parts.size() && i < pieces.parts.size(); ++i) {
        FUZZ_CHECK(whole.parts[i].data == pieces.parts[i].data, "part data depends on the piece size");
        FUZZ_CHECK(whole.parts[i].headers.name == pieces.parts[i].headers.name, "a name depends on the piece size");
        FUZZ_CHECK(whole.parts[i].headers.fileName == pieces.parts[i].headers.fileName,
            "a file name depends on the piece size");
    }
    FUZZ_CHECK(whole.largestPiece <= 256 * 1024, "the parser handed over a piece over 256 KiB");
    if (whole.complete) {
        for (const auto& part : whole.parts) {
            FUZZ_CHECK(part.ended, "a complete body has an unfinished part");
            FUZZ_CHECK(isValidUtf8(part.headers.name) && !part.headers.name.empty(), "an invalid part name passed");
        }
    }
    for (const auto& part : whole.parts) {
        if (part.headers.fileName)
            checkSanitised(*part.headers.fileName);
    }
    checkSanitised(body.substr(0, 300));
    return 0;
}
