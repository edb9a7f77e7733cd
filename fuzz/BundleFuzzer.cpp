// Fuzzes the parsers of an update bundle. A bundle arrives from a USB stick
// or an upload and is parsed before its signature is checked. The target
// covers the fixed header, the manifest JSON with the image layout check,
// and the boot entry names that the health check reads back from the ESP.
// docs/updates.md describes the format.
//
// The first input byte selects how the rest is used:
//  - 0 mod 3: the rest is a bundle file; the header is parsed against the
//    rest's size, and the manifest it points to is parsed and laid out;
//  - 1 mod 3: the rest is manifest JSON, which must survive a round trip
//    through serializeManifest unchanged;
//  - 2 mod 3: the rest is a loader entry file name.

#include "FuzzSupport.h"

#include "BootEntries.h"
#include "Bundle.h"
#include "Manifest.h"
#include "UpdateError.h"

using namespace meldpunt;
using namespace meldpunt::updater;

namespace {

void fuzzBundle(const std::uint8_t* data, std::size_t size)
{
    BundleHeader header;
    try {
        header = parseBundleHeader(std::span<const std::uint8_t>(data, size), size);
    } catch (const UpdateError&) {
        return;
    }
    FUZZ_CHECK(header.manifestOffset + header.manifestLength <= size, "manifest inside the file");
    FUZZ_CHECK(header.signatureOffset + header.signatureLength <= header.imagesOffset,
        "signature before images");
    FUZZ_CHECK(
        header.imagesOffset + header.imagesLength == size, "images end at the end of the file");
    const std::string_view json = fuzz::asText(data + header.manifestOffset, header.manifestLength);
    try {
        const Manifest manifest = parseManifest(json);
        checkImageLayout(manifest, header);
        for (const ManifestImage& image : manifest.images)
            FUZZ_CHECK(image.offset + image.size <= size, "image inside the file");
    } catch (const UpdateError&) {
    }
}

void fuzzManifest(const std::uint8_t* data, std::size_t size)
{
    Manifest manifest;
    try {
        manifest = parseManifest(fuzz::asText(data, size));
    } catch (const UpdateError&) {
        return;
    }
    const std::string text = serializeManifest(manifest);
    Manifest again;
    try {
        again = parseManifest(text);
    } catch (const UpdateError& error) {
        fuzz::contractBroken(__FILE__, __LINE__,
            std::string("a serialised manifest does not parse: ") + error.what());
    }
    FUZZ_CHECK(serializeManifest(again) == text, "manifest round trip");
    FUZZ_CHECK(again.securityEpoch <= kMaxSecurityEpoch, "epoch within range");
}

void fuzzEntryName(const std::uint8_t* data, std::size_t size)
{
    const std::string name(fuzz::asText(data, size));
    if (name.find('/') != std::string::npos || name.find('\0') != std::string::npos)
        return;
    const auto entry = parseBootEntryName(name);
    if (entry)
        FUZZ_CHECK(name.starts_with("meldpunt-") && name.ends_with(".conf"),
            "entry names match the pattern");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzzBundle(data + 1, size - 1);
        break;
    case 1:
        fuzzManifest(data + 1, size - 1);
        break;
    default:
        fuzzEntryName(data + 1, size - 1);
        break;
    }
    return 0;
}
