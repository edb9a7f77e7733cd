#include "UpdaterClient.h"

#include <systemd/sd-bus.h>

#include <cstring>
#include <memory>

namespace meldpunt::staff {

namespace {

constexpr const char* kBusName = "org.meldpunt.Updater1";
constexpr const char* kObjectPath = "/org/meldpunt/Updater1";
constexpr const char* kInterface = "org.meldpunt.Updater1";
constexpr const char* kRejectedError = "org.meldpunt.Updater1.BundleRejected";
constexpr const char* kCertificateRejectedError = "org.meldpunt.Updater1.CertificateRejected";
constexpr const char* kEdgeRestartFailedError = "org.meldpunt.Updater1.EdgeRestartFailed";
constexpr const char* kNetworkRejectedError = "org.meldpunt.Updater1.NetworkRejected";
constexpr const char* kNetworkApplyFailedError = "org.meldpunt.Updater1.NetworkApplyFailed";
// Reading a manifest checks the signature only, and Install returns once
// the install has started, so a minute is generous for either.
constexpr std::uint64_t kCallTimeoutUsec = 60'000'000;

struct BusUnref {
    void operator()(sd_bus* bus) const { sd_bus_flush_close_unref(bus); }
};
using BusPtr = std::unique_ptr<sd_bus, BusUnref>;

struct MessageUnref {
    void operator()(sd_bus_message* message) const { sd_bus_message_unref(message); }
};
using MessagePtr = std::unique_ptr<sd_bus_message, MessageUnref>;

// Frees an sd_bus_error when it goes out of scope.
struct BusError {
    sd_bus_error error = SD_BUS_ERROR_NULL;
    ~BusError() { sd_bus_error_free(&error); }
};

[[noreturn]] void unavailable(const std::string& what, int rc)
{
    throw UpdaterUnavailableError(
        "Failed to " + what + ": " + std::strerror(-rc) + ". Check that meldpunt-updated is running.");
}

BusPtr connect(const std::string& address)
{
    sd_bus* raw = nullptr;
    int rc = 0;
    if (address.empty()) {
        rc = sd_bus_open_system(&raw);
        if (rc < 0)
            unavailable("connect to the system bus", rc);
        return BusPtr(raw);
    }
    rc = sd_bus_new(&raw);
    if (rc < 0)
        unavailable("create a bus connection", rc);
    BusPtr bus(raw);
    if ((rc = sd_bus_set_address(bus.get(), address.c_str())) < 0 || (rc = sd_bus_set_bus_client(bus.get(), 1)) < 0
        || (rc = sd_bus_start(bus.get())) < 0)
        unavailable("connect to the bus '" + address + "'", rc);
    return bus;
}

MessagePtr newCall(sd_bus* bus, const char* method)
{
    sd_bus_message* raw = nullptr;
    const int rc = sd_bus_message_new_method_call(bus, &raw, kBusName, kObjectPath, kInterface, method);
    if (rc < 0)
        unavailable(std::string("prepare the call ") + method, rc);
    return MessagePtr(raw);
}

MessagePtr send(sd_bus* bus, sd_bus_message* call, const char* method)
{
    BusError error;
    sd_bus_message* reply = nullptr;
    const int rc = sd_bus_call(bus, call, kCallTimeoutUsec, &error.error, &reply);
    if (rc >= 0)
        return MessagePtr(reply);
    if (sd_bus_error_has_name(&error.error, kRejectedError))
        throw BundleRejectedError(error.error.message ? error.error.message : "The bundle was rejected.");
    if (sd_bus_error_has_name(&error.error, kCertificateRejectedError))
        throw CertificateRejectedError(error.error.message ? error.error.message : "The certificate was rejected.");
    if (sd_bus_error_has_name(&error.error, kEdgeRestartFailedError))
        throw EdgeRestartFailedError(
            error.error.message ? error.error.message : "The certificate is installed, but the edge did not restart.");
    if (sd_bus_error_has_name(&error.error, kNetworkRejectedError))
        throw NetworkRejectedError(error.error.message ? error.error.message : "The network settings were rejected.");
    if (sd_bus_error_has_name(&error.error, kNetworkApplyFailedError))
        throw NetworkApplyFailedError(error.error.message ? error.error.message
                                                          : "The network settings are stored but were not applied.");
    throw UpdaterUnavailableError(std::string("The updater call ") + method
        + " failed: " + (error.error.message ? error.error.message : std::strerror(-rc))
        + ". Check that meldpunt-updated is running.");
}

void appendNoPermission(sd_bus_message* call)
{
    const int rc = sd_bus_message_append_array(call, 'y', nullptr, 0);
    if (rc < 0)
        unavailable("prepare the call", rc);
}

} // namespace

UpdaterClient::UpdaterClient(std::string busAddress)
    : busAddress_(std::move(busAddress))
{
}

BundleSummary UpdaterClient::readManifest(int fd) const
{
    BusPtr bus = connect(busAddress_);
    MessagePtr call = newCall(bus.get(), "ReadManifestFromFd");
    const int rc = sd_bus_message_append(call.get(), "h", fd);
    if (rc < 0)
        unavailable("pass the bundle to the updater", rc);
    appendNoPermission(call.get());
    MessagePtr reply = send(bus.get(), call.get(), "ReadManifestFromFd");
    const char* json = nullptr;
    const char* sha256 = nullptr;
    const char* signer = nullptr;
    int downgrade = 0;
    if (sd_bus_message_read(reply.get(), "sssb", &json, &sha256, &signer, &downgrade) < 0)
        throw UpdaterUnavailableError("The updater's reply to ReadManifestFromFd is invalid.");
    return BundleSummary {json, sha256, signer, downgrade != 0};
}

void UpdaterClient::install(int fd, const std::string& manifestSha256) const
{
    BusPtr bus = connect(busAddress_);
    MessagePtr call = newCall(bus.get(), "InstallFromFd");
    const int rc = sd_bus_message_append(call.get(), "hs", fd, manifestSha256.c_str());
    if (rc < 0)
        unavailable("pass the bundle to the updater", rc);
    appendNoPermission(call.get());
    send(bus.get(), call.get(), "InstallFromFd");
}

InstalledCertificate UpdaterClient::installCertificate(
    const std::string& edge, const std::string& certificatePem, const std::string& keyPem) const
{
    BusPtr bus = connect(busAddress_);
    MessagePtr call = newCall(bus.get(), "InstallCertificate");
    const int rc = sd_bus_message_append(call.get(), "sss", edge.c_str(), certificatePem.c_str(), keyPem.c_str());
    if (rc < 0)
        unavailable("pass the certificate to the updater", rc);
    MessagePtr reply = send(bus.get(), call.get(), "InstallCertificate");
    const char* subject = nullptr;
    const char* names = nullptr;
    const char* notAfter = nullptr;
    const char* sha256 = nullptr;
    if (sd_bus_message_read(reply.get(), "ssss", &subject, &names, &notAfter, &sha256) < 0)
        throw UpdaterUnavailableError("The updater's reply to InstallCertificate is invalid.");
    return InstalledCertificate {subject, names, notAfter, sha256};
}

UpdaterState UpdaterClient::state() const
{
    BusPtr bus = connect(busAddress_);
    UpdaterState state;
    const auto text = [&](const char* name) {
        BusError error;
        char* value = nullptr;
        const int rc
            = sd_bus_get_property_string(bus.get(), kBusName, kObjectPath, kInterface, name, &error.error, &value);
        if (rc < 0)
            throw UpdaterUnavailableError(std::string("Failed to read the updater's ") + name + ": "
                + (error.error.message ? error.error.message : std::strerror(-rc))
                + ". Check that meldpunt-updated is running.");
        std::string result = value;
        std::free(value);
        return result;
    };
    const auto number = [&](const char* name) {
        BusError error;
        std::uint32_t value = 0;
        const int rc = sd_bus_get_property_trivial(
            bus.get(), kBusName, kObjectPath, kInterface, name, &error.error, 'u', &value);
        if (rc < 0)
            throw UpdaterUnavailableError(std::string("Failed to read the updater's ") + name + ": "
                + (error.error.message ? error.error.message : std::strerror(-rc))
                + ". Check that meldpunt-updated is running.");
        return static_cast<unsigned>(value);
    };
    state.operation = text("Operation");
    state.progress = number("Progress");
    state.lastError = text("LastError");
    state.bootedSlot = text("BootedSlot");
    state.securityEpoch = number("SecurityEpoch");
    return state;
}

InstalledCertificate UpdaterClient::describeCertificate(const std::string& edge) const
{
    BusPtr bus = connect(busAddress_);
    MessagePtr call = newCall(bus.get(), "DescribeCertificate");
    const int rc = sd_bus_message_append(call.get(), "s", edge.c_str());
    if (rc < 0)
        unavailable("ask the updater for the certificate", rc);
    MessagePtr reply = send(bus.get(), call.get(), "DescribeCertificate");
    const char* subject = nullptr;
    const char* names = nullptr;
    const char* notAfter = nullptr;
    const char* sha256 = nullptr;
    if (sd_bus_message_read(reply.get(), "ssss", &subject, &names, &notAfter, &sha256) < 0)
        throw UpdaterUnavailableError("The updater's reply to DescribeCertificate is invalid.");
    return InstalledCertificate {subject, names, notAfter, sha256};
}

void UpdaterClient::applyNetwork(const network::NetworkForm& form) const
{
    BusPtr bus = connect(busAddress_);
    MessagePtr call = newCall(bus.get(), "ApplyNetwork");
    const int rc = sd_bus_message_append(call.get(), "sssssss", form.addressing.c_str(), form.address.c_str(),
        form.prefixLength.c_str(), form.gateway.c_str(), form.dnsServers.c_str(), form.staffAddress.c_str(),
        form.staffLan.c_str());
    if (rc < 0)
        unavailable("pass the network settings to the updater", rc);
    send(bus.get(), call.get(), "ApplyNetwork");
}

} // namespace meldpunt::staff
