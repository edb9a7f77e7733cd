#pragma once

#include "Spool.h"

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

namespace meldpunt {

// The published intake public key: "intake.json" in the folder that
// meldpuntd publishes.
std::string serializeIntakeKey(const spool::IntakePublicKey& key, const std::string& createdAtUtc);
// Throws std::runtime_error when the JSON is not a valid intake key.
spool::IntakePublicKey parseIntakeKey(const std::string& json);

// Reads the current intake key from the published folder, re-reading only
// when the published version changes. Thread-safe.
class IntakeKeySource {
public:
    explicit IntakeKeySource(std::filesystem::path publishFolder);
    // nullopt until meldpuntd has published a key.
    std::optional<spool::IntakePublicKey> current();

private:
    std::filesystem::path publishFolder_;
    std::mutex mutex_;
    std::filesystem::path loadedTarget_;
    std::optional<spool::IntakePublicKey> cached_;
};

} // namespace meldpunt
