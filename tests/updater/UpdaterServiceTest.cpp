#include "UpdaterFixture.h"
#include "TestCertificates.h"

#include "BundleVerifier.h"
#include "UpdaterService.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <systemd/sd-bus.h>

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

namespace fs = std::filesystem;
using namespace meldpunt::test;
using namespace meldpunt::updater;
using Catch::Matchers::ContainsSubstring;

namespace {

// The accounts that stand for meldpuntd's user in the policy under test,
// and for anyone else. dbus-daemon looks up the groups of every client and
// drops clients whose uid has no account, so both are accounts that every
// Debian system has: daemon (1) and nobody (65534).
constexpr unsigned kDaemonUid = 1;
constexpr unsigned kStrangerUid = 65534;

struct BusUnref {
    void operator()(sd_bus* bus) const { sd_bus_flush_close_unref(bus); }
};
using BusPtr = std::unique_ptr<sd_bus, BusUnref>;

BusPtr connect(const std::string& address)
{
    sd_bus* raw = nullptr;
    REQUIRE(sd_bus_new(&raw) >= 0);
    BusPtr bus(raw);
    REQUIRE(sd_bus_set_address(bus.get(), address.c_str()) >= 0);
    REQUIRE(sd_bus_set_bus_client(bus.get(), 1) >= 0);
    REQUIRE(sd_bus_start(bus.get()) >= 0);
    return bus;
}

bool acceptsConnections(const fs::path& socketPath)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socketPath.c_str());
    const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return connected;
}

// A dbus-daemon of the test's own with the system bus's default policy
// and the updater's policy file, in which meldpuntd's user name is
// replaced by kDaemonUid (or by the caller's uid when not run as root).
class PrivateBus {
public:
    explicit PrivateBus(const fs::path& folder)
        : socketFolder_("updater-bus", socketScratchBase())
    {
        std::string policy = readAll(fs::path(MELDPUNT_SOURCE_DIR) /
            "rootfs/usr/share/dbus-1/system.d/org.meldpunt.Updater1.conf");
        const std::string daemonUser = std::to_string(::geteuid() == 0 ? kDaemonUid : ::geteuid());
        const std::string name = "user=\"meldpuntd\"";
        REQUIRE(policy.find(name) != std::string::npos);
        policy.replace(policy.find(name), name.size(), "user=\"" + daemonUser + "\"");
        std::ofstream(folder / "updater-policy.conf") << policy;

        socket_ = socketFolder_.path() / "bus.sock";
        std::ofstream(folder / "bus.conf")
            << "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" "
               "\"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
               "<busconfig>\n  <listen>unix:path="
            << socket_.string()
            << "</listen>\n"
               "  <auth>EXTERNAL</auth>\n"
               "  <policy context=\"default\">\n"
               "    <allow user=\"*\"/>\n    <deny own=\"*\"/>\n    <deny "
               "send_type=\"method_call\"/>\n"
               "    <allow send_type=\"signal\"/>\n"
               "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
               "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
               "    <allow receive_type=\"method_call\"/>\n    <allow "
               "receive_type=\"method_return\"/>\n"
               "    <allow receive_type=\"error\"/>\n    <allow receive_type=\"signal\"/>\n"
               "    <allow send_destination=\"org.freedesktop.DBus\" "
               "send_interface=\"org.freedesktop.DBus\"/>\n"
               "  </policy>\n  <include>"
            << (folder / "updater-policy.conf").string()
            << "</include>\n"
               "</busconfig>\n";
        process_ = std::make_unique<Process>(
            std::vector<std::string>{ "dbus-daemon", "--nofork", "--nopidfile",
                "--config-file=" + (folder / "bus.conf").string() },
            Process::Options({}, folder / "dbus-daemon.log"));
        // The socket file appears at bind(), before dbus-daemon listens, so
        // only a connection that succeeds shows that the bus is up.
        REQUIRE(waitFor([&] { return acceptsConnections(socket_); }, std::chrono::seconds(10)));
    }

    std::string address() const { return "unix:path=" + socket_.string(); }
    std::string log() const { return process_->log(); }

private:
    ScratchFolder socketFolder_;
    fs::path socket_;
    std::unique_ptr<Process> process_;
};

struct CallResult {
    int status = -1; // 0 on success
    std::string errorName; // the D-Bus error, when the call failed
    std::string text; // the error message, or the first string of the reply
};

