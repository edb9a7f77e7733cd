#pragma once

#include "Retention.h"
#include "Spool.h"

#include <filesystem>
#include <optional>
#include <string>

namespace meldpunt::storage {

// Publishes what meldpunt-public may read into its read-only folder: a new
// version folder is written and synced beside the old one, then the
// "current" symlink is swapped by rename, so the public daemon sees the
// old version or the new one and never a mix. Older versions are removed
// afterwards. Throws std::system_error naming the path on failure.
class Publisher {
public:
    explicit Publisher(std::filesystem::path publishFolder);

    // The retention periods published with every version from now on, for
    // the privacy statement.
    void setRetention(const RetentionPeriods& periods) { retention_ = periods; }

    void publish(const spool::IntakePublicKey& intakeKey, const std::string& nowUtc);

private:
    void removeOldVersions(const std::string& keep);

    std::filesystem::path folder_;
    std::optional<RetentionPeriods> retention_;
};

} // namespace meldpunt::storage
