#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace meldpunt::updater {

// The fixed header at the start of a bundle file. docs/updates.md gives the
// layout byte by byte. All offsets and lengths are 64-bit, so images beyond
// 2 and 4 GiB need no special case. The header itself is not signed: every
// value in it is checked against the file size here, and the signed
// manifest names the offset, size and SHA-256 of every image.
struct BundleHeader {
    std::uint64_t manifestOffset = 0;
    std::uint64_t manifestLength = 0;
    std::uint64_t signatureOffset = 0;
    std::uint64_t signatureLength = 0;
    std::uint64_t imagesOffset = 0;
    std::uint64_t imagesLength = 0;
};

inline constexpr std::size_t kBundleHeaderSize = 64;
inline constexpr std::uint32_t kBundleFormatVersion = 1;
// Images start on a 4096-byte boundary, so that they can be read with
// aligned I/O and a technician can cut them out with dd bs=4096.
inline constexpr std::uint64_t kImageAlignment = 4096;
// A manifest lists a handful of images. A megabyte is far beyond any real
// one, and the limit keeps a hostile header from making the reader
// allocate gigabytes.
inline constexpr std::uint64_t kMaxManifestLength = 1024 * 1024;
// A CMS signature with a short certificate chain is a few kilobytes.
inline constexpr std::uint64_t kMaxSignatureLength = 256 * 1024;

// Encodes the header. Offsets must already follow the layout rules.
std::array<std::uint8_t, kBundleHeaderSize> encodeBundleHeader(const BundleHeader& header);

// Parses and checks the header of a bundle file of `fileSize` bytes. It
// checks the magic, the format version and the fixed order of manifest,
// signature and images. The images must end exactly at the end of the
// file, so a truncated or padded bundle is rejected. Throws UpdateError
// naming the invalid field.
BundleHeader parseBundleHeader(std::span<const std::uint8_t> bytes, std::uint64_t fileSize);

// Rounds up to the image alignment.
std::uint64_t alignImageOffset(std::uint64_t offset);

} // namespace meldpunt::updater
