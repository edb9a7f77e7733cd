// The technician's update page: upload a bundle, read its manifest
// through meldpunt-updated, confirm its manifest SHA-256, install it, and
// follow the install's progress. Every step lands in the audit log.

#include "StaffApp.h"
#include "StaffContext.h"

#include "FileSystem.h"
#include "Log.h"
#include "Multipart.h"

#include "Crypto.h"

#include <Poco/JSON/Parser.h>

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace meldpunt::staff {

namespace {

constexpr std::size_t kUploadChunk = 64 * 1024;
constexpr std::size_t kMaxCsrfBytes = 256;
constexpr const char* kPendingName = "pending.mpb";

// The upload form sent a CSRF token that is not the session's, or sent
// the file before the token.
class UploadForgedError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class BundleTooLargeError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Receives the upload form's parts: the CSRF token, which the form puts
// first, and then the bundle, which is written to `file` as it arrives.
class BundleUploadHandler : public MultipartHandler {
public:
    BundleUploadHandler(const std::string& csrfToken, int file, std::filesystem::path path, std::uint64_t maxBytes)
        : csrfToken_(csrfToken)
        , file_(file)
        , path_(std::move(path))
        , maxBytes_(maxBytes)
    {
    }

    void onPartBegin(const PartHeaders& headers) override
    {
        part_ = headers.name;
        if (part_ == "bundle") {
            if (!csrfChecked_)
                throw UploadForgedError("the bundle came before the form's token");
            sawBundle_ = true;
        }
        csrf_.clear();
    }

    void onPartData(std::span<const std::uint8_t> data) override
    {
        if (part_ == "csrf") {
            if (csrf_.size() + data.size() > kMaxCsrfBytes)
                throw UploadForgedError("the form's token is too long");
            csrf_.append(reinterpret_cast<const char*>(data.data()), data.size());
        } else if (part_ == "bundle") {
            bytes_ += data.size();
            if (bytes_ > maxBytes_)
                throw BundleTooLargeError("the bundle is larger than the limit");
            fsutil::writeAll(file_, data, path_);
        }
    }

    void onPartEnd() override
    {
        if (part_ == "csrf") {
            if (!sameToken(csrfToken_, csrf_))
                throw UploadForgedError("the form's token does not match the session");
            csrfChecked_ = true;
        }
        part_.clear();
    }

    bool sawBundle() const { return sawBundle_; }
    bool csrfChecked() const { return csrfChecked_; }
    std::uint64_t bytes() const { return bytes_; }

private:
    const std::string& csrfToken_;
    int file_;
    std::filesystem::path path_;
    std::uint64_t maxBytes_;
    std::string part_;
    std::string csrf_;
    bool csrfChecked_ = false;
    bool sawBundle_ = false;
    std::uint64_t bytes_ = 0;
};

// Removes a partly written upload unless it was kept.
class UploadFile {
public:
    explicit UploadFile(std::filesystem::path path)
        : path_(std::move(path))
        , fd_(::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640))
    {
        if (!fd_)
            throw std::system_error(errno, std::generic_category(), "creating '" + path_.string() + "'");
    }
    ~UploadFile()
    {
        if (!kept_) {
            std::error_code ignored;
            std::filesystem::remove(path_, ignored);
        }
    }
    UploadFile(const UploadFile&) = delete;
    UploadFile& operator=(const UploadFile&) = delete;

    int fd() const { return fd_.get(); }
    const std::filesystem::path& path() const { return path_; }
    void close() { fd_.reset(); }
    void keep() { kept_ = true; }

private:
    std::filesystem::path path_;
    fsutil::FileDescriptor fd_;
    bool kept_ = false;
};

std::string randomName() { return crypto::toHex(crypto::randomBytes(16)); }

// What to do after the verifier rejected a bundle. The verifier's own
// message states what is wrong, and this adds the step that follows.
std::string adviceFor(const std::string& rejection)
{
    if (rejection.find("signature") != std::string::npos)
        return "Do not install this file. Ask the vendor for a correctly signed bundle; "
               "docs/updates.md shows how to check a bundle's signature with openssl.";
    if (rejection.find("below this box's epoch") != std::string::npos)
        return "This is an older release. To install it anyway, install it from the box's console "
               "with meldpunt-update install --permission and a downgrade permission from the vendor.";
    if (rejection.find("hardware") != std::string::npos || rejection.find("product") != std::string::npos)
        return "Ask the vendor for the bundle made for this box's hardware.";
    if (rejection.find("header") != std::string::npos)
        return "Choose the .mpb bundle file that the vendor sent, not another file.";
    return "Nothing was written to the box. Check the file and upload it again.";
}

std::string formatBytes(std::uint64_t bytes)
{
    constexpr std::array<const char*, 4> units = {"bytes", "KiB", "MiB", "GiB"};
    double value = static_cast<double>(bytes);
    std::size_t unit = 0;
    while (value >= 1024 && unit + 1 < units.size()) {
        value /= 1024;
        ++unit;
    }
    char text[64];
    if (unit == 0)
        std::snprintf(text, sizeof text, "%llu bytes", static_cast<unsigned long long>(bytes));
    else
        std::snprintf(
            text, sizeof text, "%.1f %s (%llu bytes)", value, units[unit], static_cast<unsigned long long>(bytes));
    return text;
}

// The manifest's fields for the page. The updater has verified the
// manifest, so a field that does not parse only shows as empty.
PageData manifestData(const BundleSummary& summary)
{
    PageData data;
    data.set("sha256", summary.manifestSha256);
    data.set("signer", summary.signer);
    data.set("downgrade", summary.permittedDowngrade);
    try {
        Poco::JSON::Parser parser;
        const auto manifest = parser.parse(summary.manifestJson).extract<Poco::JSON::Object::Ptr>();
        data.set("product", manifest->optValue<std::string>("product", ""));
        data.set("version", manifest->optValue<std::string>("version", ""));
        data.set("epoch", std::to_string(manifest->optValue<unsigned>("securityEpoch", 0)));
        data.set("created", manifest->optValue<std::string>("created", ""));
        std::string hardware;
        if (const auto ids = manifest->getArray("hardwareIds")) {
            for (unsigned i = 0; i < static_cast<unsigned>(ids->size()); ++i)
                hardware += (hardware.empty() ? "" : ", ") + ids->getElement<std::string>(i);
        }
        data.set("hardware_ids", hardware);
        PageData images {PageData::type::list};
        if (const auto list = manifest->getArray("images")) {
            for (unsigned i = 0; i < static_cast<unsigned>(list->size()); ++i) {
                const auto image = list->getObject(i);
                PageData item;
                item.set("slot_type", image->optValue<std::string>("slotType", ""));
                item.set("size", formatBytes(image->optValue<std::uint64_t>("size", 0)));
                item.set("sha256", image->optValue<std::string>("sha256", ""));
                item.set("verity", image->optValue<std::string>("verityRootHash", ""));
                images.push_back(item);
            }
        }
        data.set("images", images);
    } catch (const Poco::Exception&) {
        data.set("unreadable", true);
    }
    return data;
}

bool isRunning(const std::string& operation)
{
    return !operation.empty() && operation != "idle" && operation != "done" && operation != "failed";
}

} // namespace

