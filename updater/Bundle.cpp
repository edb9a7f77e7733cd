#include "Bundle.h"

#include "UpdateError.h"

#include <cstring>
#include <string>

namespace meldpunt::updater {

namespace {

constexpr std::array<std::uint8_t, 8> kMagic = { 'M', 'L', 'D', 'P', 'B', 'N', 'D', 'L' };

void putBigEndian(std::uint8_t* out, std::uint64_t value, int bytes)
{
    for (int i = bytes - 1; i >= 0; --i) {
        out[i] = static_cast<std::uint8_t>(value & 0xff);
        value >>= 8;
    }
}

std::uint64_t getBigEndian(const std::uint8_t* in, int bytes)
{
    std::uint64_t value = 0;
    for (int i = 0; i < bytes; ++i)
        value = (value << 8) | in[i];
    return value;
}

[[noreturn]] void reject(const std::string& what)
{
    throw UpdateError("The bundle header is invalid: " + what +
        ". The file is damaged or not a Meldpunt bundle; copy it again from the vendor's medium.");
}

} // namespace

std::uint64_t alignImageOffset(std::uint64_t offset)
{
    return (offset + kImageAlignment - 1) / kImageAlignment * kImageAlignment;
}

std::array<std::uint8_t, kBundleHeaderSize> encodeBundleHeader(const BundleHeader& header)
{
    std::array<std::uint8_t, kBundleHeaderSize> bytes{};
    std::memcpy(bytes.data(), kMagic.data(), kMagic.size());
    putBigEndian(bytes.data() + 8, kBundleFormatVersion, 4);
    putBigEndian(bytes.data() + 12, kBundleHeaderSize, 4);
    putBigEndian(bytes.data() + 16, header.manifestOffset, 8);
    putBigEndian(bytes.data() + 24, header.manifestLength, 8);
    putBigEndian(bytes.data() + 32, header.signatureOffset, 8);
    putBigEndian(bytes.data() + 40, header.signatureLength, 8);
    putBigEndian(bytes.data() + 48, header.imagesOffset, 8);
    putBigEndian(bytes.data() + 56, header.imagesLength, 8);
    return bytes;
}

BundleHeader parseBundleHeader(std::span<const std::uint8_t> bytes, std::uint64_t fileSize)
{
    if (bytes.size() < kBundleHeaderSize || fileSize < kBundleHeaderSize)
        reject("the file is shorter than the 64-byte header");
    if (std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0)
        reject("the magic bytes are not MLDPBNDL");
    const std::uint64_t version = getBigEndian(bytes.data() + 8, 4);
    if (version != kBundleFormatVersion)
        reject("format version " + std::to_string(version) + " is not supported (expected 1)");
    if (getBigEndian(bytes.data() + 12, 4) != kBundleHeaderSize)
        reject("the header length is not 64");

    BundleHeader header;
    header.manifestOffset = getBigEndian(bytes.data() + 16, 8);
    header.manifestLength = getBigEndian(bytes.data() + 24, 8);
    header.signatureOffset = getBigEndian(bytes.data() + 32, 8);
    header.signatureLength = getBigEndian(bytes.data() + 40, 8);
    header.imagesOffset = getBigEndian(bytes.data() + 48, 8);
    header.imagesLength = getBigEndian(bytes.data() + 56, 8);

    // Each section starts where the previous one ends, so no offset can
    // overlap another and every sum below stays far from overflowing.
    if (header.manifestOffset != kBundleHeaderSize)
        reject("the manifest does not start at byte 64");
    if (header.manifestLength == 0 || header.manifestLength > kMaxManifestLength)
        reject("the manifest length " + std::to_string(header.manifestLength) +
            " is outside 1 to " + std::to_string(kMaxManifestLength));
    if (header.signatureOffset != header.manifestOffset + header.manifestLength)
        reject("the signature does not follow the manifest");
    if (header.signatureLength == 0)
        throw UpdateError(
            "The bundle has an empty signature. Only bundles signed by the vendor can be "
            "installed; ask the vendor for a signed bundle.");
    if (header.signatureLength > kMaxSignatureLength)
        reject("the signature length " + std::to_string(header.signatureLength) + " exceeds " +
            std::to_string(kMaxSignatureLength));
    if (header.imagesOffset != alignImageOffset(header.signatureOffset + header.signatureLength))
        reject("the images do not start at the first 4096-byte boundary after the signature");
    if (header.imagesOffset > fileSize || header.imagesLength != fileSize - header.imagesOffset)
        reject("the images area does not end at the end of the file (" + std::to_string(fileSize) +
            " bytes); the bundle is truncated or has bytes appended");
    return header;
}

} // namespace meldpunt::updater