// Calls a method of the updater and returns the outcome. `append` adds the
// arguments to the message.
CallResult call(sd_bus* bus, const char* method, const std::function<void(sd_bus_message*)>& append)
{
    sd_bus_message* rawMessage = nullptr;
    REQUIRE(sd_bus_message_new_method_call(
                bus, &rawMessage, kBusName, kObjectPath, kInterface, method) >= 0);
    std::unique_ptr<sd_bus_message, decltype(&sd_bus_message_unref)> message(
        rawMessage, &sd_bus_message_unref);
    append(message.get());
    sd_bus_error error = SD_BUS_ERROR_NULL;
    sd_bus_message* rawReply = nullptr;
    CallResult result;
    result.status = sd_bus_call(bus, message.get(), 30'000'000, &error, &rawReply);
    std::unique_ptr<sd_bus_message, decltype(&sd_bus_message_unref)> reply(
        rawReply, &sd_bus_message_unref);
    if (result.status < 0) {
        result.errorName = error.name ? error.name : "";
        result.text = error.message ? error.message : "";
    } else if (reply && sd_bus_message_peek_type(reply.get(), nullptr, nullptr) > 0) {
        const char* first = nullptr;
        if (sd_bus_message_read_basic(reply.get(), 's', &first) > 0)
            result.text = first;
    } else {
        result.status = 0;
    }
    if (result.status > 0)
        result.status = 0;
    sd_bus_error_free(&error);
    return result;
}

void appendPathAndPermission(sd_bus_message* message, const fs::path& bundle)
{
    REQUIRE(sd_bus_message_append(message, "s", bundle.c_str()) >= 0);
    REQUIRE(sd_bus_message_append_array(message, 'y', nullptr, 0) >= 0);
}

void appendInstall(sd_bus_message* message, const fs::path& bundle, const std::string& sha256)
{
    REQUIRE(sd_bus_message_append(message, "ss", bundle.c_str(), sha256.c_str()) >= 0);
    REQUIRE(sd_bus_message_append_array(message, 'y', nullptr, 0) >= 0);
}

std::string manifestSha256(const fs::path& bundle)
{
    meldpunt::fsutil::FileDescriptor fd(::open(bundle.c_str(), O_RDONLY | O_CLOEXEC));
    const BundleHeader header =
        parseBundleHeader(readAt(fd.get(), 0, kBundleHeaderSize), fs::file_size(bundle));
    return toHex(sha256Of(readAt(fd.get(), header.manifestOffset, header.manifestLength)));
}

