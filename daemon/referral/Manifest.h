#pragma once

#include "Cms.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace meldpunt::referral {

// The schema name that every manifest carries; a partner rejects any
// other. A change that old readers cannot ignore gets a new number.
inline constexpr std::string_view kManifestSchema = "meldpunt-referral/1";
inline constexpr std::string_view kReceiptSchema = "meldpunt-receipt/1";

inline constexpr std::size_t kMaxAttachments = 100;
inline constexpr std::size_t kMaxUrls = 200;
inline constexpr std::size_t kMaxFields = 64;

struct ManifestAttachment {
    std::string file; // "attachment-1.cms": the referral file that carries it
    std::string name; // the file name the reporter gave
    std::string mediaType; // as detected at intake, "image/jpeg"
    std::uint64_t size = 0;
    std::string sha256; // of the plaintext, taken at intake; 64 lower-case hex digits

    friend bool operator==(const ManifestAttachment&, const ManifestAttachment&) = default;
};

// The content of a referral besides its attachments. docs/referral-format.md
// describes each member. Fields contain the report's text byte-exact,
// after redaction. A redacted field is absent from `fields` and named in
// `redacted`.
struct Manifest {
    std::string referral; // the idempotency UUID, canonical form
    std::string createdAt; // UTC, ISO 8601 with Z
    std::string hotline; // the sending organisation
    std::string partner; // the partner's name in the sender's registry
    std::string reportReference;
    std::string coverNote;
    std::map<std::string, std::string> fields;
    std::vector<std::string> redacted;
    std::vector<std::string> urls;
    std::vector<ManifestAttachment> attachments;

    friend bool operator==(const Manifest&, const Manifest&) = default;
};

// Writes the manifest as compact JSON with the members in a fixed order.
std::string toJson(const Manifest& manifest);

// Parses and validates a manifest. Throws ReferralError naming the first
// member that is missing, of the wrong type or out of range. Unknown
// members are ignored, so a later minor addition does not break readers.
Manifest parseManifest(std::string_view json);

// The receipt a partner returns, signed over the manifest's hash.
struct Receipt {
    std::string referral;
    std::string manifestSha256; // SHA-256 of the manifest JSON as decrypted
    std::string receivedAt;
    std::vector<std::string> files;

    friend bool operator==(const Receipt&, const Receipt&) = default;
};

std::string toJson(const Receipt& receipt);
Receipt parseReceipt(std::string_view json);

// True for "attachment-N.cms" with N from 1 to kMaxAttachments, no leading zero.
bool isAttachmentFileName(std::string_view name);

} // namespace meldpunt::referral
