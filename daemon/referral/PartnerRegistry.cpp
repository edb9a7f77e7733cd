#include "PartnerRegistry.h"

#include "Database.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/URI.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <fstream>
#include <set>
#include <sstream>

namespace meldpunt::referral {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxNameBytes = 100;
constexpr std::size_t kMaxPemBytes = 256 * 1024;
constexpr int kMinRsaBits = 2048;

std::string readPem(const fs::path& file)
{
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw PartnerImportError("cannot read '" + file.string() + "'");
    std::string content(kMaxPemBytes + 1, '\0');
    in.read(content.data(), static_cast<std::streamsize>(content.size()));
    content.resize(static_cast<std::size_t>(in.gcount()));
    if (content.size() > kMaxPemBytes)
        throw PartnerImportError("'" + file.string() + "' is larger than 256 KiB");
    return content;
}

class PartnerReader {
public:
    PartnerReader(const Poco::JSON::Object& object, fs::path folder, std::size_t position)
        : object_(object)
        , folder_(std::move(folder))
        , label_("partner " + std::to_string(position))
    {
    }

    Partner read()
    {
        Partner partner;
        partner.name = text("name");
        if (partner.name.empty() || partner.name.size() > kMaxNameBytes)
            fail("name", "must have 1 to 100 bytes");
        for (const unsigned char character : partner.name)
            if (character < 0x20 || character == 0x7f)
                fail("name", "must not contain control characters");
        label_ = "partner '" + partner.name + "'";
        partner.kind = kind();
        partner.countries = countries();
        partner.endpoint = endpoint();
        partner.serverTrustPem = trustedServer();
        readClientIdentity(partner);
        partner.encryptionCertificatePem = encryptionCertificate();
        partner.receiptCertificatePem = certificatePem("receipt_certificate");
        partner.outcomeCertificateSha256
            = Certificate::fromPem(certificatePem("outcome_client_certificate"), label_)
                  .sha256Fingerprint();
        return partner;
    }

private:
    [[noreturn]] void fail(const std::string& member, const std::string& problem) const
    {
        throw PartnerImportError(label_ + ": '" + member + "' " + problem);
    }

    std::string text(const std::string& member) const
    {
        if (!object_.has(member))
            fail(member, "is missing");
        const auto value = object_.get(member);
        if (!value.isString())
            fail(member, "must be a string");
        return value.extract<std::string>();
    }

    PartnerKind kind() const
    {
        const std::string value = text("kind");
        if (value == "police")
            return PartnerKind::Police;
        if (value == "hotline")
            return PartnerKind::Hotline;
        if (value == "other")
            return PartnerKind::Other;
        fail("kind", "must be police, hotline or other, not '" + value + "'");
    }

    std::vector<std::string> countries() const
    {
        const auto list = object_.has("countries") ? object_.getArray("countries") : nullptr;
        if (!list || list->size() == 0)
            fail("countries", "must be a non-empty array of ISO 3166-1 codes such as \"NL\"");
        std::vector<std::string> codes;
        for (std::size_t index = 0; index < list->size(); ++index) {
            const auto value = list->get(static_cast<unsigned>(index));
            const std::string code
                = value.isString() ? value.extract<std::string>() : std::string();
            if (code.size() != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A'
                || code[1] > 'Z')
                fail("countries", "must hold two upper-case letters per country, such as \"NL\"");
            codes.push_back(code);
        }
        return codes;
    }

    std::string endpoint() const
    {
        const std::string value = text("endpoint");
        Poco::URI uri;
        try {
            uri = Poco::URI(value);
        } catch (const Poco::SyntaxException&) {
            fail("endpoint", "is not a valid URL");
        }
        if (uri.getScheme() != "https" || uri.getHost().empty())
            fail("endpoint", "must be an https:// URL with a host name");
        if (!uri.getUserInfo().empty() || !uri.getRawQuery().empty() || !uri.getFragment().empty())
            fail("endpoint", "must not contain a user name, a query or a fragment");
        return value;
    }

    std::string pemFile(const std::string& member) const
    {
        const fs::path file = text(member);
        return readPem(file.is_absolute() ? file : folder_ / file);
    }

    // Reads a certificate file and checks that it is valid today.
    std::string certificatePem(const std::string& member) const
    {
        const std::string pem = pemFile(member);
        try {
            if (!Certificate::fromPem(pem, member).currentlyValid())
                fail(member, "is expired or not yet valid; ask the partner for a current one");
        } catch (const ReferralError& error) {
            fail(member, std::string("does not contain a certificate (") + error.what() + ")");
        }
        return pem;
    }

    std::string trustedServer() const
    {
        const std::string pem = pemFile("server_trust");
        try {
            certificatesFromPem(pem, "server_trust");
        } catch (const ReferralError& error) {
            fail("server_trust",
                std::string("must name the partner's CA or server certificate (") + error.what()
                    + ")");
        }
        return pem;
    }

    void readClientIdentity(Partner& partner) const
    {
        partner.clientCertificatePem = certificatePem("client_certificate");
        partner.clientKeyPem = pemFile("client_key");
        try {
            const auto key = PrivateKey::fromPem(partner.clientKeyPem, "client_key");
            if (!key.matches(
                    Certificate::fromPem(partner.clientCertificatePem, "client_certificate")))
                fail("client_key", "does not belong to 'client_certificate'");
        } catch (const ReferralError& error) {
            fail("client_key", std::string("is not usable (") + error.what() + ")");
        }
    }

