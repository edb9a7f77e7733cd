#include "Multipart.h"
#include "TestData.h"

#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <string>
#include <vector>

using meldpunt::MalformedMultipartError;
using meldpunt::MultipartHandler;
using meldpunt::MultipartLimits;
using meldpunt::MultipartParser;
using meldpunt::multipartBoundary;
using meldpunt::PartHeaders;
using meldpunt::sanitizeFileName;
using meldpunt::test::hostileInputs;

using namespace std::string_literals;

namespace {

const std::string kBoundary = "----formdata-7f3a9c";

struct ReceivedPart {
    PartHeaders headers;
    std::string data;
    bool ended = false;
};

// Records every callback, and the largest piece of data handed over.
class Recorder : public MultipartHandler {
public:
    void onPartBegin(const PartHeaders& headers) override { parts.push_back({headers, {}, false}); }
    void onPartData(std::span<const std::uint8_t> data) override
    {
        parts.back().data.append(reinterpret_cast<const char*>(data.data()), data.size());
        received += data.size();
        largestPiece = std::max(largestPiece, data.size());
    }
    void onPartEnd() override { parts.back().ended = true; }

    std::vector<ReceivedPart> parts;
    std::size_t received = 0;
    std::size_t largestPiece = 0;
};

std::string textPart(const std::string& name, const std::string& value)
{
    return "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n";
}

std::string filePart(const std::string& name, const std::string& fileName, const std::string& type,
    const std::string& data)
{
    return "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"; filename=\"" + fileName
        + "\"\r\nContent-Type: " + type + "\r\n\r\n" + data + "\r\n";
}

std::string closing()
{
    return "--" + kBoundary + "--\r\n";
}

// Feeds `body` in pieces of `pieceSize` bytes and finishes.
Recorder parse(const std::string& body, std::size_t pieceSize, MultipartLimits limits = {})
{
    Recorder recorder;
    MultipartParser parser(kBoundary, recorder, limits);
    for (std::size_t offset = 0; offset < body.size(); offset += pieceSize) {
        const std::string piece = body.substr(offset, pieceSize);
        parser.feed({reinterpret_cast<const std::uint8_t*>(piece.data()), piece.size()});
    }
    parser.finish();
    return recorder;
}

} // namespace

TEST_CASE("Multipart parser reads browser bodies", "[multipart]")
{
    const std::string binary = "\x89PNG\r\n\x1a\n\0\0\r\n-\r\n--"s + "----formdata-7f3a" + "\r\n--x";
    const std::string body = textPart("what", "Een man met een kind\r\nin het hotel") + textPart("country", "TH")
        + filePart("files", "foto.png", "image/png", binary) + textPart("form_end", "1") + closing();

    SECTION("fields and files arrive in order with their headers")
    {
        const auto recorder = parse(body, body.size());
        REQUIRE(recorder.parts.size() == 4);
        CHECK(recorder.parts[0].headers.name == "what");
        CHECK_FALSE(recorder.parts[0].headers.fileName.has_value());
        CHECK(recorder.parts[0].data == "Een man met een kind\r\nin het hotel");
        CHECK(recorder.parts[2].headers.fileName == "foto.png");
        CHECK(recorder.parts[2].headers.contentType == "image/png");
        CHECK(recorder.parts[2].data == binary);
        CHECK(recorder.parts[3].data == "1");
        for (const auto& part : recorder.parts)
            CHECK(part.ended);
    }
    SECTION("the result does not depend on how the body is cut into pieces")
    {
        for (std::size_t pieceSize : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{31}, std::size_t{64}}) {
            CAPTURE(pieceSize);
            const auto recorder = parse(body, pieceSize);
            REQUIRE(recorder.parts.size() == 4);
            CHECK(recorder.parts[2].data == binary);
            CHECK(recorder.parts[0].data == "Een man met een kind\r\nin het hotel");
        }
    }
    SECTION("a preamble and an epilogue are ignored")
    {
        const auto recorder = parse("This is a preamble.\r\n" + body + "an epilogue", 5);
        REQUIRE(recorder.parts.size() == 4);
        CHECK(recorder.parts[1].data == "TH");
    }
    SECTION("header names and the disposition are read without regard to case")
    {
        const std::string odd = "--" + kBoundary + "\r\ncontent-disposition: Form-Data; NAME=\"x\"; FileName=\"a.txt\"\r\n"
            + "CONTENT-TYPE: Text/Plain; charset=utf-8\r\n\r\nhi\r\n" + closing();
        const auto recorder = parse(odd, 3);
        REQUIRE(recorder.parts.size() == 1);
        CHECK(recorder.parts[0].headers.name == "x");
        CHECK(recorder.parts[0].headers.fileName == "a.txt");
        CHECK(recorder.parts[0].headers.contentType == "text/plain");
    }
    SECTION("an empty file input arrives as a part with an empty file name")
    {
        const auto recorder = parse(filePart("files", "", "application/octet-stream", "") + closing(), 10);
        REQUIRE(recorder.parts.size() == 1);
        CHECK(recorder.parts[0].headers.fileName == "");
        CHECK(recorder.parts[0].data.empty());
    }
    SECTION("the escapes browsers use in file names are decoded")
    {
        const auto recorder = parse(filePart("files", "a%22b%0D%0Ac.txt", "text/plain", "x") + closing(), 4);
        REQUIRE(recorder.parts.size() == 1);
        CHECK(recorder.parts[0].headers.fileName == "a\"b\r\nc.txt");
    }
}

