#pragma once

#include "Manifest.h"

#include <filesystem>

namespace meldpunt::updater {

struct BundleSource {
    Manifest manifest; // everything but the images' offsets, sizes and hashes
    std::filesystem::path rootfsImage;
    std::filesystem::path certificateFile;
    std::filesystem::path keyFile;
    std::filesystem::path chainFile; // intermediate certificates; may be empty
};

// Writes a signed bundle: header, manifest, detached CMS signature over the
// manifest, and the image at the next 4096-byte boundary. Runs of zero
// bytes in the image are left as holes, so a sparse image stays sparse.
// The output is written to a temporary file and renamed into place.
// Throws UpdateError. Returns the manifest as signed.
Manifest writeBundle(const BundleSource& source, const std::filesystem::path& output);

} // namespace meldpunt::updater
