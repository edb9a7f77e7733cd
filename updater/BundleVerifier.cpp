#include "BundleVerifier.h"

#include "UpdateError.h"

#include <Poco/Base64Decoder.h>
#include <Poco/Base64Encoder.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <openssl/evp.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace meldpunt::updater {

namespace {

constexpr std::string_view kPermissionFormat = "meldpunt-downgrade-permission";
constexpr std::size_t kHashBlock = 1024 * 1024;
constexpr std::size_t kMaxPermissionBytes = 64 * 1024;

std::string base64Encode(std::span<const std::uint8_t> bytes)
{
    std::ostringstream out;
    Poco::Base64Encoder encoder(out);
    encoder.rdbuf()->setLineLength(0);
    encoder.write(
        reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    encoder.close();
    return out.str();
}

std::vector<std::uint8_t> base64Decode(const std::string& text)
{
    std::istringstream in(text);
    Poco::Base64Decoder decoder(in);
    std::string decoded(
        (std::istreambuf_iterator<char>(decoder)), std::istreambuf_iterator<char>());
    return { decoded.begin(), decoded.end() };
}

void checkCompatibility(const Manifest& manifest, const UpdaterConfig& config)
{
    if (manifest.product != config.product)
        throw UpdateError("The bundle is for the product \"" + manifest.product +
            "\", but this box is \"" + config.product + "\". Use a bundle made for " +
            config.product + ".");
    if (std::find(manifest.hardwareIds.begin(), manifest.hardwareIds.end(), config.hardwareId) ==
        manifest.hardwareIds.end())
        throw UpdateError("The bundle is not made for this hardware (\"" + config.hardwareId +
            "\"). Ask the vendor for a bundle that lists this hardware id.");
}

// Checks a downgrade permission: a JSON file with the signed permission
// text and its detached CMS signature by the downgrade CA's key.
void checkDowngradePermission(std::span<const std::uint8_t> file, const Sha256& manifestSha256,
    const Manifest& manifest, const UpdaterConfig& config)
{
    if (file.size() > kMaxPermissionBytes)
        throw UpdateError("The downgrade permission is larger than 64 KiB.");
    std::string permissionText;
    std::vector<std::uint8_t> signature;
    try {
        Poco::JSON::Parser parser;
        const auto outer =
            parser.parse(std::string(file.begin(), file.end())).extract<Poco::JSON::Object::Ptr>();
        permissionText = outer->getValue<std::string>("permission");
        signature = base64Decode(outer->getValue<std::string>("signature"));
    } catch (const Poco::Exception& error) {
        throw UpdateError("The downgrade permission is not a valid permission file (" +
            error.displayText() + ").");
    }

    const TrustAnchors anchors(config.downgradeCaFile, config.downgradeCrlFile);
    Poco::JSON::Object::Ptr permission;
    std::time_t created = 0;
    try {
        Poco::JSON::Parser parser;
        permission = parser.parse(permissionText).extract<Poco::JSON::Object::Ptr>();
        if (!parseUtcTimestamp(permission->getValue<std::string>("created"), created))
            throw UpdateError("The downgrade permission's creation time is invalid.");
    } catch (const Poco::Exception& error) {
        throw UpdateError(
            "The downgrade permission's text is invalid (" + error.displayText() + ").");
    }
    try {
        verifyDetachedSignature(std::span<const std::uint8_t>(
                                    reinterpret_cast<const std::uint8_t*>(permissionText.data()),
                                    permissionText.size()),
            signature, anchors, config.timeFloor, created);
    } catch (const UpdateError& error) {
        throw UpdateError(std::string("The downgrade permission was rejected: ") + error.what());
    }
    if (permission->optValue<std::string>("format", "") != kPermissionFormat ||
        permission->optValue<std::string>("product", "") != manifest.product ||
        permission->optValue<std::string>("manifestSha256", "") != toHex(manifestSha256))
        throw UpdateError(
            "The downgrade permission is for another bundle. It must name this bundle's manifest "
            "SHA-256 " +
            toHex(manifestSha256) + ".");
}

} // namespace

Sha256 sha256Of(std::span<const std::uint8_t> bytes)
{
    Sha256 digest{};
    unsigned int length = 0;
    EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr);
    return digest;
}