TEST_CASE("Multipart parser ignores where a body is cut", "[multipart]")
{
    // The file data is strewn with line breaks, dashes and prefixes of the
    // delimiter, so pieces often end inside a would-be delimiter. The first
    // section cuts each real delimiter at every offset.
    const std::string delimiter = "\r\n--" + kBoundary;
    std::uint64_t state = 0x2545f4914f6cdd1dull;
    auto next = [&state] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    std::string data;
    while (data.size() < 300 * 1024) {
        const std::uint64_t pick = next() % 4;
        if (pick == 0)
            data += delimiter.substr(0, 1 + next() % (delimiter.size() - 1));
        else if (pick == 1)
            data += "\r\n-";
        else
            data.append(next() % 200, static_cast<char>(next() & 0xff));
    }
    const std::string body = textPart("what", "Een man met een kind") + filePart("files", "a.bin", "application/octet-stream", data)
        + filePart("files", "b.bin", "application/octet-stream", data.substr(0, 5000)) + textPart("form_end", "1") + closing();
    const auto reference = parse(body, 1);
    REQUIRE(reference.parts.size() == 4);
    REQUIRE(reference.parts[1].data == data);

    SECTION("a body cut in two around each delimiter")
    {
        for (std::size_t at = body.find(delimiter); at != std::string::npos; at = body.find(delimiter, at + 1)) {
            for (std::size_t cut = at - delimiter.size(); cut <= at + 2 * delimiter.size(); ++cut) {
                CAPTURE(at, cut);
                Recorder recorder;
                MultipartParser parser(kBoundary, recorder);
                parser.feed({reinterpret_cast<const std::uint8_t*>(body.data()), cut});
                parser.feed({reinterpret_cast<const std::uint8_t*>(body.data() + cut), body.size() - cut});
                parser.finish();
                REQUIRE(recorder.parts.size() == reference.parts.size());
                for (std::size_t i = 0; i < reference.parts.size(); ++i)
                    CHECK(recorder.parts[i].data == reference.parts[i].data);
            }
        }
    }

    for (int round = 0; round < 40; ++round) {
        CAPTURE(round);
        Recorder recorder;
        MultipartParser parser(kBoundary, recorder);
        std::size_t offset = 0;
        while (offset < body.size()) {
            const std::size_t size = std::min<std::size_t>(body.size() - offset, 1 + next() % (round < 20 ? 100 : 300000));
            parser.feed({reinterpret_cast<const std::uint8_t*>(body.data() + offset), size});
            offset += size;
        }
        parser.finish();
        REQUIRE(recorder.parts.size() == reference.parts.size());
        for (std::size_t i = 0; i < reference.parts.size(); ++i) {
            CHECK(recorder.parts[i].headers.name == reference.parts[i].headers.name);
            CHECK(recorder.parts[i].data == reference.parts[i].data);
            CHECK(recorder.parts[i].ended);
        }
    }
}

TEST_CASE("Multipart parser keeps memory bounded", "[multipart]")
{
    // An 8 MiB part handed over in one call must come out in pieces as it
    // is read, never gathered whole.
    std::string data(8 * 1024 * 1024, '\0');
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<char>((i * 131 + i / 977) & 0xff);
    const std::string body = filePart("files", "video.mp4", "video/mp4", data) + closing();

    SECTION("pieces stay below a bound however much is handed over at once")
    {
        const auto recorder = parse(body, body.size());
        REQUIRE(recorder.parts.size() == 1);
        CHECK(recorder.parts[0].data == data);
        CHECK(recorder.largestPiece <= 256 * 1024);
    }
    SECTION("data is passed on while the part is still arriving")
    {
        Recorder recorder;
        MultipartParser parser(kBoundary, recorder);
        const std::size_t half = body.size() / 2;
        parser.feed({reinterpret_cast<const std::uint8_t*>(body.data()), half});
        CHECK(recorder.received + 200 >= half);
        CHECK_FALSE(recorder.parts.back().ended);
    }
}

