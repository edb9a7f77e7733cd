#pragma once

#include "Cms.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace meldpunt::storage {
class Database;
}

namespace meldpunt::referral {

enum class PartnerKind { Police, Hotline, Other };

std::string toString(PartnerKind kind);

// A partner that receives referrals, as the registry stores it.
struct Partner {
    std::int64_t id = 0; // 0 until stored
    std::string name;
    PartnerKind kind = PartnerKind::Other;
    std::vector<std::string> countries; // ISO 3166-1 alpha-2, upper case
    std::string endpoint; // https://host[:port]/path of the receiver
    std::string serverTrustPem; // the CA of its server, or the pinned server certificate
    std::string clientCertificatePem; // what meldpuntd presents to it
    std::string clientKeyPem;
    std::string encryptionCertificatePem; // referrals are encrypted to it
    std::string receiptCertificatePem; // pinned: the only signer of its receipts
    std::string outcomeCertificateSha256; // the client certificate it posts outcomes with
};

// Raised when a partner file is invalid. The message names the partner,
// the member and what to change.
class PartnerImportError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Reads and validates a partner file: JSON with a "partners" array whose
// certificate and key members name PEM files relative to the partner
// file's folder. docs/partner-setup.md shows one. Every certificate must
// parse and be valid now, the client key must match its certificate, and
// the endpoint must be an https URL without user name, query or fragment.
std::vector<Partner> readPartnerFile(const std::filesystem::path& file);

// Stores the partners in one transaction, replacing a stored partner of
// the same name, so a re-import updates certificates in place and keeps
// the partner's referrals. Not thread-safe: callers serialise access.
void importPartners(
    storage::Database& database, const std::vector<Partner>& partners, const std::string& now);

std::vector<Partner> listPartners(storage::Database& database);
std::optional<Partner> findPartner(storage::Database& database, std::int64_t id);

} // namespace meldpunt::referral
