#pragma once

#include "NetworkSettings.h"

#include <stdexcept>
#include <string>

namespace meldpunt::staff {

// meldpunt-updated rejected a bundle. what() is the verifier's message,
// which states what is wrong and what to do.
class BundleRejectedError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The updater service could not be reached or failed the call.
class UpdaterUnavailableError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// meldpunt-updated rejected an uploaded TLS certificate or key; nothing
// was installed. what() says what is wrong and what to upload instead.
class CertificateRejectedError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The certificate was installed but its edge did not restart. what()
// says what to do on the console.
class EdgeRestartFailedError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// meldpunt-updated rejected the setup page's network settings; nothing
// was stored. what() names each problem and what to do.
class NetworkRejectedError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The network settings were stored, but applying them failed. They apply
// at the next boot, as what() states.
class NetworkApplyFailedError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// An installed certificate, as InstallCertificate returns it.
struct InstalledCertificate {
    std::string subject;
    std::string names; // subject alternative names, "DNS:a, IP:b"
    std::string notAfter; // UTC, 2027-12-05T00:00:00Z
    std::string sha256; // fingerprint, lower-case hex
};

// The manifest, its SHA-256 and its signer, as ReadManifestFromFd returns
// them for a verified bundle.
struct BundleSummary {
    std::string manifestJson;
    std::string manifestSha256; // lower-case hex
    std::string signer; // the signing certificate's subject
    bool permittedDowngrade = false;
};

// The updater's properties: Operation, Progress, LastError, BootedSlot
// and SecurityEpoch.
struct UpdaterState {
    std::string operation;
    unsigned progress = 0;
    std::string lastError;
    std::string bootedSlot;
    unsigned securityEpoch = 0;
};

// A D-Bus client (sd-bus) of meldpunt-updated, org.meldpunt.Updater1 on
// the system bus (docs/updates.md). Each call opens its own connection, so
// the object is thread-safe and keeps no connection between requests.
// Calls throw BundleRejectedError for the service's BundleRejected error
// and UpdaterUnavailableError for anything else.
class UpdaterClient {
public:
    // `busAddress` empty: the system bus; tests pass a private bus.
    explicit UpdaterClient(std::string busAddress);

    // Verifies the bundle open on `fd` (header, signature, compatibility,
    // epoch) without writing anything.
    BundleSummary readManifest(int fd) const;

    // Starts installing the bundle open on `fd`. The service verifies it
    // again and rejects it unless its manifest SHA-256 is `manifestSha256`.
    void install(int fd, const std::string& manifestSha256) const;

    UpdaterState state() const;

    // Checks and installs a PEM certificate (with its intermediates) and
    // its private key for `edge` ("public" or "staff"), and restarts that
    // edge. Throws CertificateRejectedError, EdgeRestartFailedError or
    // UpdaterUnavailableError.
    InstalledCertificate installCertificate(
        const std::string& edge, const std::string& certificatePem, const std::string& keyPem) const;

    // The certificate that `edge` uses now (the image's own or an upload).
    InstalledCertificate describeCertificate(const std::string& edge) const;

    // Hands the setup page's network settings to the updater, which checks
    // them again, stores them and applies them. Throws NetworkRejectedError,
    // NetworkApplyFailedError or UpdaterUnavailableError.
    void applyNetwork(const network::NetworkForm& form) const;

private:
    std::string busAddress_;
};

} // namespace meldpunt::staff
