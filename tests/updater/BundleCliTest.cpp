// Drives the real meldpunt-bundle binary the way a vendor does: create and
// sign a bundle, show it, and write a downgrade permission. The results are
// checked with the stock openssl commands from docs/updates.md and with the
// box's own verifier in meldpunt-update.
#include "UpdaterFixture.h"

#include "BundleVerifier.h"
#include "Signature.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <sys/stat.h>
#include <sys/wait.h>

#include <fstream>

namespace fs = std::filesystem;
using namespace meldpunt::test;
using namespace meldpunt::updater;
using Catch::Matchers::ContainsSubstring;

namespace {

struct CliResult {
    int exitStatus = -1;
    std::string output;
};

CliResult runBundleTool(const UpdaterBox& box, const std::vector<std::string>& arguments)
{
    std::vector<std::string> argv = {
        (fs::path(MELDPUNT_BINARY_DIR) / "updater" / "meldpunt-bundle").string()
    };
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    Process process(argv, Process::Options({}, box.root() / "bundle-tool.log"));
    const auto status = process.wait(std::chrono::seconds(60));
    CliResult result;
    result.output = process.log();
    result.exitStatus = status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
    return result;
}

CliResult runTechnicianCommands(const UpdaterBox& box, const fs::path& folder)
{
    Process shell({ "sh", "-e", "-c", technicianCommands() },
        Process::Options({}, box.root() / "technician.log", folder));
    const auto status = shell.wait(std::chrono::seconds(60));
    CliResult result;
    result.output = shell.log();
    result.exitStatus = status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
    return result;
}

// The value after `label` up to the end of its line in `text`.
std::string valueAfter(const std::string& text, const std::string& label)
{
    const std::size_t start = text.find(label);
    if (start == std::string::npos)
        return {};
    const std::size_t end = text.find('\n', start);
    return text.substr(start + label.size(), end - start - label.size());
}

} // namespace

TEST_CASE("meldpunt-bundle creates bundles that stock openssl verifies", "[updater]")
{
    UpdaterBox box("bundle-cli");
    // An image with two MiB of zero bytes in the middle, which the bundle
    // keeps as a hole.
    const fs::path image = box.makeImage("cli.rootfs", 4 * 1024 * 1024 + 77, 11);
    {
        std::fstream zeros(image, std::ios::in | std::ios::out | std::ios::binary);
        zeros.seekp(1024 * 1024);
        const std::string block(2 * 1024 * 1024, '\0');
        zeros.write(block.data(), static_cast<std::streamsize>(block.size()));
    }
    const fs::path folder = box.root() / "technician";
    fs::create_directories(folder);
    const fs::path bundle = folder / "meldpunt-1.2.0.mpb";
    // The test PKI's certificates start when the PKI is made, so the
    // bundle's creation time is now.
    const std::string createdAt = formatUtcTimestamp(std::time(nullptr));
    const std::vector<std::string> create = { "create", "--product", "meldpunt", "--hardware-id",
        UpdaterBox::kHardwareId, "--hardware-id", "meldpunt-box-v2", "--version", "1.2.0",
        "--epoch", "2", "--rootfs", image.string(), "--certificate", box.pki("signer.pem").string(),
        "--key", box.pki("signer.key").string(), "--created", createdAt, "--output",
        bundle.string() };

    const CliResult created = runBundleTool(box, create);
    INFO(created.output);
    REQUIRE(created.exitStatus == 0);
    CHECK_THAT(created.output, ContainsSubstring("version 1.2.0, security epoch 2"));

    const CliResult shown = runBundleTool(box, { "show", bundle.string() });
    INFO(shown.output);
    REQUIRE(shown.exitStatus == 0);
    const std::string manifestSha256 = valueAfter(shown.output, "manifest SHA-256 ");
    CHECK(manifestSha256.size() == 64);
    CHECK_THAT(shown.output, ContainsSubstring("\"version\":\"1.2.0\""));
    CHECK_THAT(shown.output, ContainsSubstring("\"securityEpoch\":2"));
    CHECK_THAT(shown.output,
        ContainsSubstring("\"hardwareIds\":[\"meldpunt-box-test\",\"meldpunt-box-v2\"]"));
    CHECK_THAT(shown.output, ContainsSubstring("\"created\":\"" + createdAt + "\""));
    CHECK_THAT(shown.output, ContainsSubstring("\"sha256\":\"" + fileSha256(image) + "\""));

    SECTION("stock openssl verifies the signature, the chain and the image")
    {
        fs::copy_file(box.pki("vendor-ca.pem"), folder / "vendor-ca.pem");
        fs::copy_file(box.pki("vendor.crl"), folder / "vendor.crl");
        const CliResult checked = runTechnicianCommands(box, folder);
        INFO(checked.output);
        CHECK(checked.exitStatus == 0);
        CHECK_THAT(checked.output, ContainsSubstring("CMS Verification successful"));
        CHECK_THAT(checked.output, ContainsSubstring("Code Signing"));
        CHECK_THAT(checked.output, ContainsSubstring(manifestSha256 + "  manifest.json"));
        CHECK_THAT(checked.output, ContainsSubstring("rootfs image matches the manifest"));
    }
    SECTION("stock openssl rejects a bundle signed under another CA")
    {
        std::vector<std::string> foreign = create;
        for (std::size_t i = 0; i + 1 < foreign.size(); ++i) {
            if (foreign[i] == "--certificate")
                foreign[i + 1] = box.pki("other.pem").string();
            if (foreign[i] == "--key")
                foreign[i + 1] = box.pki("other.key").string();
        }
        fs::remove(bundle);
        REQUIRE(runBundleTool(box, foreign).exitStatus == 0);
        fs::copy_file(box.pki("vendor-ca.pem"), folder / "vendor-ca.pem");
        fs::copy_file(box.pki("vendor.crl"), folder / "vendor.crl");
        const CliResult checked = runTechnicianCommands(box, folder);
        INFO(checked.output);
        CHECK(checked.exitStatus != 0);
        CHECK_THAT(checked.output, ContainsSubstring("Verification failure"));
    }
    SECTION("the box's verifier accepts the bundle with the same hash")
    {
        const UpdaterBox::Result verified = box.runUpdate({ "verify", bundle.string() });
        INFO(verified.output);
        CHECK(verified.exitStatus == 0);
        CHECK_THAT(verified.output, ContainsSubstring("manifest SHA-256 " + manifestSha256));
    }
    SECTION("a run of zero bytes stays a hole in the bundle")
    {
        struct stat info { };
        REQUIRE(::stat(bundle.c_str(), &info) == 0);
        CHECK(static_cast<std::uint64_t>(info.st_blocks) * 512 + 1024 * 1024 <
            static_cast<std::uint64_t>(info.st_size));
    }
    SECTION("a downgrade permission from the CLI names this bundle only")
    {
        const fs::path permission = box.root() / "permission.json";
        const CliResult permitted = runBundleTool(box,
            { "permit-downgrade", "--bundle", bundle.string(), "--certificate",
                box.pki("downgrade.pem").string(), "--key", box.pki("downgrade.key").string(),
                "--output", permission.string() });
        INFO(permitted.output);
        REQUIRE(permitted.exitStatus == 0);
        CHECK_THAT(permitted.output, ContainsSubstring(manifestSha256));
        CHECK_THAT(readAll(permission), ContainsSubstring("\"permission\""));

        box.writeConfig("security_epoch = 3\n");
        const UpdaterBox::Result refused = box.runUpdate({ "verify", bundle.string() });
        INFO(refused.output);
        CHECK(refused.exitStatus == 1);
        CHECK_THAT(refused.output, ContainsSubstring("needs a downgrade permission"));
        const UpdaterBox::Result allowed =
            box.runUpdate({ "verify", "--permission", permission.string(), bundle.string() });
        INFO(allowed.output);
        CHECK(allowed.exitStatus == 0);
    }
}

