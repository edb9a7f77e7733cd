#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <cstdint>

namespace meldpunt::fsutil {

// An open file descriptor, closed by the destructor.
class FileDescriptor {
public:
    FileDescriptor() = default;
    explicit FileDescriptor(int fd)
        : fd_(fd)
    {
    }
    ~FileDescriptor();
    FileDescriptor(FileDescriptor&& other) noexcept;
    FileDescriptor& operator=(FileDescriptor&& other) noexcept;
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    void reset();

private:
    int fd_ = -1;
};

// Each function throws std::system_error whose message names the
// operation and the path.
void writeAll(int fd, std::span<const std::uint8_t> data, const std::filesystem::path& path);
void syncFile(int fd, const std::filesystem::path& path);
void syncDirectory(const std::filesystem::path& directory);

// Writes `content` to `path` through a temporary file in the same folder:
// write, fsync, rename, fsync the folder. A crash leaves the old file or
// the new one, never a mix.
void writeFileAtomically(const std::filesystem::path& path, std::span<const std::uint8_t> content,
    unsigned mode);

std::string readSmallFile(const std::filesystem::path& path, std::size_t maxBytes);

// Starts the kernel's writeback of a file's appended data every `step`
// bytes. The disk then writes while the writer still produces, and the
// final fsync of a large file waits for the last step rather than for the
// whole file. Only a hint: errors show at that fsync.
class WriteBehind {
public:
    static constexpr std::uint64_t kDefaultStep = 8 * 1024 * 1024;

    explicit WriteBehind(std::uint64_t step = kDefaultStep)
        : step_(step)
    {
    }

    // Records `bytes` appended to the file open as `fd`.
    void appended(int fd, std::uint64_t bytes);

private:
    std::uint64_t step_;
    std::uint64_t written_ = 0;
    std::uint64_t started_ = 0;
};

// Returns a text that changes when the file is replaced or written: its
// modification time in nanoseconds and its size, from one stat(). "none"
// when the file does not exist or cannot be inspected.
std::string fileStamp(const std::filesystem::path& path);

} // namespace meldpunt::fsutil
