#include "Installer.h"

#include "ChildCommand.h"

#include "UpdateError.h"

#include "FaultPoint.h"
#include "FileSystem.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <openssl/evp.h>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace fs = std::filesystem;

namespace meldpunt::updater {

namespace {

constexpr std::size_t kCopyBlock = 1024 * 1024;
// A loader entry and loader.conf are well under a kilobyte each; the
// margin covers the temporary copies made by atomic writes.
constexpr std::uint64_t kEspSpaceNeeded = 64 * 1024;

// Percent of the whole install at which each byte-heavy step ends.
constexpr unsigned kImagesCheckedPercent = 30;
constexpr unsigned kWrittenPercent = 75;
constexpr unsigned kSlotCheckedPercent = 95;

[[noreturn]] void failSystem(const std::string& what, const fs::path& path)
{
    throw UpdateError(
        "Failed to " + what + " '" + path.string() + "': " + std::strerror(errno) + ".");
}

unsigned scaled(std::uint64_t done, std::uint64_t total, unsigned from, unsigned to)
{
    if (total == 0)
        return to;
    return from + static_cast<unsigned>((to - from) * done / total);
}

const fs::path& slotPath(const UpdaterConfig& config, Slot slot)
{
    return slot == Slot::A ? config.slotA : config.slotB;
}

std::uint64_t slotCapacity(int fd, const fs::path& path)
{
    struct stat status { };
    if (::fstat(fd, &status) != 0)
        failSystem("inspect the slot", path);
    if (S_ISBLK(status.st_mode)) {
        std::uint64_t bytes = 0;
        if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0)
            failSystem("read the size of the slot", path);
        return bytes;
    }
    if (!S_ISREG(status.st_mode))
        throw UpdateError("The slot '" + path.string() + "' is neither a block device nor a file.");
    // A file-backed slot has a fixed size, like a partition.
    return static_cast<std::uint64_t>(status.st_size);
}

class StateLock {
public:
    explicit StateLock(const fs::path& folder)
    {
        fs::create_directories(folder);
        const fs::path path = folder / "install.lock";
        fd_ = fsutil::FileDescriptor(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        if (!fd_)
            failSystem("open the install lock", path);
        if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0)
            throw UpdateError(
                "Another install is already running. Wait for it to finish, then try again.");
    }

private:
    fsutil::FileDescriptor fd_;
};

const ManifestImage& rootImage(const VerifiedBundle& bundle)
{
    for (const ManifestImage& image : bundle.manifest.images) {
        if (image.slotType == "rootfs")
            return image;
    }
    throw UpdateError("The bundle has no rootfs image.");
}

void preflight(
    const ManifestImage& image, int slotFd, const fs::path& slot, const UpdaterConfig& config)
{
    const std::uint64_t capacity = slotCapacity(slotFd, slot);
    if (image.size > capacity)
        throw UpdateError("The rootfs image needs " + std::to_string(image.size) +
            " bytes, but the slot '" + slot.string() + "' holds only " + std::to_string(capacity) +
            ". This bundle does not fit this box.");
    struct statvfs esp { };
    if (::statvfs(config.esp.c_str(), &esp) != 0)
        failSystem("inspect the EFI system partition", config.esp);
    if (static_cast<std::uint64_t>(esp.f_bavail) * esp.f_frsize < kEspSpaceNeeded)
        throw UpdateError(
            "The EFI system partition '" + config.esp.string() + "' has less than 64 KiB free.");
}

void writeImage(const VerifiedBundle& bundle, const ManifestImage& image, int slotFd,
    const fs::path& slot, const InstallProgress& progress, const std::atomic<bool>& cancel)
{
    EvpMdCtxPtr context(EVP_MD_CTX_new());
    EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr);
    for (std::uint64_t offset = 0; offset < image.size;) {
        if (cancel.load())
            throw UpdateError("The install was cancelled; the inactive slot is not a boot target.");
        const std::uint64_t length = std::min<std::uint64_t>(kCopyBlock, image.size - offset);
        const std::vector<std::uint8_t> bytes =
            readAt(bundle.file.get(), image.offset + offset, length);
        // The hash covers exactly the buffer that is written, so bytes that
        // changed in the bundle file after the first check are caught.
        EVP_DigestUpdate(context.get(), bytes.data(), bytes.size());
        for (std::size_t written = 0; written < bytes.size();) {
            const ssize_t n = ::pwrite(slotFd, bytes.data() + written, bytes.size() - written,
                static_cast<off_t>(offset + written));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                failSystem("write the slot", slot);
            written += static_cast<std::size_t>(n);
        }
        offset += length;
        progress(InstallStep::Writing,
            scaled(offset, image.size, kImagesCheckedPercent, kWrittenPercent));
    }
    if (::fdatasync(slotFd) != 0)
        failSystem("flush the slot", slot);
    Sha256 digest{};
    EVP_DigestFinal_ex(context.get(), digest.data(), nullptr);
    if (digest != image.sha256)
        throw UpdateError(
            "The bundle file changed while it was being installed. The inactive slot is not a boot "
            "target; copy the bundle again and retry.");
}

