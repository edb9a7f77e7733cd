#include "FileSystem.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

namespace meldpunt::fsutil {

namespace {

[[noreturn]] void fail(const std::string& operation, const std::filesystem::path& path)
{
    throw std::system_error(errno, std::generic_category(), operation + " '" + path.string() + "'");
}

} // namespace

FileDescriptor::~FileDescriptor()
{
    reset();
}

FileDescriptor::FileDescriptor(FileDescriptor&& other) noexcept
    : fd_(std::exchange(other.fd_, -1))
{
}

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept
{
    if (this != &other) {
        reset();
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

void FileDescriptor::reset()
{
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

void writeAll(int fd, std::span<const std::uint8_t> data, const std::filesystem::path& path)
{
    while (!data.empty()) {
        const ssize_t written = ::write(fd, data.data(), data.size());
        if (written < 0) {
            if (errno == EINTR)
                continue;
            fail("writing", path);
        }
        data = data.subspan(static_cast<std::size_t>(written));
    }
}

void syncFile(int fd, const std::filesystem::path& path)
{
    if (::fsync(fd) != 0)
        fail("syncing", path);
}

void syncDirectory(const std::filesystem::path& directory)
{
    FileDescriptor fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd)
        fail("opening folder", directory);
    if (::fsync(fd.get()) != 0)
        fail("syncing folder", directory);
}

void writeFileAtomically(const std::filesystem::path& path, std::span<const std::uint8_t> content,
    unsigned mode)
{
    const std::filesystem::path folder = path.parent_path().empty() ? "." : path.parent_path();
    std::string temporary = (folder / ("." + path.filename().string() + ".XXXXXX")).string();
    FileDescriptor fd(::mkostemp(temporary.data(), O_CLOEXEC));
    if (!fd)
        fail("creating a temporary file beside", path);
    try {
        if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0)
            fail("setting the mode of", temporary);
        writeAll(fd.get(), content, temporary);
        syncFile(fd.get(), temporary);
        fd.reset();
        if (::rename(temporary.c_str(), path.c_str()) != 0)
            fail("renaming into place", path);
    } catch (...) {
        ::unlink(temporary.c_str());
        throw;
    }
    syncDirectory(folder);
}

std::string readSmallFile(const std::filesystem::path& path, std::size_t maxBytes)
{
    FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        fail("opening", path);
    std::string content;
    char buffer[8192];
    for (;;) {
        const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            fail("reading", path);
        }
        if (got == 0)
            break;
        content.append(buffer, static_cast<std::size_t>(got));
        if (content.size() > maxBytes) {
            errno = EFBIG;
            fail("reading (file too large)", path);
        }
    }
    return content;
}

std::string fileStamp(const std::filesystem::path& path)
{
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0)
        return "none";
    const long long nanoseconds = static_cast<long long>(info.st_mtim.tv_sec) * 1000000000LL + info.st_mtim.tv_nsec;
    return std::to_string(nanoseconds) + "-" + std::to_string(static_cast<long long>(info.st_size));
}

void WriteBehind::appended(int fd, std::uint64_t bytes)
{
    written_ += bytes;
    if (written_ - started_ < step_)
        return;
    ::sync_file_range(fd, static_cast<off_t>(started_), static_cast<off_t>(written_ - started_), SYNC_FILE_RANGE_WRITE);
    started_ = written_;
}

} // namespace meldpunt::fsutil