std::vector<std::uint8_t> readAt(int fd, std::uint64_t offset, std::uint64_t length)
{
    std::vector<std::uint8_t> bytes(length);
    std::uint64_t done = 0;
    while (done < length) {
        const ssize_t n =
            ::pread(fd, bytes.data() + done, length - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw UpdateError(
                std::string("Failed to read the bundle: ") + std::strerror(errno) + ".");
        if (n == 0)
            throw UpdateError(
                "The bundle ended early: it is truncated. Copy it again from the vendor's medium.");
        done += static_cast<std::uint64_t>(n);
    }
    return bytes;
}

VerifiedBundle verifyBundle(fsutil::FileDescriptor fd, const UpdaterConfig& config,
    std::uint32_t recordedEpoch, std::span<const std::uint8_t> downgradePermission)
{
    struct stat status { };
    if (::fstat(fd.get(), &status) != 0 || !S_ISREG(status.st_mode))
        throw UpdateError("The bundle is not a regular file.");

    VerifiedBundle bundle;
    bundle.fileSize = static_cast<std::uint64_t>(status.st_size);
    const std::uint64_t headerLength = std::min<std::uint64_t>(kBundleHeaderSize, bundle.fileSize);
    bundle.header = parseBundleHeader(readAt(fd.get(), 0, headerLength), bundle.fileSize);
    const std::vector<std::uint8_t> manifestBytes =
        readAt(fd.get(), bundle.header.manifestOffset, bundle.header.manifestLength);
    const std::vector<std::uint8_t> signature =
        readAt(fd.get(), bundle.header.signatureOffset, bundle.header.signatureLength);
    bundle.manifestJson.assign(manifestBytes.begin(), manifestBytes.end());
    bundle.manifestSha256 = sha256Of(manifestBytes);

    // The manifest's "created" time is needed to judge the signer's
    // certificate, so the manifest is parsed before the signature is
    // checked. Nothing else in it is used before the signature passes.
    bundle.manifest = parseManifest(bundle.manifestJson);
    std::time_t created = 0;
    if (!parseUtcTimestamp(bundle.manifest.created, created))
        throw UpdateError("The bundle manifest is invalid: \"created\" is not a UTC time.");
    const TrustAnchors anchors(config.caFile, config.crlFile);
    bundle.signer =
        verifyDetachedSignature(manifestBytes, signature, anchors, config.timeFloor, created);

    checkImageLayout(bundle.manifest, bundle.header);
    checkCompatibility(bundle.manifest, config);
    if (bundle.manifest.securityEpoch < recordedEpoch) {
        if (downgradePermission.empty())
            throw UpdateError("The bundle's security epoch " +
                std::to_string(bundle.manifest.securityEpoch) + " is below this box's epoch " +
                std::to_string(recordedEpoch) +
                ": it would install software with known flaws. A downgrade needs a downgrade "
                "permission "
                "signed by the vendor for this bundle.");
        checkDowngradePermission(
            downgradePermission, bundle.manifestSha256, bundle.manifest, config);
        bundle.downgrade = true;
    }
    bundle.file = std::move(fd);
    return bundle;
}

VerifiedBundle verifyBundleFile(const std::filesystem::path& path, const UpdaterConfig& config,
    std::uint32_t recordedEpoch, std::span<const std::uint8_t> downgradePermission)
{
    fsutil::FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd)
        throw UpdateError(
            "Failed to open the bundle '" + path.string() + "': " + std::strerror(errno) + ".");
    return verifyBundle(std::move(fd), config, recordedEpoch, downgradePermission);
}

void verifyImages(
    const VerifiedBundle& bundle, const ByteProgress& progress, const std::atomic<bool>& cancel)
{
    std::uint64_t total = 0;
    for (const ManifestImage& image : bundle.manifest.images)
        total += image.size;
    std::uint64_t done = 0;
    std::vector<std::uint8_t> block(kHashBlock);
    for (const ManifestImage& image : bundle.manifest.images) {
        EvpMdCtxPtr context(EVP_MD_CTX_new());
        EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr);
        for (std::uint64_t offset = 0; offset < image.size;) {
            if (cancel.load())
                throw UpdateError("The install was cancelled.");
            const std::uint64_t length = std::min<std::uint64_t>(block.size(), image.size - offset);
            const std::vector<std::uint8_t> bytes =
                readAt(bundle.file.get(), image.offset + offset, length);
            EVP_DigestUpdate(context.get(), bytes.data(), bytes.size());
            offset += length;
            done += length;
            progress(done, total);
        }
        Sha256 digest{};
        EVP_DigestFinal_ex(context.get(), digest.data(), nullptr);
        if (digest != image.sha256)
            throw UpdateError("The " + image.slotType +
                " image's SHA-256 does not match the signed manifest: the "
                "bundle is damaged or was altered. Copy it again from the vendor's medium.");
    }
}

std::string createDowngradePermission(const Sha256& manifestSha256, const std::string& product,
    const std::filesystem::path& certificateFile, const std::filesystem::path& keyFile)
{
    Poco::JSON::Object permission(Poco::JSON_PRESERVE_KEY_ORDER);
    permission.set("format", std::string(kPermissionFormat));
    permission.set("product", product);
    permission.set("manifestSha256", toHex(manifestSha256));
    permission.set("created", formatUtcTimestamp(std::time(nullptr)));
    std::ostringstream text;
    permission.stringify(text);
    const std::string permissionText = text.str();
    const std::vector<std::uint8_t> signature = signDetached(
        std::span<const std::uint8_t>(
            reinterpret_cast<const std::uint8_t*>(permissionText.data()), permissionText.size()),
        certificateFile, keyFile, {});

    Poco::JSON::Object outer(Poco::JSON_PRESERVE_KEY_ORDER);
    outer.set("permission", permissionText);
    outer.set("signature", base64Encode(signature));
    std::ostringstream out;
    outer.stringify(out, 2);
    return out.str() + "\n";
}

} // namespace meldpunt::updater
