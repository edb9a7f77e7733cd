#include "BundleWriter.h"

#include "Bundle.h"
#include "BundleVerifier.h"
#include "Signature.h"
#include "UpdateError.h"

#include "FileSystem.h"

#include <openssl/evp.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace fs = std::filesystem;

namespace meldpunt::updater {

namespace {

constexpr std::size_t kBlock = 1024 * 1024;

[[noreturn]] void failSystem(const std::string& what, const fs::path& path)
{
    throw UpdateError(
        "Failed to " + what + " '" + path.string() + "': " + std::strerror(errno) + ".");
}

Sha256 hashFile(int fd, std::uint64_t size)
{
    EvpMdCtxPtr context(EVP_MD_CTX_new());
    EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr);
    for (std::uint64_t offset = 0; offset < size;) {
        const std::uint64_t length = std::min<std::uint64_t>(kBlock, size - offset);
        const std::vector<std::uint8_t> bytes = readAt(fd, offset, length);
        EVP_DigestUpdate(context.get(), bytes.data(), bytes.size());
        offset += length;
    }
    Sha256 digest{};
    EVP_DigestFinal_ex(context.get(), digest.data(), nullptr);
    return digest;
}

void writeAt(
    int fd, std::span<const std::uint8_t> bytes, std::uint64_t offset, const fs::path& path)
{
    for (std::size_t done = 0; done < bytes.size();) {
        const ssize_t n = ::pwrite(
            fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            failSystem("write", path);
        done += static_cast<std::size_t>(n);
    }
}

// Copies only the data regions that SEEK_DATA and SEEK_HOLE report, and
// within them skips blocks of zeros, so holes stay holes in the output.
void copySparse(int from, int to, std::uint64_t size, std::uint64_t offset, const fs::path& path)
{
    std::uint64_t position = 0;
    while (position < size) {
        const off_t data = ::lseek(from, static_cast<off_t>(position), SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            return;
        if (data < 0)
            failSystem("find data in the image for", path);
        const off_t hole = ::lseek(from, data, SEEK_HOLE);
        const std::uint64_t end =
            hole < 0 ? size : std::min<std::uint64_t>(static_cast<std::uint64_t>(hole), size);
        for (std::uint64_t done = static_cast<std::uint64_t>(data); done < end;) {
            const std::uint64_t length = std::min<std::uint64_t>(kBlock, end - done);
            const std::vector<std::uint8_t> bytes = readAt(from, done, length);
            const bool zero = std::all_of(
                bytes.begin(), bytes.end(), [](std::uint8_t byte) { return byte == 0; });
            if (!zero)
                writeAt(to, bytes, offset + done, path);
            done += length;
        }
        position = end;
    }
}

} // namespace

Manifest writeBundle(const BundleSource& source, const fs::path& output)
{
    fsutil::FileDescriptor image(::open(source.rootfsImage.c_str(), O_RDONLY | O_CLOEXEC));
    if (!image)
        failSystem("open the image", source.rootfsImage);
    struct stat status { };
    if (::fstat(image.get(), &status) != 0 || !S_ISREG(status.st_mode) || status.st_size == 0)
        throw UpdateError(
            "The image '" + source.rootfsImage.string() + "' is not a non-empty regular file.");
    const auto imageSize = static_cast<std::uint64_t>(status.st_size);

    // The manifest names the image's offset, which depends on the lengths of
    // the manifest and the signature. The layout is therefore repeated until
    // the offset stops moving. A changed offset alters the manifest by a few
    // digits at most, so the second round settles it in practice.
    Manifest manifest = source.manifest;
    ManifestImage entry;
    entry.slotType = "rootfs";
    entry.size = imageSize;
    entry.sha256 = hashFile(image.get(), imageSize);
    manifest.images = { entry };

    std::string json;
    std::vector<std::uint8_t> signature;
    BundleHeader header;
    std::uint64_t guess = kImageAlignment;
    for (int attempt = 0; attempt < 4; ++attempt) {
        manifest.images[0].offset = guess;
        json = serializeManifest(manifest);
        signature =
            signDetached(std::span<const std::uint8_t>(
                             reinterpret_cast<const std::uint8_t*>(json.data()), json.size()),
                source.certificateFile, source.keyFile, source.chainFile);
        header.manifestOffset = kBundleHeaderSize;
        header.manifestLength = json.size();
        header.signatureOffset = header.manifestOffset + header.manifestLength;
        header.signatureLength = signature.size();
        header.imagesOffset = alignImageOffset(header.signatureOffset + header.signatureLength);
        if (header.imagesOffset == guess)
            break;
        guess = header.imagesOffset;
    }
    if (header.imagesOffset != guess)
        throw UpdateError("Failed to lay out the bundle: the manifest's size did not settle.");
    header.imagesLength = imageSize;

    const fs::path temporary = output.string() + ".partial";
    fsutil::FileDescriptor out(
        ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!out)
        failSystem("create", temporary);
    const auto headerBytes = encodeBundleHeader(header);
    writeAt(out.get(), headerBytes, 0, temporary);
    writeAt(out.get(),
        std::span<const std::uint8_t>(
            reinterpret_cast<const std::uint8_t*>(json.data()), json.size()),
        header.manifestOffset, temporary);
    writeAt(out.get(), signature, header.signatureOffset, temporary);
    copySparse(image.get(), out.get(), imageSize, header.imagesOffset, temporary);
    if (::ftruncate(out.get(), static_cast<off_t>(header.imagesOffset + imageSize)) != 0)
        failSystem("set the size of", temporary);
    fsutil::syncFile(out.get(), temporary);
    out.reset();
    std::error_code error;
    fs::rename(temporary, output, error);
    if (error)
        throw UpdateError("Failed to rename '" + temporary.string() + "' to '" + output.string() +
            "': " + error.message() + ".");
    return manifest;
}

} // namespace meldpunt::updater
