// The update page's bundle upload through StaffApp::handleUpload, with a
// request body made on demand, so that the test sees what is on disk while
// the body is still arriving. The updater's bus does not exist here; the
// browser test (tests/browser/update-journey.mjs) covers the real service.

#include "StaffAppFixture.h"

#include "Process.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <streambuf>

namespace fs = std::filesystem;
using namespace meldpunt::staff;
using namespace meldpunt::test;
using Catch::Matchers::ContainsSubstring;

namespace {

constexpr const char* kBoundary = "----meldpunt-upload-test";
constexpr std::uint64_t kMiB = 1024 * 1024;

// The bytes of all files in `folder`.
std::uint64_t bytesIn(const fs::path& folder)
{
    std::uint64_t total = 0;
    for (const auto& entry : fs::directory_iterator(folder))
        total += entry.file_size();
    return total;
}

// A multipart body made in 64 KiB pieces as the reader asks for them: the
// CSRF part, `bundleBytes` bytes of a bundle part, and the closing
// delimiter. Once `probeAt` bytes have been handed out, it records how many
// bytes the upload folder holds.
class GeneratedUpload : public std::streambuf {
public:
    GeneratedUpload(const std::string& csrf, std::uint64_t bundleBytes, fs::path folder, std::uint64_t probeAt)
        : head_(std::string("--") + kBoundary + "\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + csrf
            + "\r\n--" + kBoundary
            + "\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"meldpunt.mpb\"\r\n"
              "Content-Type: application/octet-stream\r\n\r\n")
        , tail_(std::string("\r\n--") + kBoundary + "--\r\n")
        , bundleBytes_(bundleBytes)
        , folder_(std::move(folder))
        , probeAt_(probeAt)
    {
    }

    std::optional<std::uint64_t> probed() const { return probed_; }

protected:
    int_type underflow() override
    {
        if (!probed_ && handedOut_ >= probeAt_)
            probed_ = bytesIn(folder_);
        piece_.clear();
        if (!headSent_) {
            piece_ = head_;
            headSent_ = true;
        } else if (bundleSent_ < bundleBytes_) {
            const std::uint64_t length = std::min<std::uint64_t>(64 * 1024, bundleBytes_ - bundleSent_);
            piece_.assign(length, 'b');
            bundleSent_ += length;
        } else if (!tailSent_) {
            piece_ = tail_;
            tailSent_ = true;
        } else {
            return traits_type::eof();
        }
        handedOut_ += piece_.size();
        setg(piece_.data(), piece_.data(), piece_.data() + piece_.size());
        return traits_type::to_int_type(piece_.front());
    }

private:
    std::string head_;
    std::string tail_;
    std::uint64_t bundleBytes_;
    fs::path folder_;
    std::uint64_t probeAt_;
    std::string piece_;
    bool headSent_ = false;
    bool tailSent_ = false;
    std::uint64_t bundleSent_ = 0;
    std::uint64_t handedOut_ = 0;
    std::optional<std::uint64_t> probed_;
};

struct UploadBox {
    explicit UploadBox(const std::string& name, std::uint64_t maxBundleBytes = std::uint64_t {8} << 30)
        : scratch(name + "-files")
        , fixture(name, settings(scratch.path(), maxBundleBytes))
    {
    }

    static StaffSettings settings(const fs::path& root, std::uint64_t maxBundleBytes)
    {
        fs::create_directories(root / "updates");
        StaffSettings settings;
        settings.updateFolder = root / "updates";
        // No dbus-daemon listens here, so the updater cannot be reached.
        settings.updaterBusAddress = "unix:path=" + (root / "no-bus.sock").string();
        settings.maxBundleBytes = maxBundleBytes;
        return settings;
    }

    StaffResponse upload(StaffClient& client, GeneratedUpload& body)
    {
        StaffRequest request;
        request.method = "POST";
        request.path = StaffApp::kUploadPath;
        request.address = "192.0.2.40";
        request.headers["cookie"]
            = std::string(StaffApp::kSessionCookie) + "=" + client.cookie(StaffApp::kSessionCookie);
        request.headers["content-type"] = std::string("multipart/form-data; boundary=") + kBoundary;
        std::istream stream(&body);
        return fixture.app->handleUpload(request, stream);
    }