StaffResponse StaffApp::updatesPage(Context& context, const std::string& notice, int status)
{
    PageData data;
    if (settings_.updateFolder.empty()) {
        data.set("not_configured", true);
        return render(context, "updates", "Software updates", std::move(data), notice, status);
    }

    std::optional<UpdaterState> state;
    context.lock.unlock();
    try {
        state = updater_.state();
    } catch (const UpdaterUnavailableError& error) {
        data.set("unavailable", std::string(error.what()));
    }
    context.lock.lock();

    if (state) {
        const bool running = isRunning(state->operation);
        data.set("known", true);
        data.set("booted_slot", state->bootedSlot);
        data.set("epoch", std::to_string(state->securityEpoch));
        data.set("operation", state->operation);
        data.set("progress", std::to_string(state->progress));
        data.set("running", running);
        data.set("done", state->operation == "done");
        data.set("failed", state->operation == "failed");
        data.set("last_error", state->lastError);
        // The install's result goes into the audit log once, when the page
        // first shows it.
        if (!installingSha256_.empty() && !running && state->operation != "idle") {
            audit(context, state->operation == "done" ? "update.installed" : "update.install_failed", "bundle",
                installingSha256_);
            installingSha256_.clear();
        }
        // While an install runs the page reloads itself, without a script.
        if (running)
            context.extraHeaders.emplace_back("Refresh", "2");
    }
    if (pendingBundle_) {
        data.set("pending", manifestData(pendingBundle_->summary));
    }
    data.set("max_bundle", formatBytes(settings_.maxBundleBytes));
    return render(context, "updates", "Software updates", std::move(data), notice, status);
}

