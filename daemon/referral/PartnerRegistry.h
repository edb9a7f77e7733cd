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
    std::string website; // its public website, for the public partner page; may be empty
    bool disabled = false; // a disabled partner receives no new referrals
};

// A partner as a coordinator types it in the staff form: every
// certificate and the key as PEM text, the countries as codes separated
// by commas or spaces.
struct PartnerInput {
    std::string name;
    std::string kind;
    std::string countries;
    std::string endpoint;
    std::string website;
    std::string serverTrustPem;
    std::string clientCertificatePem;
    std::string clientKeyPem;
    std::string encryptionCertificatePem;
    std::string receiptCertificatePem;
    std::string outcomeCertificatePem;
    // When editing: the stored fingerprint, kept if outcomeCertificatePem is empty.
    std::string keptOutcomeSha256;
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

// Validates a partner typed in the staff form with the same checks as a
// partner file, and key usages where they matter. Throws
// PartnerImportError whose message names the field, what is wrong and
// what to do. `field` receives the form field's name on failure.
Partner validatePartner(const PartnerInput& input, std::string* field = nullptr);

// Stores a partner from the staff form: a new one when partner.id is 0,
// else replaces the stored one of that id. Throws PartnerImportError when
// another partner has the name. Returns the id.
std::int64_t savePartner(storage::Database& database, const Partner& partner, const std::string& now);
void setPartnerDisabled(storage::Database& database, std::int64_t id, bool disabled);

// The enabled partners of a kind that cover `country`, by name.
std::vector<Partner> partnersFor(storage::Database& database, PartnerKind kind, const std::string& country);

std::vector<Partner> listPartners(storage::Database& database);

// Publishes the enabled partners' names, kinds, countries and websites
// for meldpunt-public (publish/partners.json); never endpoints,
// certificates or keys.
void publishPartners(storage::Database& database, const std::filesystem::path& publishFolder);
std::optional<Partner> findPartner(storage::Database& database, std::int64_t id);

} // namespace meldpunt::referral