// Runs `body` in a child process under `uid` and returns its outcome
// through a pipe. The bundle descriptor is opened before the privileges
// are dropped, as meldpuntd keeps an uploaded bundle open.
CallResult callAs(
    unsigned uid, const std::string& address, const std::function<CallResult(sd_bus*)>& body)
{
    int pipeFds[2];
    REQUIRE(::pipe2(pipeFds, O_CLOEXEC) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(pipeFds[0]);
        if (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 ||
            ::setresuid(uid, uid, uid) != 0)
            ::_exit(90);
        CallResult result;
        try {
            sd_bus* raw = nullptr;
            if (sd_bus_new(&raw) < 0 || sd_bus_set_address(raw, address.c_str()) < 0 ||
                sd_bus_set_bus_client(raw, 1) < 0 || sd_bus_start(raw) < 0)
                ::_exit(91);
            BusPtr bus(raw);
            result = body(bus.get());
        } catch (...) {
            ::_exit(92);
        }
        const std::string line =
            std::to_string(result.status) + "\n" + result.errorName + "\n" + result.text;
        [[maybe_unused]] const ssize_t written = ::write(pipeFds[1], line.data(), line.size());
        ::_exit(0);
    }
    ::close(pipeFds[1]);
    std::string output;
    char buffer[4096];
    for (ssize_t n; (n = ::read(pipeFds[0], buffer, sizeof buffer)) > 0;)
        output.append(buffer, static_cast<std::size_t>(n));
    ::close(pipeFds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    CallResult result;
    const std::size_t first = output.find('\n');
    const std::size_t second = output.find('\n', first + 1);
    result.status = std::stoi(output.substr(0, first));
    result.errorName = output.substr(first + 1, second - first - 1);
    result.text = output.substr(second + 1);
    return result;
}

// The updater service on a private bus, with the Completed signals it sent.
class ServiceUnderTest {
public:
    explicit ServiceUnderTest(UpdaterBox& box)
        : box_(box)
        , bus_(box.root())
    {
        client_ = connect(bus_.address());
        start();
        REQUIRE(sd_bus_match_signal(client_.get(), nullptr, nullptr, kObjectPath, kInterface,
                    "Completed", &ServiceUnderTest::onCompleted, this) >= 0);
    }

    // Starts meldpunt-updated and waits until it owns its bus name.
    void start()
    {
        process_ = std::make_unique<Process>(
            std::vector<std::string>{
                (fs::path(MELDPUNT_BINARY_DIR) / "updater" / "meldpunt-updated").string(),
                "--config", box_.configFile().string(), "--bus-address", bus_.address() },
            Process::Options({ "TSS2_LOG=all+none" }, box_.root() / "updated.log"));
        REQUIRE(waitFor(
            [&] {
                int owned = 0;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message* reply = nullptr;
                if (sd_bus_call_method(client_.get(), "org.freedesktop.DBus",
                        "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner", &error,
                        &reply, "s", kBusName) >= 0)
                    sd_bus_message_read(reply, "b", &owned);
                sd_bus_message_unref(reply);
                sd_bus_error_free(&error);
                return owned != 0;
            },
            std::chrono::seconds(15)));
    }

    // Sends SIGKILL to the service and reaps it; the bus stays up.
    void kill() { process_->kill(); }

    sd_bus* client() { return client_.get(); }
    const std::string address() const { return bus_.address(); }
    std::string log() const { return process_->log(); }

    // Waits for the next Completed signal and returns (success, message).
    std::pair<bool, std::string> waitForCompletion()
    {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (!completed_ && std::chrono::steady_clock::now() < deadline) {
            if (sd_bus_process(client_.get(), nullptr) > 0)
                continue;
            sd_bus_wait(client_.get(), 100'000);
        }
        REQUIRE(completed_);
        completed_ = false;
        return { success_, message_ };
    }

    // Drops the signals received so far, such as the Completed signal of
    // an install whose service was killed afterwards.
    void discardSignals()
    {
        while (sd_bus_process(client_.get(), nullptr) > 0) {
        }
        completed_ = false;
    }

    std::string stringProperty(const char* name)
    {
        char* value = nullptr;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        REQUIRE(sd_bus_get_property_string(
                    client_.get(), kBusName, kObjectPath, kInterface, name, &error, &value) >= 0);
        std::string result = value;
        std::free(value);
        return result;
    }

    unsigned progress()
    {
        std::uint32_t value = 0;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        REQUIRE(sd_bus_get_property_trivial(client_.get(), kBusName, kObjectPath, kInterface,
                    "Progress", &error, 'u', &value) >= 0);
        return value;
    }

private:
    static int onCompleted(sd_bus_message* message, void* userdata, sd_bus_error*)
    {
        auto* self = static_cast<ServiceUnderTest*>(userdata);
        int success = 0;
        const char* text = nullptr;
        if (sd_bus_message_read(message, "bs", &success, &text) >= 0) {
            self->success_ = success != 0;
            self->message_ = text;
            self->completed_ = true;
        }
        return 0;
    }

    UpdaterBox& box_;
    PrivateBus bus_;
    std::unique_ptr<Process> process_;
    BusPtr client_;
    bool completed_ = false;
    bool success_ = false;
    std::string message_;
};

} // namespace

TEST_CASE("updater service installs only the confirmed bundle", "[updater]")
{
    UpdaterBox box("updater-service");
    ServiceUnderTest service(box);
    const std::string oldA = box.slotSha256(Slot::A);
    const std::string oldB = box.slotSha256(Slot::B);
    UpdaterBox::BundleOptions options;
    options.imageSize = UpdaterBox::kSlotSize - 4096;
    const fs::path bundle = box.makeBundle("service", options);
    const std::string sha256 = manifestSha256(bundle);
    INFO(service.log());

    SECTION("reads the manifest, installs and reports progress")
    {
        const CallResult manifest = call(service.client(), "ReadManifest",
            [&](sd_bus_message* m) { appendPathAndPermission(m, bundle); });
        REQUIRE(manifest.status == 0);
        CHECK_THAT(manifest.text, ContainsSubstring("\"version\":\"1.1.0\""));
        CHECK(service.stringProperty("Operation") == "idle");
        CHECK(service.stringProperty("BootedSlot") == "a");

        const CallResult install = call(service.client(), "Install",
            [&](sd_bus_message* m) { appendInstall(m, bundle, sha256); });
        REQUIRE(install.status == 0);
        const auto [success, message] = service.waitForCompletion();
        CHECK(success);
        CHECK_THAT(message, ContainsSubstring("Installed version 1.1.0"));
        CHECK(service.stringProperty("Operation") == "done");
        CHECK(service.progress() == 100);
        CHECK(fs::exists(box.rebootMarker()));
        CHECK(box.slotSha256(Slot::B) != oldB);
    }
    SECTION("rejects a bundle whose hash was not confirmed")
    {
        const CallResult install = call(service.client(), "Install",
            [&](sd_bus_message* m) { appendInstall(m, bundle, std::string(64, 'a')); });
        CHECK(install.status < 0);
        CHECK(install.errorName == "org.meldpunt.Updater1.BundleRejected");
        CHECK_THAT(install.text, ContainsSubstring("not the confirmed"));
        CHECK(box.slotSha256(Slot::B) == oldB);
    }
    SECTION("rejects a flipped manifest byte when reading the manifest")
    {
        const std::size_t at = readAll(bundle).find("\"1.1.0\"");
        REQUIRE(at != std::string::npos);
        flipByte(bundle, at + 5); // "1.1.0" becomes "1.1.1"
        const CallResult manifest = call(service.client(), "ReadManifest",
            [&](sd_bus_message* m) { appendPathAndPermission(m, bundle); });
        CHECK(manifest.status < 0);
        CHECK(manifest.errorName == "org.meldpunt.Updater1.BundleRejected");
        CHECK_THAT(manifest.text, ContainsSubstring("does not match the manifest"));
    }
    SECTION("reports a flipped payload byte as a failed install")
    {
        const std::string bytes = readAll(bundle);
        const BundleHeader header = parseBundleHeader(
            std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + kBundleHeaderSize),
            bytes.size());
        flipByte(bundle, header.imagesOffset + 4'000'000);
        REQUIRE(call(service.client(), "Install", [&](sd_bus_message* m) {
            appendInstall(m, bundle, sha256);
        }).status == 0);
        const auto [success, message] = service.waitForCompletion();
        CHECK_FALSE(success);
        CHECK_THAT(message, ContainsSubstring("does not match the signed manifest"));
        CHECK(service.stringProperty("Operation") == "failed");
        CHECK_THAT(service.stringProperty("LastError"),
            ContainsSubstring("does not match the signed manifest"));
        CHECK(box.slotSha256(Slot::B) == oldB);
    }
    SECTION("cancels a running install")
    {
        // Cancel is sent right behind Install, without waiting for its
        // reply, so that the service reads it while the install has only
        // just started, however fast the file-backed slot is written.
        sd_bus_message* rawInstall = nullptr;
        REQUIRE(sd_bus_message_new_method_call(
                    service.client(), &rawInstall, kBusName, kObjectPath, kInterface, "Install") >= 0);
        std::unique_ptr<sd_bus_message, decltype(&sd_bus_message_unref)> install(
            rawInstall, &sd_bus_message_unref);
        appendInstall(install.get(), bundle, sha256);
        int installReply = 0; // 1 for a method return, -1 for an error
        const auto onInstallReply = [](sd_bus_message* reply, void* userdata, sd_bus_error*) {
            *static_cast<int*>(userdata) = sd_bus_message_is_method_error(reply, nullptr) ? -1 : 1;
            return 0;
        };
        REQUIRE(sd_bus_call_async(service.client(), nullptr, install.get(), onInstallReply,
                    &installReply, 30'000'000) >= 0);
        REQUIRE(call(service.client(), "Cancel", [](sd_bus_message*) {}).status == 0);
        const auto [success, message] = service.waitForCompletion();
        CHECK(installReply == 1);
        CHECK_FALSE(success);
        CHECK_THAT(message, ContainsSubstring("cancelled"));
        CHECK(BootEntries(box.esp()).list().size() == 1);
        CHECK(simulateBoot(box.esp()) == Slot::A);
    }
    CHECK(box.slotSha256(Slot::A) == oldA);
}