TEST_CASE("meldpunt-bundle rejects incomplete options", "[updater]")
{
    UpdaterBox box("bundle-cli-options");
    const fs::path image = box.makeImage("options.rootfs", 4096, 3);
    const std::vector<std::string> base = { "create", "--product", "meldpunt", "--hardware-id",
        UpdaterBox::kHardwareId, "--version", "1.2.0", "--rootfs", image.string(), "--certificate",
        box.pki("signer.pem").string(), "--key", box.pki("signer.key").string(), "--output",
        (box.root() / "options.mpb").string() };

    SECTION("a missing epoch")
    {
        const CliResult result = runBundleTool(box, base);
        CHECK(result.exitStatus == 1);
        CHECK_THAT(result.output, ContainsSubstring("The option --epoch is missing"));
        CHECK(!fs::exists(box.root() / "options.mpb"));
    }
    SECTION("an epoch beyond 64")
    {
        std::vector<std::string> arguments = base;
        arguments.insert(arguments.end(), { "--epoch", "65" });
        const CliResult result = runBundleTool(box, arguments);
        CHECK(result.exitStatus == 1);
        CHECK_THAT(result.output, ContainsSubstring("whole number from 0 to 64"));
        CHECK(!fs::exists(box.root() / "options.mpb"));
    }
    SECTION("a creation time that is not UTC")
    {
        std::vector<std::string> arguments = base;
        arguments.insert(arguments.end(), { "--epoch", "1", "--created", "2026-12-04 19:00" });
        const CliResult result = runBundleTool(box, arguments);
        CHECK(result.exitStatus == 1);
        CHECK_THAT(result.output, ContainsSubstring("must be a UTC time"));
    }
    SECTION("an unknown command shows the usage")
    {
        const CliResult result = runBundleTool(box, { "sign" });
        CHECK(result.exitStatus == 2);
        CHECK_THAT(result.output, ContainsSubstring("usage:"));
    }
}