    // The key must be one that CMS can encrypt to with a strength the
    // partner can rely on: RSA of 2048 bits or more, or an EC key.
    std::string encryptionCertificate() const
    {
        const std::string pem = certificatePem("encryption_certificate");
        const auto certificate = Certificate::fromPem(pem, "encryption_certificate");
        EVP_PKEY* key = X509_get0_pubkey(certificate.get());
        const int type = key != nullptr ? EVP_PKEY_get_base_id(key) : 0;
        if (type == EVP_PKEY_RSA && EVP_PKEY_get_bits(key) < kMinRsaBits)
            fail("encryption_certificate", "has an RSA key shorter than 2048 bits");
        if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC)
            fail("encryption_certificate", "must carry an RSA or EC key");
        return pem;
    }

    const Poco::JSON::Object& object_;
    fs::path folder_;
    std::string label_;
};

std::string joined(const std::vector<std::string>& items)
{
    std::string text;
    for (const auto& item : items)
        text += (text.empty() ? "" : ",") + item;
    return text;
}

std::vector<std::string> split(const std::string& text)
{
    std::vector<std::string> items;
    std::istringstream in(text);
    for (std::string item; std::getline(in, item, ',');)
        items.push_back(item);
    return items;
}

PartnerKind kindFromText(const std::string& text)
{
    return text == "police" ? PartnerKind::Police
        : text == "hotline" ? PartnerKind::Hotline
                            : PartnerKind::Other;
}

constexpr const char* kPartnerColumns
    = "id, name, kind, countries, endpoint, server_trust_pem, "
      "client_certificate_pem, client_key_pem, encryption_certificate_pem, "
      "receipt_certificate_pem, outcome_certificate_sha256";

Partner partnerFromRow(const storage::Statement& row)
{
    Partner partner;
    partner.id = row.columnInt(0);
    partner.name = row.columnText(1);
    partner.kind = kindFromText(row.columnText(2));
    partner.countries = split(row.columnText(3));
    partner.endpoint = row.columnText(4);
    partner.serverTrustPem = row.columnText(5);
    partner.clientCertificatePem = row.columnText(6);
    partner.clientKeyPem = row.columnText(7);
    partner.encryptionCertificatePem = row.columnText(8);
    partner.receiptCertificatePem = row.columnText(9);
    partner.outcomeCertificateSha256 = row.columnText(10);
    return partner;
}

} // namespace

std::string toString(PartnerKind kind)
{
    switch (kind) {
    case PartnerKind::Police: return "police";
    case PartnerKind::Hotline: return "hotline";
    case PartnerKind::Other: return "other";
    }
    return "other";
}

std::vector<Partner> readPartnerFile(const fs::path& file)
{
    const std::string json = readPem(file);
    Poco::Dynamic::Var parsed;
    try {
        parsed = Poco::JSON::Parser().parse(json);
    } catch (const Poco::Exception& error) {
        throw PartnerImportError("'" + file.string() + "' is not valid JSON: " + error.message());
    }
    const auto root = parsed.type() == typeid(Poco::JSON::Object::Ptr)
        ? parsed.extract<Poco::JSON::Object::Ptr>()
        : nullptr;
    const auto list = root ? root->getArray("partners") : nullptr;
    if (!list)
        throw PartnerImportError(
            "'" + file.string() + "' must be a JSON object with a \"partners\" array");
    std::vector<Partner> partners;
    std::set<std::string> names;
    for (std::size_t index = 0; index < list->size(); ++index) {
        const auto item = list->getObject(static_cast<unsigned>(index));
        if (!item)
            throw PartnerImportError(
                "partner " + std::to_string(index + 1) + " must be a JSON object");
        auto partner = PartnerReader(*item, file.parent_path(), index + 1).read();
        if (!names.insert(partner.name).second)
            throw PartnerImportError("partner '" + partner.name + "' is listed twice");
        partners.push_back(std::move(partner));
    }
    return partners;
}

void importPartners(
    storage::Database& database, const std::vector<Partner>& partners, const std::string& now)
{
    database.transaction([&] {
        for (const auto& partner : partners) {
            database
                .prepare(
                    "INSERT INTO partners (name, kind, countries, endpoint, server_trust_pem, "
                    "client_certificate_pem, client_key_pem, encryption_certificate_pem, "
                    "receipt_certificate_pem, outcome_certificate_sha256, imported_at) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                    "ON CONFLICT (name) DO UPDATE SET kind = ?2, countries = ?3, endpoint = ?4, "
                    "server_trust_pem = ?5, client_certificate_pem = ?6, client_key_pem = ?7, "
                    "encryption_certificate_pem = ?8, receipt_certificate_pem = ?9, "
                    "outcome_certificate_sha256 = ?10, imported_at = ?11")
                .bind(1, partner.name)
                .bind(2, toString(partner.kind))
                .bind(3, joined(partner.countries))
                .bind(4, partner.endpoint)
                .bind(5, partner.serverTrustPem)
                .bind(6, partner.clientCertificatePem)
                .bind(7, partner.clientKeyPem)
                .bind(8, partner.encryptionCertificatePem)
                .bind(9, partner.receiptCertificatePem)
                .bind(10, partner.outcomeCertificateSha256)
                .bind(11, now)
                .run();
        }
    });
}

std::vector<Partner> listPartners(storage::Database& database)
{
    auto rows = database.prepare(
        std::string("SELECT ") + kPartnerColumns + " FROM partners ORDER BY name");
    std::vector<Partner> partners;
    while (rows.step())
        partners.push_back(partnerFromRow(rows));
    return partners;
}

std::optional<Partner> findPartner(storage::Database& database, std::int64_t id)
{
    auto row = database.prepare(
        std::string("SELECT ") + kPartnerColumns + " FROM partners WHERE id = ?1");
    row.bind(1, id);
    if (!row.step())
        return std::nullopt;
    return partnerFromRow(row);
}

} // namespace meldpunt::referral