TEST_CASE("Multipart parser rejects broken bodies", "[multipart]")
{
    SECTION("a body without the closing delimiter is incomplete")
    {
        const std::string body = textPart("what", "x") + filePart("files", "a.txt", "text/plain", "cut off");
        CHECK_THROWS_AS(parse(body, 16), MalformedMultipartError);
        CHECK_THROWS_AS(parse(body.substr(0, body.size() - 2), 16), MalformedMultipartError);
    }
    SECTION("a body with no delimiter at all is incomplete")
    {
        CHECK_THROWS_AS(parse("what=x&country=TH", 4), MalformedMultipartError);
    }
    SECTION("a header block over the limit is rejected")
    {
        const std::string body = "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"x\"\r\nX-Pad: "
            + std::string(10000, 'a') + "\r\n\r\nvalue\r\n" + closing();
        CHECK_THROWS_AS(parse(body, 100), MalformedMultipartError);
        CHECK_THROWS_AS(parse(body, body.size()), MalformedMultipartError);
    }
    SECTION("an endless header line is rejected before it is complete")
    {
        Recorder recorder;
        MultipartParser parser(kBoundary, recorder);
        const std::string start = "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"";
        parser.feed({reinterpret_cast<const std::uint8_t*>(start.data()), start.size()});
        const std::string filler(4096, 'a');
        bool rejected = false;
        for (int i = 0; i < 8 && !rejected; ++i) {
            try {
                parser.feed({reinterpret_cast<const std::uint8_t*>(filler.data()), filler.size()});
            } catch (const MalformedMultipartError&) {
                rejected = true;
            }
        }
        CHECK(rejected);
    }
    SECTION("more parts than the limit are rejected")
    {
        std::string body;
        for (int i = 0; i < 5; ++i)
            body += textPart("f" + std::to_string(i), "v");
        body += closing();
        CHECK_NOTHROW(parse(body, 9, MultipartLimits{8 * 1024, 5, 64}));
        CHECK_THROWS_AS(parse(body, 9, MultipartLimits{8 * 1024, 4, 64}), MalformedMultipartError);
    }
    SECTION("a header block at the limit passes in pieces of any size")
    {
        std::string headers = "Content-Disposition: form-data; name=\"f\"\r\nX-Padding: ";
        const std::size_t limit = 128;
        headers += std::string(limit - headers.size(), 'a');
        REQUIRE(headers.size() == limit);
        const std::string body = "--" + kBoundary + "\r\n" + headers + "\r\n\r\nv\r\n" + closing();
        for (const std::size_t piece : {std::size_t{1}, std::size_t{7}, body.size()}) {
            CAPTURE(piece);
            CHECK_NOTHROW(parse(body, piece, MultipartLimits{limit, 5, 64}));
            CHECK_THROWS_AS(parse(body, piece, MultipartLimits{limit - 1, 5, 64}), MalformedMultipartError);
        }
    }
    SECTION("a part without a form-data disposition is rejected")
    {
        const std::string noDisposition = "--" + kBoundary + "\r\nContent-Type: text/plain\r\n\r\nx\r\n" + closing();
        CHECK_THROWS_AS(parse(noDisposition, 8), MalformedMultipartError);
        const std::string attachment = "--" + kBoundary + "\r\nContent-Disposition: attachment; name=\"x\"\r\n\r\nx\r\n" + closing();
        CHECK_THROWS_AS(parse(attachment, 8), MalformedMultipartError);
    }
    SECTION("a part without a name, or with a long or invalid one, is rejected")
    {
        CHECK_THROWS_AS(parse(textPart("", "x") + closing(), 8), MalformedMultipartError);
        CHECK_THROWS_AS(parse(textPart(std::string(65, 'n'), "x") + closing(), 8), MalformedMultipartError);
        CHECK_THROWS_AS(parse(textPart("na\xffme", "x") + closing(), 8), MalformedMultipartError);
    }
    SECTION("a folded header and a header line without colon are rejected")
    {
        const std::string folded = "--" + kBoundary + "\r\nContent-Disposition: form-data;\r\n name=\"x\"\r\n\r\nx\r\n" + closing();
        CHECK_THROWS_AS(parse(folded, 8), MalformedMultipartError);
        const std::string noColon = "--" + kBoundary + "\r\nContent-Disposition form-data\r\n\r\nx\r\n" + closing();
        CHECK_THROWS_AS(parse(noColon, 8), MalformedMultipartError);
    }
    SECTION("a delimiter followed by garbage is rejected")
    {
        const std::string body = "--" + kBoundary + "garbage\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nx\r\n" + closing();
        CHECK_THROWS_AS(parse(body, 8), MalformedMultipartError);
    }
    SECTION("padding after a delimiter is limited to 64 bytes at any piece size")
    {
        const std::string part = "\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nx\r\n" + closing();
        const std::string atLimit = "--" + kBoundary + std::string(64, ' ') + part;
        const std::string overLimit = "--" + kBoundary + std::string(65, ' ') + part;
        for (std::size_t pieceSize : {std::size_t{1}, std::size_t{2}, std::size_t{64}, overLimit.size()}) {
            CAPTURE(pieceSize);
            CHECK(parse(atLimit, pieceSize).parts.size() == 1);
            CHECK_THROWS_AS(parse(overLimit, pieceSize), MalformedMultipartError);
        }
    }
    SECTION("an unclosed quote in the disposition is rejected")
    {
        const std::string body = "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"x\r\n\r\nx\r\n" + closing();
        CHECK_THROWS_AS(parse(body, 8), MalformedMultipartError);
    }
}

