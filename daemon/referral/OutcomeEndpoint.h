#pragma once

#include "Referrals.h"

#include <string>

namespace meldpunt::referral {

// The path on which partners post outcomes. The staff nginx instance
// serves it in its own server block with ssl_verify_client on, and passes
// the verified client certificate in kPartnerCertificateHeader. Its other
// server blocks clear that header, so no staff client can set it.
inline constexpr const char* kOutcomePath = "/partner/v1/outcomes";
inline constexpr const char* kPartnerCertificateHeader = "X-Partner-Certificate";

struct OutcomeResponse {
    int status = 500; // the HTTP status to send
    std::string message; // plain text for the partner: what happened or what is wrong
};

// Handles one posted outcome: `escapedCertificate` is nginx's
// $ssl_client_escaped_cert (the PEM certificate, URL-encoded), `body` the
// JSON {"referral": UUID, "outcome": "received" | "investigation_opened" |
// "no_action" | "closed"}. `referrals` is null while the database is
// locked. Returns 204, or 400, 403, 404, 409 or 503 with the reason.
OutcomeResponse handleOutcomePost(Referrals* referrals, const std::string& escapedCertificate,
    const std::string& body, const std::string& now);

} // namespace meldpunt::referral
