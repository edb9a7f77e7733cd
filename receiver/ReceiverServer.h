#pragma once

#include "ReferralStore.h"

#include <Poco/Net/HTTPServer.h>

#include <cstdint>
#include <memory>
#include <string>

namespace meldpunt::receiver {

// The wire protocol, shared with the sender: docs/referral-format.md.
inline constexpr const char* kReferralsPath = "/v1/referrals";
inline constexpr const char* kIdempotencyHeader = "Idempotency-Key";

struct ServerSettings {
    std::string address = "127.0.0.1";
    std::uint16_t port = 0; // 0: the kernel picks one; see ReceiverServer::port()
    referral::Certificate certificate;
    std::shared_ptr<referral::PrivateKey> key;
    std::vector<referral::Certificate>
        trustedClients; // the hotline's client CA or pinned certificate
    std::uint64_t maxReferralBytes = 256ull * 1024 * 1024;
    int maxThreads = 4;
};

// The HTTPS endpoint with mutual TLS. POST /v1/referrals takes one
// referral as multipart/form-data, one part per file with its file name,
// and the referral's UUID in the Idempotency-Key header. It responds with
// 201 and the signed receipt (application/pkcs7-mime) for a new referral,
// 200 with the same receipt for a repeat, 400 with the reason for an
// invalid referral, 413 when it is too large, and 500 when storing failed.
class ReceiverServer {
public:
    ReceiverServer(ServerSettings settings, ReferralStore& store);
    ~ReceiverServer();

    void start();
    void stop();
    std::uint16_t port() const;

private:
    ServerSettings settings_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
};

} // namespace meldpunt::receiver