TEST_CASE("updater service killed while writing leaves a bootable box", "[updater]")
{
    UpdaterBox box("updater-service-kill");
    ServiceUnderTest service(box);
    const std::string oldA = box.slotSha256(Slot::A);
    UpdaterBox::BundleOptions options;
    options.imageSize = UpdaterBox::kSlotSize - 4096;
    const fs::path bundle = box.makeBundle("service-kill", options);
    const std::string sha256 = manifestSha256(bundle);
    const std::string image = fileSha256(box.root() / "service-kill.rootfs");

    // Each round kills the service once the Progress property passes a
    // random point of the slot write (30 to 75 percent), after a further
    // random pause of up to 2 ms.
    std::mt19937 random(20261205);
    constexpr int kRounds = 6;
    int killedWhileWriting = 0;
    for (int round = 0; round < kRounds; ++round) {
        const unsigned target = std::uniform_int_distribution<unsigned>(31, 74)(random);
        const auto pause =
            std::chrono::microseconds(std::uniform_int_distribution<long>(0, 2000)(random));
        REQUIRE(call(service.client(), "Install", [&](sd_bus_message* m) {
            appendInstall(m, bundle, sha256);
        }).status == 0);
        std::string operation;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (std::chrono::steady_clock::now() < deadline) {
            operation = service.stringProperty("Operation");
            if (operation == "done" || operation == "failed" ||
                (operation == "writing" && service.progress() >= target))
                break;
        }
        std::this_thread::sleep_for(pause);
        service.kill();

        INFO("round " << round << ", target " << target << "%, last operation " << operation);
        if (operation == "writing")
            ++killedWhileWriting;
        CHECK(box.slotSha256(Slot::A) == oldA);
        for (const BootEntry& entry : BootEntries(box.esp()).list()) {
            if (entry.slot != Slot::B)
                continue;
            // An entry for slot B exists only once the slot read back as
            // the image.
            meldpunt::fsutil::FileDescriptor fd(
                ::open(box.slot(Slot::B).c_str(), O_RDONLY | O_CLOEXEC));
            CHECK(toHex(sha256Of(readAt(fd.get(), 0, options.imageSize))) == image);
            BootEntries(box.esp()).removeSlot(Slot::B);
        }
        CHECK(simulateBoot(box.esp()) == Slot::A);
        service.start();
    }
    CHECK(killedWhileWriting >= kRounds / 2);

    // The killed services left no lock: an install runs to the end.
    fs::remove(box.rebootMarker());
    service.discardSignals();
    REQUIRE(call(service.client(), "Install", [&](sd_bus_message* m) {
        appendInstall(m, bundle, sha256);
    }).status == 0);
    const auto [success, message] = service.waitForCompletion();
    INFO(message);
    CHECK(success);
    CHECK(fs::exists(box.rebootMarker()));
}