TEST_CASE("Multipart parser keeps hostile values exactly", "[multipart]")
{
    for (const auto& value : hostileInputs()) {
        CAPTURE(value);
        const auto recorder = parse(textPart("what", value) + filePart("files", "x.txt", "text/plain", value) + closing(), 13);
        REQUIRE(recorder.parts.size() == 2);
        CHECK(recorder.parts[0].data == value);
        CHECK(recorder.parts[1].data == value);
    }
}

TEST_CASE("Multipart boundary is read from the Content-Type", "[multipart]")
{
    CHECK(multipartBoundary("multipart/form-data; boundary=----WebKitFormBoundaryx7Yz") == "----WebKitFormBoundaryx7Yz");
    CHECK(multipartBoundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b'()+_,-./:=?\"") == "a b'()+_,-./:=?");
    CHECK_FALSE(multipartBoundary("application/x-www-form-urlencoded").has_value());
    CHECK_FALSE(multipartBoundary("multipart/form-data").has_value());
    CHECK_FALSE(multipartBoundary("multipart/form-data; boundary=").has_value());
    CHECK_FALSE(multipartBoundary("multipart/form-data; boundary=" + std::string(71, 'b')).has_value());
    CHECK_FALSE(multipartBoundary("multipart/form-data; boundary=\"a;b\"").has_value());
    CHECK_FALSE(multipartBoundary("multipart/mixed; boundary=abc").has_value());
}

TEST_CASE("File names are sanitised for display", "[multipart]")
{
    SECTION("only the last path part is kept")
    {
        CHECK(sanitizeFileName("../../etc/passwd") == "passwd");
        CHECK(sanitizeFileName("C:\\Users\\anna\\Pictures\\strand.jpg") == "strand.jpg");
        CHECK(sanitizeFileName("/") == "attachment");
    }
    SECTION("control, format and bidirectional characters are dropped")
    {
        CHECK(sanitizeFileName("a\r\nb\tc\x7f.txt") == "abc.txt");
        CHECK(sanitizeFileName("invoice\u202Egpj.exe") == "invoicegpj.exe");
        CHECK(sanitizeFileName("zero\u200Bwidth\uFEFF.png") == "zerowidth.png");
        CHECK(sanitizeFileName("\xc2\x85next\xc2\x9c.png") == "next.png");
    }
    SECTION("characters Windows forbids become underscores")
    {
        CHECK(sanitizeFileName("a:b*c?d\"e<f>g|h.jpg") == "a_b_c_d_e_f_g_h.jpg");
    }
    SECTION("leading dots and surrounding spaces go")
    {
        CHECK(sanitizeFileName("  ..hidden.jpg. ") == "hidden.jpg");
        CHECK(sanitizeFileName("...") == "attachment");
        CHECK(sanitizeFileName("") == "attachment");
    }
    SECTION("invalid UTF-8 becomes the replacement character")
    {
        CHECK(sanitizeFileName("foto\xff\xfe.jpg") == "foto\uFFFD\uFFFD.jpg");
        CHECK(sanitizeFileName("\xed\xa0\x80x.jpg") == "\uFFFD\uFFFD\uFFFDx.jpg");
    }
    SECTION("long names are shortened with their extension kept")
    {
        const std::string name = sanitizeFileName(std::string(500, 'a') + ".jpeg", 100);
        CHECK(name.size() == 100);
        CHECK(name.ends_with("a.jpeg"));
        const std::string russian = sanitizeFileName(std::string(300, 'x') + "\u0444\u043e\u0442\u043e", 10);
        CHECK(russian == std::string(10, 'x'));
    }
    SECTION("ordinary names in every script pass unchanged")
    {
        CHECK(sanitizeFileName("фото с пляжа.jpg") == "фото с пляжа.jpg");
        CHECK(sanitizeFileName("Zeugenaussage März.pdf") == "Zeugenaussage März.pdf");
        CHECK(sanitizeFileName("صورة.png") == "صورة.png");
    }
}