void checkSlot(const ManifestImage& image, const fs::path& slot, const InstallProgress& progress)
{
    // A fresh descriptor, and the page cache dropped first, so the check
    // reads what the device stored rather than what this process wrote.
    fsutil::FileDescriptor fd(::open(slot.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        failSystem("open the slot for checking", slot);
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
    EvpMdCtxPtr context(EVP_MD_CTX_new());
    EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr);
    for (std::uint64_t offset = 0; offset < image.size;) {
        const std::uint64_t length = std::min<std::uint64_t>(kCopyBlock, image.size - offset);
        const std::vector<std::uint8_t> bytes = readAt(fd.get(), offset, length);
        EVP_DigestUpdate(context.get(), bytes.data(), bytes.size());
        offset += length;
        progress(InstallStep::CheckingSlot,
            scaled(offset, image.size, kWrittenPercent, kSlotCheckedPercent));
    }
    Sha256 digest{};
    EVP_DigestFinal_ex(context.get(), digest.data(), nullptr);
    if (digest != image.sha256)
        throw UpdateError("The slot '" + slot.string() +
            "' does not read back what was written: the storage may be "
            "failing. The slot is not a boot target.");
}

fs::path slotRecordPath(const UpdaterConfig& config, Slot slot)
{
    return config.stateFolder / (std::string("slot-") + slotLetter(slot) + ".json");
}

void writeSlotRecord(const UpdaterConfig& config, Slot slot, const VerifiedBundle& bundle)
{
    Poco::JSON::Object record(Poco::JSON_PRESERVE_KEY_ORDER);
    record.set("version", bundle.manifest.version);
    record.set("securityEpoch", bundle.manifest.securityEpoch);
    record.set("manifestSha256", toHex(bundle.manifestSha256));
    std::ostringstream text;
    record.stringify(text);
    const std::string bytes = text.str();
    fsutil::writeFileAtomically(slotRecordPath(config, slot),
        std::span<const std::uint8_t>(
            reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
        0644);
}

void runRebootCommand(const std::vector<std::string>& command)
{
    bool succeeded = false;
    try {
        succeeded = runChildCommand(command);
    } catch (const std::system_error& error) {
        throw UpdateError(std::string("Failed to start the reboot command: ") + error.code().message() + ".");
    }
    if (!succeeded)
        throw UpdateError("The reboot command '" + command.front() +
            "' failed. The new slot is the next boot's "
            "target; reboot the box by hand.");
}

} // namespace

std::string_view describe(InstallStep step)
{
    switch (step) {
    case InstallStep::CheckingImages:
        return "checking-images";
    case InstallStep::Preflight:
        return "preflight";
    case InstallStep::Writing:
        return "writing";
    case InstallStep::CheckingSlot:
        return "checking-slot";
    case InstallStep::Activating:
        return "activating";
    case InstallStep::Rebooting:
        return "rebooting";
    }
    return "unknown";
}

Slot bootedSlot(const UpdaterConfig& config)
{
    std::string commandLine;
    try {
        commandLine = fsutil::readSmallFile(config.kernelCommandLine, 64 * 1024);
    } catch (const std::exception& error) {
        throw UpdateError(std::string("Failed to read the kernel command line: ") + error.what());
    }
    std::istringstream words(commandLine);
    for (std::string word; words >> word;) {
        if (word == "meldpunt.slot=a")
            return Slot::A;
        if (word == "meldpunt.slot=b")
            return Slot::B;
    }
    throw UpdateError("The kernel command line '" + config.kernelCommandLine.string() +
        "' names no slot (meldpunt.slot=a or b), so the inactive slot is unknown.");
}

std::optional<SlotRecord> readSlotRecord(const UpdaterConfig& config, Slot slot)
{
    const fs::path path = slotRecordPath(config, slot);
    std::error_code error;
    if (!fs::exists(path, error))
        return std::nullopt;
    try {
        Poco::JSON::Parser parser;
        const auto object =
            parser.parse(fsutil::readSmallFile(path, 64 * 1024)).extract<Poco::JSON::Object::Ptr>();
        SlotRecord record;
        record.version = object->getValue<std::string>("version");
        record.securityEpoch = object->getValue<std::uint32_t>("securityEpoch");
        record.manifestSha256 = object->getValue<std::string>("manifestSha256");
        return record;
    } catch (const Poco::Exception& failure) {
        throw UpdateError(
            "The slot record '" + path.string() + "' is invalid: " + failure.displayText() + ".");
    }
}

void installBundle(const VerifiedBundle& bundle, const UpdaterConfig& config,
    const InstallProgress& progress, const std::atomic<bool>& cancel)
{
    const StateLock lock(config.stateFolder);
    const Slot target = otherSlot(bootedSlot(config));
    const fs::path& slot = slotPath(config, target);
    const ManifestImage& image = rootImage(bundle);

    progress(InstallStep::Preflight, 0);
    fsutil::FileDescriptor slotFd(::open(slot.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY));
    if (!slotFd)
        failSystem("open the inactive slot", slot);
    preflight(image, slotFd.get(), slot, config);

    progress(InstallStep::CheckingImages, 0);
    verifyImages(
        bundle,
        [&](std::uint64_t done, std::uint64_t total) {
            progress(InstallStep::CheckingImages, scaled(done, total, 0, kImagesCheckedPercent));
        },
        cancel);

    BootEntries entries(config.esp);
    entries.removeSlot(target);
    faultPoint("updater-before-write");
    writeImage(bundle, image, slotFd.get(), slot, progress, cancel);
    slotFd.reset();
    checkSlot(image, slot, progress);
    if (cancel.load())
        throw UpdateError("The install was cancelled; the inactive slot is not a boot target.");

    progress(InstallStep::Activating, kSlotCheckedPercent);
    writeSlotRecord(config, target, bundle);
    entries.ensureLoaderDefault();
    entries.addCounted(target, bundle.manifest.version, config.bootTries, config.kernelOptions);
    faultPoint("updater-before-reboot");

    progress(InstallStep::Rebooting, 100);
    runRebootCommand(config.rebootCommand);
}

} // namespace meldpunt::updater
