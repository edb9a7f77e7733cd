#include "UpdaterService.h"

#include "BundleVerifier.h"
#include "CertificateInstaller.h"
#include "Installer.h"
#include "NetworkInstaller.h"
#include "SecurityEpoch.h"
#include "UpdateError.h"

#include "Log.h"

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

namespace meldpunt::updater {

namespace {

// Stable ids for the journal's update events (docs/updates.md).
constexpr const char* kAcceptedMessageId = "6d0c5f4b2a8e4f37a1b9e2c7d4f6a803";
constexpr const char* kRejectedMessageId = "b3e7a91c5d2f4e68a0c4d9f1e2b7c615";
constexpr const char* kInstalledMessageId = "2f9a4c7e1b6d4a53b8e0f3c2d5a7e914";
constexpr const char* kCertificateMessageId = "9c4e1a7d3b5f4e28a6d0c2b8e4f1a357";

struct BusUnref {
    void operator()(sd_bus* bus) const { sd_bus_flush_close_unref(bus); }
};
struct EventUnref {
    void operator()(sd_event* event) const { sd_event_unref(event); }
};
struct SlotUnref {
    void operator()(sd_bus_slot* slot) const { sd_bus_slot_unref(slot); }
};
struct SourceUnref {
    void operator()(sd_event_source* source) const { sd_event_source_unref(source); }
};

// The state the worker thread shares with the bus thread.
struct SharedState {
    std::mutex mutex;
    std::string operation = "idle";
    unsigned progress = 0;
    std::string lastError;
    bool completed = false; // a Completed signal is waiting to be sent
    bool success = false;
    std::string completionMessage;
};

class Service {
public:
    Service(const UpdaterConfig& config, sd_bus* bus)
        : config_(config)
        , bus_(bus)
        , wakeFd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
    {
        if (!wakeFd_)
            throw UpdateError(
                std::string("Failed to create an eventfd: ") + std::strerror(errno) + ".");
    }

    ~Service()
    {
        cancel_.store(true);
        if (worker_.joinable())
            worker_.join();
    }

    int wakeFd() const { return wakeFd_.get(); }

    // Runs on the bus thread when the worker has news.
    void publish()
    {
        std::uint64_t count = 0;
        [[maybe_unused]] const ssize_t ignored = ::read(wakeFd_.get(), &count, sizeof count);
        sd_bus_emit_properties_changed(bus_, kObjectPath, kInterface, "Operation", "Progress",
            "LastError", "SecurityEpoch", nullptr);
        bool completed = false;
        bool success = false;
        std::string message;
        {
            std::lock_guard lock(state_.mutex);
            std::swap(completed, state_.completed);
            success = state_.success;
            message = state_.completionMessage;
        }
        if (completed) {
            sd_bus_emit_signal(
                bus_, kObjectPath, kInterface, "Completed", "bs", success ? 1 : 0, message.c_str());
            if (worker_.joinable())
                worker_.join();
        }
    }

    VerifiedBundle verify(fsutil::FileDescriptor fd, std::span<const std::uint8_t> permission)
    {
        return verifyBundle(std::move(fd), config_, recordedEpoch(), permission);
    }

    std::uint32_t recordedEpoch()
    {
        SecurityEpochStore epochs(config_);
        return std::max(epochs.read(), config_.runningEpoch);
    }

    bool busy()
    {
        std::lock_guard lock(state_.mutex);
        return worker_.joinable() || running_;
    }

    void startInstall(VerifiedBundle bundle)
    {
        {
            std::lock_guard lock(state_.mutex);
            running_ = true;
            state_.operation = std::string(describe(InstallStep::Preflight));
            state_.progress = 0;
            state_.lastError.clear();
        }
        cancel_.store(false);
        worker_ =
            std::thread([this, verified = std::make_shared<VerifiedBundle>(std::move(bundle))] {
                runInstall(*verified);
            });
    }

    void cancel() { cancel_.store(true); }

    std::string operation()
    {
        std::lock_guard lock(state_.mutex);
        return state_.operation;
    }
    unsigned progress()
    {
        std::lock_guard lock(state_.mutex);
        return state_.progress;
    }
    std::string lastError()
    {
        std::lock_guard lock(state_.mutex);
        return state_.lastError;
    }
    const UpdaterConfig& config() const { return config_; }

private:
    void wake()
    {
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t ignored = ::write(wakeFd_.get(), &one, sizeof one);
    }

