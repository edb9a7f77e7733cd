#pragma once

#include "UpdaterConfig.h"

#include <ctime>
#include <stdexcept>
#include <string>

namespace meldpunt::updater {

// An uploaded certificate or key that cannot serve as an edge's TLS
// identity. Nothing was written. The message states what is wrong and
// what to upload instead.
class CertificateRejectedError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The certificate was installed, but the edge could not be restarted to
// use it. The message states this and what to do.
class EdgeRestartError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The parts of a checked certificate that the staff UI shows.
struct CertificateSummary {
    std::string subject;       // RFC 2253
    std::string names;         // the subject alternative names, "DNS:a, IP:b"
    std::string notAfter;      // UTC, such as 2027-12-05T00:00:00Z
    std::string sha256;        // the certificate's SHA-256 fingerprint, lower-case hex
};

// Upper bounds of the PEM texts, far above any real certificate chain.
inline constexpr std::size_t kMaxCertificatePemBytes = 64 * 1024;
inline constexpr std::size_t kMaxKeyPemBytes = 16 * 1024;

// Checks that `certificatePem` (the server certificate, optionally followed
// by its intermediate CAs) and `keyPem` (its unencrypted private key) can
// serve TLS at `now`. Both must parse, and the key must be RSA of 2048 bits
// or more or EC of 256 bits or more and belong to the certificate. The
// certificate must be valid at `now` and name at least one DNS name or IP
// address as subject alternative name. Throws CertificateRejectedError.
CertificateSummary checkCertificate(const std::string& certificatePem, const std::string& keyPem, std::time_t now);

// Checks the pair as checkCertificate() does, installs it for `edge`
// ("public" or "staff") in config.tlsFolder and runs that edge's restart
// command. The pair is written to a new folder, and one symlink rename
// switches `<edge>.current` to it, so the edge never reads a certificate
// with another certificate's key. `<edge>.pem` and `<edge>.key`, the paths
// the edge units read, are symlinks into `<edge>.current`. Throws
// CertificateRejectedError (nothing written), EdgeRestartError (installed)
// or UpdateError (writing failed; the previous pair stays in force).
CertificateSummary installCertificate(const UpdaterConfig& config, const std::string& edge,
    const std::string& certificatePem, const std::string& keyPem, std::time_t now);

// The certificate that `edge` ("public" or "staff") uses now: the first
// certificate in config.tlsFolder/<edge>.pem, whatever made it (the
// image's self-signed one or an upload). Nothing else is checked. Throws
// CertificateRejectedError for an unknown edge, UpdateError when the file
// is missing or not PEM.
CertificateSummary describeInstalledCertificate(const UpdaterConfig& config, const std::string& edge);

} // namespace meldpunt::updater
