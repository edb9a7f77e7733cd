#pragma once

#include "Bundle.h"
#include "Manifest.h"
#include "Signature.h"
#include "UpdaterConfig.h"

#include "FileSystem.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace meldpunt::updater {

// A bundle whose header, signature, manifest and compatibility checks
// passed. Every later read, the image hashing and the copy into the slot,
// goes through `file`, the one descriptor that was verified, so replacing
// the file on disk changes nothing.
struct VerifiedBundle {
    fsutil::FileDescriptor file;
    std::uint64_t fileSize = 0;
    BundleHeader header;
    Manifest manifest;
    std::string manifestJson; // the signed bytes
    Sha256 manifestSha256{}; // identifies the bundle: the manifest names every image's SHA-256
    SignerIdentity signer;
    bool downgrade = false; // allowed by a downgrade permission
};

// Called with the number of bytes done and the total; returns normally.
using ByteProgress = std::function<void(std::uint64_t done, std::uint64_t total)>;

// Verifies an open bundle before anything is written: header, the CMS
// signature over the exact manifest bytes, the manifest, the image layout,
// product and hardware id, and the security epoch against
// `recordedEpoch`. A lower epoch passes only with `downgradePermission`
// (the bytes of a permission file; empty for none) that the downgrade CA
// signed for this manifest. Takes ownership of `fd`. Throws UpdateError.
VerifiedBundle verifyBundle(fsutil::FileDescriptor fd, const UpdaterConfig& config,
    std::uint32_t recordedEpoch, std::span<const std::uint8_t> downgradePermission);

// Opens `path` read-only and calls verifyBundle.
VerifiedBundle verifyBundleFile(const std::filesystem::path& path, const UpdaterConfig& config,
    std::uint32_t recordedEpoch, std::span<const std::uint8_t> downgradePermission);

// Hashes every image through the bundle's descriptor and compares it with
// the manifest. Throws UpdateError on a mismatch or when `cancel` is set.
void verifyImages(
    const VerifiedBundle& bundle, const ByteProgress& progress, const std::atomic<bool>& cancel);

// Creates the bytes of a downgrade permission for the bundle whose
// manifest has `manifestSha256`, signed with the given certificate and key.
std::string createDowngradePermission(const Sha256& manifestSha256, const std::string& product,
    const std::filesystem::path& certificateFile, const std::filesystem::path& keyFile);

// Reads `length` bytes at `offset` through the descriptor. Throws UpdateError.
std::vector<std::uint8_t> readAt(int fd, std::uint64_t offset, std::uint64_t length);

Sha256 sha256Of(std::span<const std::uint8_t> bytes);

} // namespace meldpunt::updater
