#include "Publisher.h"

#include "FileSystem.h"
#include "IntakeKeyFile.h"
#include "Uuid.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace meldpunt::storage {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& operation, const fs::path& path)
{
    throw std::system_error(errno, std::generic_category(), operation + " '" + path.string() + "'");
}

} // namespace

Publisher::Publisher(fs::path publishFolder)
    : folder_(std::move(publishFolder))
{
}

void Publisher::publish(const spool::IntakePublicKey& intakeKey, const std::string& nowUtc)
{
    const std::string version = "v-" + Uuid::generate().toString();
    const fs::path staging = folder_ / ("." + version);
    // meldpunt-public reads through the publish folder's group, which new
    // folders inherit from its set-group-ID bit. A chmod would clear that
    // bit (meldpuntd is not in the group), so the mode comes from mkdir
    // under a umask that keeps group read and search.
    const mode_t previous = ::umask(027);
    const int made = ::mkdir(staging.c_str(), 0750);
    ::umask(previous);
    if (made != 0)
        fail("creating", staging);

    const std::string key = serializeIntakeKey(intakeKey, nowUtc);
    fsutil::writeFileAtomically(staging / "intake.json", crypto::asBytes(key), 0640);
    if (retention_) {
        const std::string periods = serializeRetention(*retention_);
        fsutil::writeFileAtomically(staging / "retention.json", crypto::asBytes(periods), 0640);
    }
    fsutil::syncDirectory(staging);

    const fs::path target = folder_ / version;
    if (::rename(staging.c_str(), target.c_str()) != 0)
        fail("renaming into place", target);
    const fs::path link = folder_ / (".current-" + version);
    if (::symlink(version.c_str(), link.c_str()) != 0)
        fail("creating symlink", link);
    if (::rename(link.c_str(), (folder_ / "current").c_str()) != 0)
        fail("replacing", folder_ / "current");
    fsutil::syncDirectory(folder_);
    removeOldVersions(version);
}

void Publisher::removeOldVersions(const std::string& keep)
{
    std::error_code error;
    for (const auto& item : fs::directory_iterator(folder_, error)) {
        const std::string name = item.path().filename().string();
        const bool version = name.starts_with("v-") || name.starts_with(".v-") || name.starts_with(".current-");
        if (version && name != keep)
            fs::remove_all(item.path(), error);
    }
}

} // namespace meldpunt::storage