TEST_CASE("updater bus policy admits only root and meldpuntd's user", "[updater]")
{
    if (::geteuid() != 0)
        SKIP("calling the bus under other users needs root");
    UpdaterBox box("updater-policy");
    ServiceUnderTest service(box);
    const fs::path bundle = box.makeBundle("policy");
    const std::string sha256 = manifestSha256(bundle);
    meldpunt::fsutil::FileDescriptor fd(::open(bundle.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);

    const auto readManifest = [&](sd_bus* bus) {
        return call(bus, "ReadManifestFromFd", [&](sd_bus_message* m) {
            REQUIRE(sd_bus_message_append(m, "h", fd.get()) >= 0);
            REQUIRE(sd_bus_message_append_array(m, 'y', nullptr, 0) >= 0);
        });
    };

    SECTION("meldpuntd's user reads a manifest from a descriptor and installs it")
    {
        const CallResult manifest = callAs(kDaemonUid, service.address(), readManifest);
        INFO(manifest.text);
        CHECK(manifest.status == 0);
        CHECK_THAT(manifest.text, ContainsSubstring("meldpunt-bundle-manifest"));
        const CallResult install = callAs(kDaemonUid, service.address(), [&](sd_bus* bus) {
            return call(bus, "InstallFromFd", [&](sd_bus_message* m) {
                REQUIRE(sd_bus_message_append(m, "hs", fd.get(), sha256.c_str()) >= 0);
                REQUIRE(sd_bus_message_append_array(m, 'y', nullptr, 0) >= 0);
            });
        });
        INFO(install.text);
        CHECK(install.status == 0);
        CHECK(service.waitForCompletion().first);
    }
    SECTION("another user is denied every call and property")
    {
        const CallResult manifest = callAs(kStrangerUid, service.address(), readManifest);
        CHECK(manifest.status < 0);
        CHECK(manifest.errorName == "org.freedesktop.DBus.Error.AccessDenied");
        const CallResult property = callAs(kStrangerUid, service.address(), [](sd_bus* bus) {
            CallResult result;
            sd_bus_error error = SD_BUS_ERROR_NULL;
            char* value = nullptr;
            result.status = sd_bus_get_property_string(
                bus, kBusName, kObjectPath, kInterface, "Operation", &error, &value);
            result.errorName = error.name ? error.name : "";
            std::free(value);
            sd_bus_error_free(&error);
            return result;
        });
        CHECK(property.status < 0);
        CHECK(property.errorName == "org.freedesktop.DBus.Error.AccessDenied");
        const CallResult cancel = callAs(kStrangerUid, service.address(),
            [](sd_bus* bus) { return call(bus, "Cancel", [](sd_bus_message*) {}); });
        CHECK(cancel.errorName == "org.freedesktop.DBus.Error.AccessDenied");
    }
}

namespace {

TestCertificateOptions withOptions(const std::function<void(TestCertificateOptions&)>& change)
{
    TestCertificateOptions options;
    change(options);
    return options;
}

CallResult installCertificateCall(sd_bus* bus, const std::string& edge, const TestCertificate& pair)
{
    return call(bus, "InstallCertificate", [&](sd_bus_message* m) {
        REQUIRE(sd_bus_message_append(m, "sss", edge.c_str(), pair.certificatePem.c_str(), pair.keyPem.c_str()) >= 0);
    });
}

unsigned modeOf(const fs::path& path)
{
    struct stat status {};
    REQUIRE(::stat(path.c_str(), &status) == 0);
    return status.st_mode & 07777;
}

// The generation folders of one edge in the certificate folder.
std::size_t generationsOf(const fs::path& folder, const std::string& edge)
{
    std::size_t count = 0;
    for (const auto& entry : fs::directory_iterator(folder))
        if (entry.is_directory() && !entry.is_symlink() && entry.path().filename().string().starts_with(edge + "."))
            ++count;
    return count;
}

} // namespace

TEST_CASE("updater installs a checked TLS certificate", "[updater]")
{
    UpdaterBox box("updater-certificate");
    // The restart command stands in for systemctl: it records the
    // fingerprint of the certificate that the edge would load through
    // public.pem at its start.
    const fs::path marker = box.root() / "public-restarted";
    const fs::path restart = box.root() / "restart-public";
    std::ofstream(restart) << "#!/bin/sh\nset -e\nopenssl x509 -in '" << (box.tlsFolder() / "public.pem").string()
                           << "' -noout -fingerprint -sha256 >'" << marker.string() << "'\n";
    fs::permissions(restart, fs::perms(0755));
    box.setEdgeRestartCommands(restart.string(), "/bin/false");
    // The image's own pair, as regular files.
    fs::create_directories(box.tlsFolder());
    const TestCertificate imagePair = makeTestCertificate(withOptions([](TestCertificateOptions& o) { o.commonName = "image"; }));
    std::ofstream(box.tlsFolder() / "public.pem") << imagePair.certificatePem;
    std::ofstream(box.tlsFolder() / "public.key") << imagePair.keyPem;
    ServiceUnderTest service(box);

    const TestCertificate uploaded = makeTestCertificate(withOptions([](TestCertificateOptions& o) { o.alternativeNames = "DNS:meldpunt.example, IP:192.0.2.7"; }));
    const CallResult installed = installCertificateCall(service.client(), "public", uploaded);
    INFO(installed.errorName << ": " << installed.text << "\n" << service.log());
    REQUIRE(installed.status == 0);
    CHECK(installed.text == "CN=meldpunt.example");
    CHECK(readAll(box.tlsFolder() / "public.pem") == uploaded.certificatePem);
    CHECK(readAll(box.tlsFolder() / "public.key") == uploaded.keyPem);
    CHECK(fs::is_symlink(box.tlsFolder() / "public.pem"));
    CHECK(fs::is_symlink(box.tlsFolder() / "public.key"));
    CHECK(modeOf(box.tlsFolder() / "public.key") == 0600);
    CHECK(modeOf(box.tlsFolder() / "public.pem") == 0644);
    // The restart ran after the new pair was in place.
    const std::string restarted = readAll(marker);
    const auto fingerprintOf = [](std::string text) {
        text = text.substr(text.find('=') + 1);
        std::string hex;
        for (const char c : text)
            if (std::isxdigit(static_cast<unsigned char>(c)))
                hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return hex;
    };
    CHECK(fingerprintOf(restarted).size() == 64);

    SECTION("a second certificate replaces the first and its folder")
    {
        const TestCertificate renewed = makeTestCertificate(withOptions([](TestCertificateOptions& o) { o.alternativeNames = "DNS:renewed.example"; o.commonName = "renewed.example"; }));
        const CallResult again = installCertificateCall(service.client(), "public", renewed);
        INFO(again.text);
        REQUIRE(again.status == 0);
        CHECK(readAll(box.tlsFolder() / "public.pem") == renewed.certificatePem);
        CHECK(readAll(box.tlsFolder() / "public.key") == renewed.keyPem);
        CHECK(generationsOf(box.tlsFolder(), "public") == 1);
        CHECK(fingerprintOf(readAll(marker)) != fingerprintOf(restarted));
    }

    SECTION("a rejected pair changes nothing and says why")
    {
        const TestCertificate other = makeTestCertificate();
        struct Case {
            const char* what;
            std::string edge;
            TestCertificate pair;
            const char* message;
        };
        const Case cases[] = {
            {"key of another certificate", "public", {uploaded.certificatePem, other.keyPem},
                "does not belong to this certificate"},
            {"expired", "public", makeTestCertificate(withOptions([](TestCertificateOptions& o) { o.notBeforeOffset = -90L * 86400; o.notAfterOffset = -86400; })),
                "expired on"},
            {"not yet valid", "public", makeTestCertificate(withOptions([](TestCertificateOptions& o) { o.notBeforeOffset = 86400; })), "valid only from"},
            {"no alternative name", "public", makeTestCertificate(withOptions([](TestCertificateOptions& o) { o.alternativeNames = ""; })),
                "names no host name or address"},
            {"short RSA key", "public", makeTestCertificate(withOptions([](TestCertificateOptions& o) { o.keyType = "rsa"; o.rsaBits = 1024; })), "1024 bits"},
            {"encrypted key", "public", makeTestCertificate(withOptions([](TestCertificateOptions& o) { o.passphrase = "secret words"; })),
                "protected by a passphrase"},
            {"not PEM", "public", {"certificate", uploaded.keyPem}, "is not a PEM certificate"},
            {"no key", "public", {uploaded.certificatePem, ""}, "private key is missing"},
            {"key in the certificate field", "public", {uploaded.certificatePem + uploaded.keyPem, uploaded.keyPem},
                "contains a private key"},
            {"unknown edge", "partner", uploaded, "is unknown"},
        };
        fs::remove(marker);
        for (const auto& rejected : cases) {
            INFO(rejected.what);
            const CallResult result = installCertificateCall(service.client(), rejected.edge, rejected.pair);
            CHECK(result.status < 0);
            CHECK(result.errorName == "org.meldpunt.Updater1.CertificateRejected");
            CHECK_THAT(result.text, ContainsSubstring(rejected.message));
        }
        CHECK(readAll(box.tlsFolder() / "public.pem") == uploaded.certificatePem);
        CHECK(readAll(box.tlsFolder() / "public.key") == uploaded.keyPem);
        CHECK(generationsOf(box.tlsFolder(), "public") == 1);
        CHECK_FALSE(fs::exists(marker));
    }

    SECTION("a failed restart is reported after the install")
    {
        const CallResult staff = installCertificateCall(service.client(), "staff", uploaded);
        CHECK(staff.status < 0);
        CHECK(staff.errorName == "org.meldpunt.Updater1.EdgeRestartFailed");
        CHECK_THAT(staff.text, ContainsSubstring("The certificate is installed"));
        CHECK(readAll(box.tlsFolder() / "staff.pem") == uploaded.certificatePem);
    }
}
