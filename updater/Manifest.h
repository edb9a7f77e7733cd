#pragma once

#include "Bundle.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace meldpunt::updater {

using Sha256 = std::array<std::uint8_t, 32>;

// One image in a bundle, to be written to a slot of the named type.
struct ManifestImage {
    std::string slotType; // "rootfs": the A/B root file system
    std::uint64_t offset = 0; // from the start of the bundle file
    std::uint64_t size = 0;
    Sha256 sha256{};
    std::string verityRootHash; // hex, empty when the image has no dm-verity tree
};

// The signed description of a bundle. The signature covers the manifest's
// exact bytes, and the manifest covers every image through its SHA-256.
struct Manifest {
    std::string product;
    std::vector<std::string> hardwareIds;
    std::string version;
    // Rises when a release fixes a flaw that must not be installable again.
    // The box never installs a lower epoch than it has recorded, except with
    // a separately signed downgrade permission.
    std::uint32_t securityEpoch = 0;
    std::string created; // UTC, RFC 3339, set by meldpunt-bundle
    std::vector<ManifestImage> images;
};

// The highest epoch the TPM's NV bit field can record (docs/updates.md).
inline constexpr std::uint32_t kMaxSecurityEpoch = 64;

// Parses manifest JSON. Throws UpdateError naming the missing or invalid
// field. Unknown fields are rejected, so a newer format is never half read.
Manifest parseManifest(std::string_view json);

// Serialises the manifest as compact JSON with a fixed key order.
std::string serializeManifest(const Manifest& manifest);

// Checks that the images tile the bundle's image area: the first starts at
// its start, each follows the previous one at the next 4096-byte boundary,
// and the last ends at the end of the file. Throws UpdateError.
void checkImageLayout(const Manifest& manifest, const BundleHeader& header);

std::string toHex(std::span<const std::uint8_t> bytes);
// Returns false when `hex` is not 64 lowercase hex digits.
bool parseSha256(std::string_view hex, Sha256& out);

} // namespace meldpunt::updater
