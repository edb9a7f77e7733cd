#include "FuzzSupport.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace meldpunt::fuzz {

namespace {

struct Scratch {
    std::filesystem::path path;

    Scratch()
    {
        const char* base = std::getenv("TMPDIR");
        std::string pattern = std::string(base && *base ? base : "/tmp") + "/meldpunt-fuzz-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr)
            contractBroken(__FILE__, __LINE__, std::string("cannot make a scratch folder: ") + std::strerror(errno));
        path = pattern;
    }
    ~Scratch()
    {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
};

} // namespace

const std::filesystem::path& scratchFolder()
{
    static const Scratch scratch;
    return scratch.path;
}

void writeFile(const std::filesystem::path& path, std::span<const std::uint8_t> bytes)
{
    // The old file is removed rather than truncated, because ext4 flushes a
    // truncated and rewritten file when it is closed. That flush held the
    // file-based targets to a few hundred executions per second.
    ::unlink(path.c_str());
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        contractBroken(__FILE__, __LINE__, "cannot create " + path.string() + ": " + std::strerror(errno));
    std::size_t written = 0;
    while (written < bytes.size()) {
        const ssize_t count = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (count < 0 && errno == EINTR)
            continue;
        if (count <= 0)
            contractBroken(__FILE__, __LINE__, "cannot write " + path.string() + ": " + std::strerror(errno));
        written += static_cast<std::size_t>(count);
    }
    ::close(fd);
}

} // namespace meldpunt::fuzz
