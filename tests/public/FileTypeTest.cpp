#include "FileType.h"

#include <catch2/catch_test_macros.hpp>

#include <string>
#include <vector>

using meldpunt::site::FileTypeChecker;
using meldpunt::site::TypeVerdict;

using namespace std::string_literals;

namespace {

std::span<const std::uint8_t> bytesOf(const std::string& text)
{
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// The first bytes of real files of each kind, as libmagic reads them.
const std::string kPng = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\x08\x06\0\0\0\x1f\x15\xc4\x89"s;
const std::string kJpeg = "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"s;
const std::string kPdf = "%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
const std::string kMp4 = "\0\0\0\x18" "ftypmp42\0\0\0\0mp42isom\0\0\0\x08" "free"s;
const std::string kExe = "MZ\x90\0\3\0\0\0\4\0\0\0\xff\xff\0\0"s;
const std::string kHtml = "<!DOCTYPE html><html><head><script>alert(1)</script></head></html>\n";
// A zip whose members a writer ordered so that libmagic 5.44 sees only a zip.
const std::string kZip = "PK\x03\x04\x14\x00\x00\x00\x00\x00q\x99\x84]\xc6\x12z\x07\xf1\x00\x00\x00\xf1\x00\x00\x00\x13"
                         "\x00\x00\x00[Content_Types].xml<?xml version=\"1.0\"?>"s;

} // namespace

TEST_CASE("File types are checked by content", "[file-type]")
{
    FileTypeChecker checker;

    SECTION("allowed types with a matching claim are accepted under their canonical name")
    {
        const auto png = checker.check(bytesOf(kPng), "image/png", "foto.PNG");
        CHECK(png.verdict == TypeVerdict::Accepted);
        CHECK(png.mediaType == "image/png");
        CHECK(checker.check(bytesOf(kJpeg), "image/jpeg", "IMG_0001.jpeg").verdict == TypeVerdict::Accepted);
        CHECK(checker.check(bytesOf(kPdf), "application/pdf", "verklaring.pdf").verdict == TypeVerdict::Accepted);
        const auto video = checker.check(bytesOf(kMp4), "video/quicktime", "clip.mov");
        CHECK(video.verdict == TypeVerdict::Accepted);
        CHECK(video.mediaType == "video/mp4");
        CHECK(checker.check(bytesOf("Plain notes\n"s), "text/plain", "notes.txt").verdict == TypeVerdict::Accepted);
    }
    SECTION("a file without a claimed type is judged by content and name")
    {
        CHECK(checker.check(bytesOf(kPng), "application/octet-stream", "foto.png").verdict == TypeVerdict::Accepted);
        CHECK(checker.check(bytesOf(kPng), "", "foto").verdict == TypeVerdict::Accepted);
    }
    SECTION("content that contradicts the claimed type or the name is a mismatch")
    {
        CHECK(checker.check(bytesOf(kPng), "image/jpeg", "foto.jpg").verdict == TypeVerdict::Mismatch);
        CHECK(checker.check(bytesOf(kPng), "application/octet-stream", "foto.jpg").verdict == TypeVerdict::Mismatch);
        CHECK(checker.check(bytesOf(kPdf), "image/png", "scan.png").verdict == TypeVerdict::Mismatch);
        CHECK(checker.check(bytesOf(kJpeg), "image/jpeg", "foto.jpg.exe").verdict == TypeVerdict::Mismatch);
    }
    SECTION("types the site does not take are not allowed, whatever the claim")
    {
        CHECK(checker.check(bytesOf(kExe), "image/jpeg", "foto.jpg").verdict == TypeVerdict::NotAllowed);
        CHECK(checker.check(bytesOf(kExe), "application/x-msdownload", "setup.exe").verdict == TypeVerdict::NotAllowed);
        CHECK(checker.check(bytesOf(kHtml), "text/plain", "notes.txt").verdict == TypeVerdict::NotAllowed);
        CHECK(checker.check(bytesOf(kZip), "application/zip", "bundle.zip").verdict == TypeVerdict::NotAllowed);
        CHECK(checker.check(bytesOf(""s), "text/plain", "empty.txt").verdict == TypeVerdict::NotAllowed);
    }
    SECTION("a zip counts as a document only under a .docx claim")
    {
        const auto docx = checker.check(bytesOf(kZip),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "verslag.docx");
        CHECK(docx.verdict == TypeVerdict::Accepted);
        CHECK(checker.check(bytesOf(kZip), "application/octet-stream", "verslag").verdict == TypeVerdict::NotAllowed);
    }
}