    void runInstall(const VerifiedBundle& bundle)
    {
        unsigned lastPercent = 101;
        InstallStep lastStep = InstallStep::Preflight;
        const auto progress = [&](InstallStep step, unsigned percent) {
            if (percent == lastPercent && step == lastStep)
                return;
            lastPercent = percent;
            lastStep = step;
            {
                std::lock_guard lock(state_.mutex);
                state_.operation = std::string(describe(step));
                state_.progress = percent;
            }
            wake();
        };
        bool success = false;
        std::string message;
        try {
            installBundle(bundle, config_, progress, cancel_);
            success = true;
            message =
                "Installed version " + bundle.manifest.version + "; the box restarts into it.";
            log::securityEvent(kInstalledMessageId,
                "Installed update " + bundle.manifest.version + " (manifest SHA-256 " +
                    toHex(bundle.manifestSha256) + ").");
        } catch (const std::exception& error) {
            message = error.what();
            log::error(std::string("Failed to install the bundle: ") + message);
        }
        {
            std::lock_guard lock(state_.mutex);
            state_.operation = success ? "done" : "failed";
            state_.lastError = success ? std::string() : message;
            state_.completed = true;
            state_.success = success;
            state_.completionMessage = message;
            running_ = false;
        }
        wake();
    }

    const UpdaterConfig& config_;
    sd_bus* bus_;
    fsutil::FileDescriptor wakeFd_;
    SharedState state_;
    bool running_ = false;
    std::atomic<bool> cancel_{ false };
    std::thread worker_;
};

Service& serviceOf(void* userdata)
{
    return *static_cast<Service*>(userdata);
}

int replyError(sd_bus_error* error, const char* name, const std::string& message)
{
    return sd_bus_error_set(error, name, message.c_str());
}

// Reads the bundle argument, a path ("s") or a descriptor ("h"), and opens
// or duplicates it, so the service keeps one descriptor of its own.
fsutil::FileDescriptor bundleArgument(sd_bus_message* message, bool byDescriptor)
{
    if (byDescriptor) {
        int fd = -1;
        if (sd_bus_message_read(message, "h", &fd) < 0)
            throw UpdateError("The bundle argument is not a file descriptor.");
        fsutil::FileDescriptor copy(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
        if (!copy)
            throw UpdateError(std::string("Failed to duplicate the bundle descriptor: ") +
                std::strerror(errno) + ".");
        return copy;
    }
    const char* path = nullptr;
    if (sd_bus_message_read(message, "s", &path) < 0 || !path || path[0] != '/')
        throw UpdateError("The bundle path must be absolute.");
    fsutil::FileDescriptor fd(::open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd)
        throw UpdateError(
            "Failed to open the bundle '" + std::string(path) + "': " + std::strerror(errno) + ".");
    return fd;
}

std::vector<std::uint8_t> bytesArgument(sd_bus_message* message)
{
    const void* data = nullptr;
    std::size_t size = 0;
    if (sd_bus_message_read_array(message, 'y', &data, &size) < 0)
        throw UpdateError("The downgrade permission argument is not a byte array.");
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    return std::vector<std::uint8_t>(bytes, bytes + size);
}

int readManifest(sd_bus_message* message, void* userdata, sd_bus_error* error, bool byDescriptor)
{
    try {
        fsutil::FileDescriptor fd = bundleArgument(message, byDescriptor);
        const std::vector<std::uint8_t> permission = bytesArgument(message);
        const VerifiedBundle bundle = serviceOf(userdata).verify(std::move(fd), permission);
        return sd_bus_reply_method_return(message, "sssb", bundle.manifestJson.c_str(),
            toHex(bundle.manifestSha256).c_str(), bundle.signer.subject.c_str(),
            bundle.downgrade ? 1 : 0);
    } catch (const std::exception& failure) {
        log::securityEvent(
            kRejectedMessageId, std::string("Rejected an update bundle: ") + failure.what());
        return replyError(error, "org.meldpunt.Updater1.BundleRejected", failure.what());
    }
}

int install(sd_bus_message* message, void* userdata, sd_bus_error* error, bool byDescriptor)
{
    Service& service = serviceOf(userdata);
    if (service.busy())
        return replyError(error, "org.meldpunt.Updater1.Busy",
            "An install is already running. Wait for it to finish.");
    try {
        fsutil::FileDescriptor fd = bundleArgument(message, byDescriptor);
        const char* expected = nullptr;
        if (sd_bus_message_read(message, "s", &expected) < 0 || !expected)
            throw UpdateError("The manifest SHA-256 argument is missing.");
        const std::vector<std::uint8_t> permission = bytesArgument(message);
        VerifiedBundle bundle = service.verify(std::move(fd), permission);
        // The technician confirmed one exact bundle; a different file at the
        // same path, or a bundle swapped since its manifest was shown, fails.
        if (toHex(bundle.manifestSha256) != expected)
            throw UpdateError("The bundle's manifest SHA-256 is " + toHex(bundle.manifestSha256) +
                ", not the confirmed " + expected +
                ". Read the manifest again and confirm that bundle.");
        log::securityEvent(kAcceptedMessageId,
            "Accepted update bundle " + bundle.manifest.version + " signed by " +
                bundle.signer.subject + " (manifest SHA-256 " + toHex(bundle.manifestSha256) +
                ").");
        service.startInstall(std::move(bundle));
        return sd_bus_reply_method_return(message, "");
    } catch (const std::exception& failure) {
        log::securityEvent(
            kRejectedMessageId, std::string("Rejected an update bundle: ") + failure.what());
        return replyError(error, "org.meldpunt.Updater1.BundleRejected", failure.what());
    }
}

int onReadManifest(sd_bus_message* m, void* u, sd_bus_error* e)
{
    return readManifest(m, u, e, false);
}
int onReadManifestFromFd(sd_bus_message* m, void* u, sd_bus_error* e)
{
    return readManifest(m, u, e, true);
}
int onInstall(sd_bus_message* m, void* u, sd_bus_error* e)
{
    return install(m, u, e, false);
}
int onInstallFromFd(sd_bus_message* m, void* u, sd_bus_error* e)
{
    return install(m, u, e, true);
}

// InstallCertificate(edge, certificate, key): checks the PEM pair, installs
// it for the public or the staff edge and restarts that edge.
int onInstallCertificate(sd_bus_message* message, void* userdata, sd_bus_error* error)
{
    const char* edge = nullptr;
    const char* certificate = nullptr;
    const char* key = nullptr;
    if (sd_bus_message_read(message, "sss", &edge, &certificate, &key) < 0 || !edge || !certificate || !key)
        return replyError(error, "org.meldpunt.Updater1.CertificateRejected",
            "The call must pass the edge, the certificate and the key as three strings.");
    try {
        const CertificateSummary summary
            = installCertificate(serviceOf(userdata).config(), edge, certificate, key, std::time(nullptr));
        log::securityEvent(kCertificateMessageId,
            std::string("Installed a TLS certificate for the ") + edge + " edge: " + summary.subject + ", "
                + summary.names + ", valid until " + summary.notAfter + " (SHA-256 " + summary.sha256 + ").");
        return sd_bus_reply_method_return(message, "ssss", summary.subject.c_str(), summary.names.c_str(),
            summary.notAfter.c_str(), summary.sha256.c_str());
    } catch (const CertificateRejectedError& failure) {
        log::notice(std::string("Rejected a TLS certificate for the ") + edge + " edge: " + failure.what());
        return replyError(error, "org.meldpunt.Updater1.CertificateRejected", failure.what());
    } catch (const EdgeRestartError& failure) {
        log::error(failure.what());
        return replyError(error, "org.meldpunt.Updater1.EdgeRestartFailed", failure.what());
    } catch (const std::exception& failure) {
        log::error(failure.what());
        return replyError(error, SD_BUS_ERROR_FAILED, failure.what());
    }
}

// DescribeCertificate(edge): the certificate the edge uses now, so that
// the setup page can show its fingerprint before anything is replaced.
int onDescribeCertificate(sd_bus_message* message, void* userdata, sd_bus_error* error)
{
    const char* edge = nullptr;
    if (sd_bus_message_read(message, "s", &edge) < 0 || !edge)
        return replyError(error, "org.meldpunt.Updater1.CertificateRejected", "The call must pass the edge as a string.");
    try {
        const CertificateSummary summary = describeInstalledCertificate(serviceOf(userdata).config(), edge);
        return sd_bus_reply_method_return(message, "ssss", summary.subject.c_str(), summary.names.c_str(),
            summary.notAfter.c_str(), summary.sha256.c_str());
    } catch (const CertificateRejectedError& failure) {
        return replyError(error, "org.meldpunt.Updater1.CertificateRejected", failure.what());
    } catch (const std::exception& failure) {
        log::error(failure.what());
        return replyError(error, SD_BUS_ERROR_FAILED, failure.what());
    }
}

// ApplyNetwork(addressing, address, prefixLength, gateway, dns,
// staffAddress, staffLan): checks the setup page's network settings
// again, stores them on the data partition and applies them.
int onApplyNetwork(sd_bus_message* message, void* userdata, sd_bus_error* error)
{
    const char* fields[7] = {};
    if (sd_bus_message_read(message, "sssssss", &fields[0], &fields[1], &fields[2], &fields[3], &fields[4], &fields[5],
            &fields[6])
        < 0)
        return replyError(error, "org.meldpunt.Updater1.NetworkRejected",
            "The call must pass the seven network fields as strings.");
    for (const char* field : fields)
        if (!field)
            return replyError(error, "org.meldpunt.Updater1.NetworkRejected",
                "The call must pass the seven network fields as strings.");
    const network::NetworkForm form {fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6]};
    try {
        const network::NetworkSettings settings = applyNetworkSettings(serviceOf(userdata).config(), form);
        log::notice(std::string("Stored and applied the network settings: ")
            + (settings.staticAddressing ? "fixed address " + settings.address + "/" + std::to_string(settings.prefixLength)
                                         : std::string("DHCP"))
            + ", staff address " + settings.staffAddress + ".");
        return sd_bus_reply_method_return(message, "");
    } catch (const NetworkRejectedError& failure) {
        log::notice(std::string("Rejected network settings: ") + failure.what());
        return replyError(error, "org.meldpunt.Updater1.NetworkRejected", failure.what());
    } catch (const NetworkApplyError& failure) {
        log::error(failure.what());
        return replyError(error, "org.meldpunt.Updater1.NetworkApplyFailed", failure.what());
    } catch (const std::exception& failure) {
        log::error(failure.what());
        return replyError(error, SD_BUS_ERROR_FAILED, failure.what());
    }
}

int onCancel(sd_bus_message* message, void* userdata, sd_bus_error*)
{
    serviceOf(userdata).cancel();
    return sd_bus_reply_method_return(message, "");
}

int getOperation(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply,
    void* userdata, sd_bus_error*)
{
    return sd_bus_message_append(reply, "s", serviceOf(userdata).operation().c_str());
}

int getProgress(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply,
    void* userdata, sd_bus_error*)
{
    return sd_bus_message_append(reply, "u", serviceOf(userdata).progress());
}

int getLastError(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply,
    void* userdata, sd_bus_error*)
{
    return sd_bus_message_append(reply, "s", serviceOf(userdata).lastError().c_str());
}

int getBootedSlot(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply,
    void* userdata, sd_bus_error* error)
{
    try {
        const char letter[2] = { slotLetter(bootedSlot(serviceOf(userdata).config())), 0 };
        return sd_bus_message_append(reply, "s", letter);
    } catch (const std::exception& failure) {
        return replyError(error, SD_BUS_ERROR_FAILED, failure.what());
    }
}

int getSecurityEpoch(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply,
    void* userdata, sd_bus_error* error)
{
    try {
        return sd_bus_message_append(reply, "u", serviceOf(userdata).recordedEpoch());
    } catch (const std::exception& failure) {
        return replyError(error, SD_BUS_ERROR_FAILED, failure.what());
    }
}

const sd_bus_vtable kVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_NAMES("ReadManifest", "say",
        SD_BUS_PARAM(path) SD_BUS_PARAM(downgradePermission), "sssb",
        SD_BUS_PARAM(manifest) SD_BUS_PARAM(manifestSha256) SD_BUS_PARAM(signer)
            SD_BUS_PARAM(downgrade),
        onReadManifest, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("ReadManifestFromFd", "hay",
        SD_BUS_PARAM(bundle) SD_BUS_PARAM(downgradePermission), "sssb",
        SD_BUS_PARAM(manifest) SD_BUS_PARAM(manifestSha256) SD_BUS_PARAM(signer)
            SD_BUS_PARAM(downgrade),
        onReadManifestFromFd, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("Install", "ssay",
        SD_BUS_PARAM(path) SD_BUS_PARAM(manifestSha256) SD_BUS_PARAM(downgradePermission), "", ,
        onInstall, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("InstallFromFd", "hsay",
        SD_BUS_PARAM(bundle) SD_BUS_PARAM(manifestSha256) SD_BUS_PARAM(downgradePermission), "", ,
        onInstallFromFd, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Cancel", "", "", onCancel, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("InstallCertificate", "sss",
        SD_BUS_PARAM(edge) SD_BUS_PARAM(certificate) SD_BUS_PARAM(key), "ssss",
        SD_BUS_PARAM(subject) SD_BUS_PARAM(names) SD_BUS_PARAM(notAfter) SD_BUS_PARAM(sha256),
        onInstallCertificate, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("DescribeCertificate", "s", SD_BUS_PARAM(edge), "ssss",
        SD_BUS_PARAM(subject) SD_BUS_PARAM(names) SD_BUS_PARAM(notAfter) SD_BUS_PARAM(sha256),
        onDescribeCertificate, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("ApplyNetwork", "sssssss",
        SD_BUS_PARAM(addressing) SD_BUS_PARAM(address) SD_BUS_PARAM(prefixLength) SD_BUS_PARAM(gateway)
            SD_BUS_PARAM(dns) SD_BUS_PARAM(staffAddress) SD_BUS_PARAM(staffLan), "", ,
        onApplyNetwork, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_PROPERTY("Operation", "s", getOperation, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Progress", "u", getProgress, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("LastError", "s", getLastError, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("SecurityEpoch", "u", getSecurityEpoch, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("BootedSlot", "s", getBootedSlot, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_SIGNAL_WITH_NAMES("Completed", "bs", SD_BUS_PARAM(success) SD_BUS_PARAM(message), 0),
    SD_BUS_VTABLE_END,
};

[[noreturn]] void failBus(const std::string& what, int rc)
{
    throw UpdateError("Failed to " + what + ": " + std::strerror(-rc) + ".");
}

std::unique_ptr<sd_bus, BusUnref> openBus(const std::string& address)
{
    sd_bus* raw = nullptr;
    int rc = 0;
    if (address.empty()) {
        rc = sd_bus_open_system(&raw);
        if (rc < 0)
            failBus("connect to the system bus", rc);
        return std::unique_ptr<sd_bus, BusUnref>(raw);
    }
    rc = sd_bus_new(&raw);
    if (rc < 0)
        failBus("create a bus connection", rc);
    std::unique_ptr<sd_bus, BusUnref> bus(raw);
    if ((rc = sd_bus_set_address(bus.get(), address.c_str())) < 0 ||
        (rc = sd_bus_set_bus_client(bus.get(), 1)) < 0 || (rc = sd_bus_start(bus.get())) < 0)
        failBus("connect to the bus at " + address, rc);
    return bus;
}

} // namespace

int runUpdaterService(const UpdaterConfig& config, const std::string& busAddress)
{
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    sd_event* rawEvent = nullptr;
    int rc = sd_event_new(&rawEvent);
    if (rc < 0)
        failBus("create the event loop", rc);
    std::unique_ptr<sd_event, EventUnref> event(rawEvent);

    std::unique_ptr<sd_bus, BusUnref> bus = openBus(busAddress);
    Service service(config, bus.get());

    sd_bus_slot* rawSlot = nullptr;
    rc = sd_bus_add_object_vtable(bus.get(), &rawSlot, kObjectPath, kInterface, kVtable, &service);
    if (rc < 0)
        failBus("register the updater object", rc);
    std::unique_ptr<sd_bus_slot, SlotUnref> slot(rawSlot);
    if ((rc = sd_bus_attach_event(bus.get(), event.get(), SD_EVENT_PRIORITY_NORMAL)) < 0)
        failBus("attach the bus to the event loop", rc);

    sd_event_source* rawSource = nullptr;
    rc = sd_event_add_io(
        event.get(), &rawSource, service.wakeFd(), EPOLLIN,
        [](sd_event_source*, int, std::uint32_t, void* userdata) {
            static_cast<Service*>(userdata)->publish();
            return 0;
        },
        &service);
    if (rc < 0)
        failBus("watch the worker's eventfd", rc);
    std::unique_ptr<sd_event_source, SourceUnref> wakeSource(rawSource);
    if ((rc = sd_event_add_signal(event.get(), nullptr, SIGTERM, nullptr, nullptr)) < 0 ||
        (rc = sd_event_add_signal(event.get(), nullptr, SIGINT, nullptr, nullptr)) < 0)
        failBus("handle SIGTERM and SIGINT", rc);

    // The name is requested last, so no call arrives before the object exists.
    if ((rc = sd_bus_request_name(bus.get(), kBusName, 0)) < 0)
        failBus(std::string("own the bus name ") + kBusName, rc);
    log::notice(std::string("Serving ") + kBusName + ".");
    rc = sd_event_loop(event.get());
    sd_bus_detach_event(bus.get());
    return rc < 0 ? 1 : 0;
}

} // namespace meldpunt::updater
