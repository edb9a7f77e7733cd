#pragma once

#include "Cms.h"
#include "Manifest.h"

#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace meldpunt::receiver {

// Raised when a pushed referral is invalid: the sender must not retry it
// unchanged (HTTP 400).
class InvalidReferral : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The partner's keys and trust: who may sign referrals, the key they are
// encrypted to, and the key that signs receipts.
struct ReceiverKeys {
    referral::Certificate recipientCertificate;
    referral::PrivateKey recipientKey;
    std::vector<referral::Certificate> trustedSigners; // the hotline's CA or its pinned certificate
    referral::Certificate receiptCertificate;
    referral::PrivateKey receiptKey;
};

struct Acceptance {
    bool duplicate = false; // true: stored earlier under the same idempotency key
    referral::Bytes receipt; // DER SignedData over the receipt JSON
};

// Stores verified referrals as files: one folder per referral, named by
// its UUID, holding the files exactly as received (still encrypted to the
// partner) and the receipt. A folder appears whole or not at all
// (written under a temporary name, synced, renamed). Thread-safe.
class ReferralStore {
public:
    ReferralStore(std::filesystem::path folder, ReceiverKeys keys);

    // Verifies and stores one referral. `files` maps each file name to its
    // bytes. A repeated idempotency key returns the stored receipt and
    // stores nothing. Throws InvalidReferral for a referral that fails a
    // check, and std::system_error when the disk fails.
    Acceptance accept(
        const std::string& idempotencyKey, const std::map<std::string, referral::Bytes>& files);

    const std::filesystem::path& folder() const { return folder_; }

private:
    referral::Receipt verify(const std::string& idempotencyKey,
        const std::map<std::string, referral::Bytes>& files) const;
    void store(const std::string& uuid, const std::map<std::string, referral::Bytes>& files,
        const referral::Bytes& receipt) const;

    std::filesystem::path folder_;
    ReceiverKeys keys_;
    std::mutex mutex_;
};

} // namespace meldpunt::receiver
