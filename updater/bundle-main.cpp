// meldpunt-bundle: creates and signs update bundles, creates downgrade
// permissions, and shows a bundle's header and manifest. It runs on the
// vendor's signing machine, not on the box.
#include "BundleVerifier.h"
#include "BundleWriter.h"
#include "Signature.h"
#include "UpdateError.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <vector>

using namespace meldpunt::updater;

namespace {

constexpr const char* kUsage =
    "usage:\n"
    "  meldpunt-bundle create --product NAME --hardware-id ID [--hardware-id ID ...] --version "
    "TEXT\n"
    "      --epoch N --rootfs IMAGE --certificate PEM --key PEM [--chain PEM] [--created TIME]\n"
    "      --output BUNDLE\n"
    "  meldpunt-bundle permit-downgrade --bundle BUNDLE --certificate PEM --key PEM --output FILE\n"
    "  meldpunt-bundle show BUNDLE\n"
    "TIME is UTC, such as 2026-12-04T19:00:00Z; it defaults to now.\n";

using Options = std::multimap<std::string, std::string>;

Options parseOptions(int argc, char** argv, int first)
{
    Options options;
    for (int i = first; i < argc; i += 2) {
        const std::string name = argv[i];
        if (!name.starts_with("--") || i + 1 >= argc)
            throw UpdateError(
                "Invalid argument '" + name + "'. Every option takes a value.\n" + kUsage);
        options.emplace(name.substr(2), argv[i + 1]);
    }
    return options;
}

std::string one(const Options& options, const std::string& name, bool required = true)
{
    const auto found = options.find(name);
    if (found == options.end()) {
        if (required)
            throw UpdateError("The option --" + name + " is missing.\n" + kUsage);
        return {};
    }
    return found->second;
}

int create(const Options& options)
{
    BundleSource source;
    source.manifest.product = one(options, "product");
    for (auto [it, end] = options.equal_range("hardware-id"); it != end; ++it)
        source.manifest.hardwareIds.push_back(it->second);
    if (source.manifest.hardwareIds.empty())
        throw UpdateError("At least one --hardware-id is required.");
    source.manifest.version = one(options, "version");
    const std::string epoch = one(options, "epoch");
    if (epoch.empty() || epoch.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(epoch) > kMaxSecurityEpoch)
        throw UpdateError("The option --epoch must be a whole number from 0 to 64.");
    source.manifest.securityEpoch = static_cast<std::uint32_t>(std::stoul(epoch));
    source.manifest.created = one(options, "created", false);
    std::time_t created = 0;
    if (source.manifest.created.empty())
        source.manifest.created = formatUtcTimestamp(std::time(nullptr));
    else if (!parseUtcTimestamp(source.manifest.created, created))
        throw UpdateError("The option --created must be a UTC time such as 2026-12-04T19:00:00Z.");
    source.rootfsImage = one(options, "rootfs");
    source.certificateFile = one(options, "certificate");
    source.keyFile = one(options, "key");
    source.chainFile = one(options, "chain", false);
    const Manifest manifest = writeBundle(source, one(options, "output"));
    std::cout << "Wrote " << one(options, "output") << " with version " << manifest.version
              << ", security epoch " << manifest.securityEpoch << ".\n";
    return 0;
}

int permitDowngrade(const Options& options)
{
    meldpunt::fsutil::FileDescriptor fd(
        ::open(one(options, "bundle").c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        throw UpdateError("Failed to open the bundle '" + one(options, "bundle") +
            "': " + std::strerror(errno) + ".");
    const std::vector<std::uint8_t> headerBytes = readAt(fd.get(), 0, kBundleHeaderSize);
    const BundleHeader header =
        parseBundleHeader(headerBytes, static_cast<std::uint64_t>(::lseek(fd.get(), 0, SEEK_END)));
    const std::vector<std::uint8_t> manifestBytes =
        readAt(fd.get(), header.manifestOffset, header.manifestLength);
    const Manifest manifest =
        parseManifest(std::string(manifestBytes.begin(), manifestBytes.end()));
    const std::string permission = createDowngradePermission(sha256Of(manifestBytes),
        manifest.product, one(options, "certificate"), one(options, "key"));
    const std::string output = one(options, "output");
    meldpunt::fsutil::writeFileAtomically(output,
        std::span<const std::uint8_t>(
            reinterpret_cast<const std::uint8_t*>(permission.data()), permission.size()),
        0644);
    std::cout << "Wrote a downgrade permission for manifest SHA-256 "
              << toHex(sha256Of(manifestBytes)) << ".\n";
    return 0;
}

int show(const std::string& path)
{
    meldpunt::fsutil::FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        throw UpdateError(
            "Failed to open the bundle '" + path + "': " + std::strerror(errno) + ".");
    const auto size = static_cast<std::uint64_t>(::lseek(fd.get(), 0, SEEK_END));
    const BundleHeader header = parseBundleHeader(
        readAt(fd.get(), 0, std::min<std::uint64_t>(size, kBundleHeaderSize)), size);
    const std::vector<std::uint8_t> manifestBytes =
        readAt(fd.get(), header.manifestOffset, header.manifestLength);
    std::cout << "manifest offset " << header.manifestOffset << " length " << header.manifestLength
              << "\n"
              << "signature offset " << header.signatureOffset << " length "
              << header.signatureLength << "\n"
              << "images offset " << header.imagesOffset << " length " << header.imagesLength
              << "\n"
              << "manifest SHA-256 " << toHex(sha256Of(manifestBytes)) << "\n"
              << std::string(manifestBytes.begin(), manifestBytes.end()) << "\n"
              << "The signature is not checked here; use meldpunt-update verify or openssl cms "
                 "-verify.\n";
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        const std::string command = argc > 1 ? argv[1] : "";
        if (command == "create")
            return create(parseOptions(argc, argv, 2));
        if (command == "permit-downgrade")
            return permitDowngrade(parseOptions(argc, argv, 2));
        if (command == "show" && argc == 3)
            return show(argv[2]);
        std::cerr << kUsage;
        return 2;
    } catch (const std::exception& error) {
        std::cerr << "meldpunt-bundle: " << error.what() << "\n";
        return 1;
    }
}
