#pragma once

#include "PartnerRegistry.h"
#include "ReferralBuilder.h"

#include <chrono>
#include <string>
#include <vector>

namespace meldpunt::referral {

enum class PushOutcome {
    Accepted, // 200 or 201 with a receipt
    Rejected, // the partner rejected the referral itself (400, 413): retrying cannot help
    Failed, // TLS, network, timeout or 5xx: retry later
};

struct PushResult {
    PushOutcome outcome = PushOutcome::Failed;
    int status = 0; // the HTTP status, 0 when there was none
    Bytes receipt; // for Accepted
    std::string reason; // for Rejected and Failed, without report content
};

// Pushes one referral to the partner's receiver over mutual TLS (see
// Tls.h), as multipart/form-data with the idempotency UUID in its header.
// Never throws: network, TLS and other failures are returned as Failed.
PushResult pushReferral(const Partner& partner, const std::string& uuid,
    const std::vector<SealedFile>& files, std::chrono::seconds timeout);

} // namespace meldpunt::referral
