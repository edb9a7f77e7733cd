#pragma once

#include "OpenSsl.h"

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace meldpunt::updater {

// The certificates and revocation lists the running image carries to judge
// signatures: one or more CA certificates and a CRL from each CA. Loading
// fails when a file is missing or unreadable, so a box never runs with an
// empty trust store. An object is not thread-safe while verifying, so each
// thread loads its own.
class TrustAnchors {
public:
    // Throws UpdateError naming the file that could not be read.
    TrustAnchors(const std::filesystem::path& caFile, const std::filesystem::path& crlFile);

    X509_STORE* store() const { return store_.get(); }

private:
    X509StorePtr store_;
};

struct SignerIdentity {
    std::string subject;
    std::string sha256Fingerprint; // of the signer's DER certificate, hex
};

// Verifies a detached CMS signature (DER) over `content`. Exactly one
// signer is accepted. Its certificate must chain to the anchors, must not
// be revoked by the anchors' CRLs, and must carry the extended key usage
// code signing. Certificate and CRL dates are not checked against the box's
// clock, which may be wrong or set back by an attacker. Instead, every
// certificate in the chain must still be valid at `timeFloor` (the running
// image's build time). The signer's certificate must also have been valid
// at `signedAt` (the creation time the signed manifest states). Throws
// UpdateError with the reason.
SignerIdentity verifyDetachedSignature(std::span<const std::uint8_t> content,
    std::span<const std::uint8_t> signature, const TrustAnchors& anchors, std::time_t timeFloor,
    std::time_t signedAt);

// Signs `content` with a detached CMS signature (DER) carrying the signer's
// certificate and `chainFile`'s certificates (which may be empty). Throws
// UpdateError.
std::vector<std::uint8_t> signDetached(std::span<const std::uint8_t> content,
    const std::filesystem::path& certificateFile, const std::filesystem::path& keyFile,
    const std::filesystem::path& chainFile);

// Parses "2026-12-04T19:08:46Z". Returns false for anything else.
bool parseUtcTimestamp(const std::string& text, std::time_t& out);
std::string formatUtcTimestamp(std::time_t time);

} // namespace meldpunt::updater
