#pragma once

#include "Cms.h"

#include <Poco/Net/Context.h>

#include <string>
#include <vector>

namespace meldpunt::referral {

// TLS contexts for both ends of a referral push: TLS 1.2 or 1.3 only,
// forward-secret AEAD cipher suites, and the peer's certificate verified
// by OpenSSL during the handshake against the given trust anchors alone
// (never the system's CA list). A trust anchor may be a CA or the pinned
// certificate itself. Poco's own post-handshake host check is off because
// it falls back to DNS look-ups; OpenSSL checks the host name instead.

// A client context that presents `certificate` and accepts only a server
// whose certificate chains to `trusted` and names `host` (a DNS name or
// an IP address literal).
Poco::Net::Context::Ptr makeClientContext(const Certificate& certificate, const PrivateKey& key,
    const std::vector<Certificate>& trusted, const std::string& host);

// A server context that requires a client certificate chaining to
// `trustedClients`.
Poco::Net::Context::Ptr makeServerContext(const Certificate& certificate, const PrivateKey& key,
    const std::vector<Certificate>& trustedClients);

} // namespace meldpunt::referral