    fs::path folder() const { return scratch.path() / "updates"; }

    ScratchFolder scratch;
    StaffAppFixture fixture;
};

bool audited(StaffAppFixture& fixture, const std::string& action)
{
    const auto entries = fixture.auditEntries();
    return std::any_of(entries.begin(), entries.end(), [&](const AuditEntry& entry) { return entry.action == action; });
}

} // namespace

TEST_CASE("Bundle upload streams to disk", "[staff][updates]")
{
    UploadBox box("upload-stream");
    StaffClient client(*box.fixture.app);
    box.fixture.logIn(client, box.fixture.addMember("technician", Role::Admin));
    client.get("/updates");

    // 16 MiB of bundle; at 12 MiB into the body, most of it must already
    // be in the folder. A server that read the whole body first would have
    // written nothing yet.
    GeneratedUpload body(client.csrfToken(), 16 * kMiB, box.folder(), 12 * kMiB);
    const StaffResponse response = box.upload(client, body);
    INFO(response.body);
    REQUIRE(body.probed());
    CHECK(*body.probed() >= 8 * kMiB);
    // The updater is not reachable, so the bundle is not kept.
    CHECK(response.status == 503);
    CHECK_THAT(response.body, ContainsSubstring("The updater service did not answer"));
    CHECK(bytesIn(box.folder()) == 0);
    CHECK(audited(box.fixture, "update.upload_failed"));
}

TEST_CASE("Bundle upload checks the form first", "[staff][updates]")
{
    SECTION("a forged token writes nothing")
    {
        UploadBox box("upload-forged");
        StaffClient client(*box.fixture.app);
        box.fixture.logIn(client, box.fixture.addMember("technician", Role::Admin));
        GeneratedUpload body("forged-token", 4 * kMiB, box.folder(), 2 * kMiB);
        const StaffResponse response = box.upload(client, body);
        CHECK(response.status == 403);
        CHECK_THAT(response.body, ContainsSubstring("The form has expired"));
        CHECK(body.probed().value_or(0) == 0);
        CHECK(bytesIn(box.folder()) == 0);
    }
    SECTION("a caseworker is not allowed to upload")
    {
        UploadBox box("upload-caseworker");
        StaffClient client(*box.fixture.app);
        box.fixture.logIn(client, box.fixture.addMember("anna", Role::Caseworker));
        GeneratedUpload body(client.csrfToken(), 4 * kMiB, box.folder(), 2 * kMiB);
        const StaffResponse response = box.upload(client, body);
        CHECK(response.status == 403);
        CHECK(bytesIn(box.folder()) == 0);
        CHECK(audited(box.fixture, "access.denied"));
    }
    SECTION("a bundle over the limit is rejected with the limit")
    {
        UploadBox box("upload-large", 1 * kMiB);
        StaffClient client(*box.fixture.app);
        box.fixture.logIn(client, box.fixture.addMember("technician", Role::Admin));
        client.get("/updates");
        GeneratedUpload body(client.csrfToken(), 4 * kMiB, box.folder(), 3 * kMiB);
        const StaffResponse response = box.upload(client, body);
        CHECK(response.status == 413);
        CHECK_THAT(response.body, ContainsSubstring("The bundle is larger than 1.0 MiB"));
        CHECK(bytesIn(box.folder()) == 0);
        // The form is back for the next try.
        CHECK_THAT(response.body, ContainsSubstring("action=\"/updates/upload\""));
    }
    SECTION("an empty file is rejected")
    {
        UploadBox box("upload-empty");
        StaffClient client(*box.fixture.app);
        box.fixture.logIn(client, box.fixture.addMember("technician", Role::Admin));
        client.get("/updates");
        GeneratedUpload body(client.csrfToken(), 0, box.folder(), 0);
        const StaffResponse response = box.upload(client, body);
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("The chosen file is empty"));
    }
}
