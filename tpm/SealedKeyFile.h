#pragma once

#include "KeySealer.h"

#include <filesystem>
#include <stdexcept>
#include <string>

namespace meldpunt::tpm {

// A sealed key file that cannot be read or has invalid content. The message
// names the file and what is wrong with it.
class SealedKeyFileError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The sealed database key on disk: a JSON object of format
// "meldpunt-sealed-key", version 1, with the blobs in base64. The file is
// written with mode 0600. The blobs are useless without the TPM that sealed
// them, but the mode keeps them from other local users all the same.
struct SealedKeyFile {
    SealedKey key;
    std::string databaseId;   // the UUID of the database this key opens
    std::string databaseFile; // the database's file name, e.g. "meldpunt.db"

    // Reads and validates a sealed key file. Throws SealedKeyFileError.
    static SealedKeyFile read(const std::filesystem::path& path);

    // Writes a temporary file in the same folder, fsyncs it, renames it over
    // path and fsyncs the folder, so a crash leaves either the old or the
    // new file. Throws std::system_error naming the step and the file.
    void writeAtomically(const std::filesystem::path& path) const;
};

} // namespace meldpunt::tpm
