#pragma once

#include "Cms.h"
#include "Manifest.h"

#include <istream>
#include <memory>
#include <string>
#include <vector>

namespace meldpunt::referral {

// One attachment of a report as the attachment store hands it over. The
// stream yields the plaintext; it is read once, to the end.
struct AttachmentInput {
    std::string name;
    std::string mediaType;
    std::string sha256AtIntake; // 64 lower-case hex digits
    std::istream* plaintext = nullptr; // not owned; must stay open while sealing
};

// The hotline's signing identity.
struct HotlineSigner {
    std::string organisation; // written into each manifest as "hotline"
    Certificate certificate;
    std::shared_ptr<PrivateKey> key;
};

struct SealedFile {
    std::string name; // "manifest.cms" or "attachment-N.cms"
    Bytes content; // DER AuthEnvelopedData
};

struct SealedReferral {
    Manifest manifest;
    std::string manifestJson;
    std::string manifestSha256;
    std::vector<SealedFile> files; // the manifest first
};

inline constexpr std::uint64_t kMaxReferralBytes = 256ull * 1024 * 1024;

// Seals a referral: each attachment is read, checked against its SHA-256
// from intake, signed and encrypted; then the manifest naming them. The
// manifest's attachments are filled in here. Throws ReferralError when an
// attachment no longer matches its hash, a stream fails, or the
// attachments together exceed kMaxReferralBytes.
SealedReferral sealReferral(Manifest manifest, const std::vector<AttachmentInput>& attachments,
    const HotlineSigner& signer, const Certificate& recipient);

} // namespace meldpunt::referral