StaffResponse StaffApp::uploadBundle(Context& context, std::istream& body)
{
    if (settings_.updateFolder.empty())
        return updatesPage(context, {}, 503);
    const auto boundary = multipartBoundary(context.request.header("content-type"));
    if (!boundary)
        return updatesPage(context,
            "The upload could not be read. Choose the bundle file in the form below and upload it again.", 400);

    const std::string csrfToken = context.session->csrfToken;
    UploadFile file(settings_.updateFolder / ("upload-" + randomName() + ".part"));
    BundleUploadHandler handler(csrfToken, file.fd(), file.path(), settings_.maxBundleBytes);
    MultipartLimits limits;
    limits.maxParts = 8;
    MultipartParser parser(*boundary, handler, limits);

    // The database stays free for other staff while the bundle streams in
    // and while the updater checks it.
    context.lock.unlock();
    std::string failure;
    int failureStatus = 400;
    try {
        std::vector<char> buffer(kUploadChunk);
        while (body) {
            body.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
            const auto got = static_cast<std::size_t>(body.gcount());
            if (got == 0)
                break;
            parser.feed(std::span(reinterpret_cast<const std::uint8_t*>(buffer.data()), got));
        }
        parser.finish();
        ::fsync(file.fd());
        file.close();
    } catch (const UploadForgedError&) {
        failure = "forged";
    } catch (const BundleTooLargeError&) {
        failure = "The bundle is larger than " + formatBytes(settings_.maxBundleBytes)
            + ", the most this box accepts. Check that you chose the right file.";
        failureStatus = 413;
    } catch (const MalformedMultipartError&) {
        failure = "The upload was cut off or could not be read. Upload the bundle again.";
    }
    if (failure.empty() && !handler.sawBundle())
        failure = "No bundle was sent. Choose the bundle file (.mpb) and upload it.";
    else if (failure.empty() && handler.bytes() == 0)
        failure = "The chosen file is empty. Choose the bundle file (.mpb) that the vendor sent.";

    std::optional<BundleSummary> summary;
    std::string rejection;
    bool unavailable = false;
    if (failure.empty()) {
        try {
            fsutil::FileDescriptor readable(::open(file.path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
            if (!readable)
                throw std::system_error(errno, std::generic_category(), "opening '" + file.path().string() + "'");
            summary = updater_.readManifest(readable.get());
        } catch (const BundleRejectedError& error) {
            rejection = error.what();
        } catch (const UpdaterUnavailableError& error) {
            rejection = error.what();
            unavailable = true;
        }
    }
    context.lock.lock();

    if (failure == "forged")
        return message(context, 403, "The form has expired", "Open the page again and send the form from there.");
    if (!failure.empty()) {
        audit(context, "update.upload_failed", "bundle", "");
        return updatesPage(context, failure, failureStatus);
    }
    if (unavailable) {
        log::error("Failed to read an uploaded bundle's manifest: " + rejection);
        audit(context, "update.upload_failed", "bundle", "");
        return updatesPage(
            context, "The updater service did not answer, so the bundle was not checked: " + rejection, 503);
    }
    if (!summary) {
        audit(context, "update.rejected", "bundle", "");
        return updatesPage(context,
            "This bundle was rejected and nothing was installed. " + rejection + " " + adviceFor(rejection), 422);
    }

    const std::filesystem::path pending = settings_.updateFolder / kPendingName;
    std::filesystem::rename(file.path(), pending);
    file.keep();
    pendingBundle_ = PendingBundle {pending, *summary};
    audit(context, "update.uploaded", "bundle", summary->manifestSha256);
    return redirect("/updates");
}

StaffResponse StaffApp::installBundle(Context& context)
{
    if (!pendingBundle_)
        return updatesPage(context, "There is no uploaded bundle to install. Upload the bundle first.", 409);
    const std::string confirmed = context.form.get("sha256");
    if (confirmed != pendingBundle_->summary.manifestSha256)
        return updatesPage(context,
            "The bundle on this page is not the one you confirmed. Check its manifest and SHA-256 below and confirm "
            "again.",
            409);
    if (context.form.get("confirm") != "yes")
        return updatesPage(context,
            "Tick the box to confirm that the SHA-256 below is the one the vendor published, then install.", 400);

    const PendingBundle bundle = *pendingBundle_;
    context.lock.unlock();
    std::string rejection;
    bool rejected = false;
    try {
        fsutil::FileDescriptor readable(::open(bundle.file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        if (!readable)
            throw UpdaterUnavailableError(
                "The uploaded bundle is gone: " + std::string(std::strerror(errno)) + ". Upload it again.");
        updater_.install(readable.get(), bundle.summary.manifestSha256);
    } catch (const BundleRejectedError& error) {
        rejection = error.what();
        rejected = true;
    } catch (const UpdaterUnavailableError& error) {
        rejection = error.what();
    }
    context.lock.lock();

    if (!rejection.empty()) {
        audit(context, rejected ? "update.install_rejected" : "update.install_failed", "bundle",
            bundle.summary.manifestSha256);
        const std::string advice = rejected ? " " + adviceFor(rejection) : std::string();
        return updatesPage(context, "The install did not start. " + rejection + advice, rejected ? 422 : 503);
    }
    // meldpunt-updated keeps its own descriptor of the bundle, so the file
    // can go now.
    std::error_code ignored;
    std::filesystem::remove(bundle.file, ignored);
    pendingBundle_.reset();
    installingSha256_ = bundle.summary.manifestSha256;
    audit(context, "update.install_started", "bundle", bundle.summary.manifestSha256);
    return redirect("/updates");
}

StaffResponse StaffApp::discardBundle(Context& context)
{
    if (pendingBundle_) {
        std::error_code ignored;
        std::filesystem::remove(pendingBundle_->file, ignored);
        audit(context, "update.discarded", "bundle", pendingBundle_->summary.manifestSha256);
        pendingBundle_.reset();
    }
    return redirect("/updates");
}

} // namespace meldpunt::staff
