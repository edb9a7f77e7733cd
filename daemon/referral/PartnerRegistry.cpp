#include "PartnerRegistry.h"

#include "Database.h"
#include "PublishedPartners.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/URI.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <functional>
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

// Where a partner's members come from: a partner file (JSON whose
// certificate members name PEM files) or the staff form (PEM text).
struct PartnerSource {
    std::function<std::optional<std::string>(const std::string&)> text;
    std::function<std::optional<std::vector<std::string>>()> countries;
    std::function<std::string(const std::string&)> pem;
    std::function<std::string(const std::string&)> describe; // how a message names a member
    std::string label;
    std::string keptOutcomeSha256; // used when the outcome certificate is left empty
};

bool hasExtendedUsage(X509* certificate, std::uint32_t usage)
{
    const std::uint32_t flags = X509_get_extension_flags(certificate);
    return (flags & EXFLAG_XKUSAGE) == 0 || (X509_get_extended_key_usage(certificate) & usage) != 0;
}

bool hasKeyUsage(X509* certificate, std::uint32_t usage)
{
    const std::uint32_t flags = X509_get_extension_flags(certificate);
    return (flags & EXFLAG_KUSAGE) == 0 || (X509_get_key_usage(certificate) & usage) != 0;
}

class PartnerReader {
public:
    explicit PartnerReader(PartnerSource source)
        : source_(std::move(source))
        , label_(source_.label)
    {
    }

    Partner read()
    {
        Partner partner;
        partner.name = text("name");
        if (partner.name.empty() || partner.name.size() > kMaxNameBytes)
            fail("name", "must have 1 to 100 bytes; type the partner's name");
        for (const unsigned char character : partner.name)
            if (character < 0x20 || character == 0x7f)
                fail("name", "must not contain control characters; type it on one line");
        label_ = "partner '" + partner.name + "'";
        partner.kind = kind();
        partner.countries = countries();
        partner.endpoint = endpoint();
        partner.website = website();
        partner.serverTrustPem = trustedServer();
        readClientIdentity(partner);
        partner.encryptionCertificatePem = encryptionCertificate();
        partner.receiptCertificatePem = receiptCertificate();
        if (!source_.keptOutcomeSha256.empty() && source_.pem("outcome_client_certificate").empty()) {
            partner.outcomeCertificateSha256 = source_.keptOutcomeSha256;
            return partner;
        }
        const auto outcome = Certificate::fromPem(
            certificatePem("outcome_client_certificate"), "outcome_client_certificate");
        if (!hasExtendedUsage(outcome.get(), XKU_SSL_CLIENT))
            fail("outcome_client_certificate",
                "is not made for TLS client authentication; ask the partner for the certificate "
                "its outcome client presents");
        partner.outcomeCertificateSha256 = outcome.sha256Fingerprint();
        return partner;
    }

private:
    [[noreturn]] void fail(const std::string& member, const std::string& problem) const
    {
        throw PartnerImportError(label_ + ": " + source_.describe(member) + " " + problem);
    }

    std::string text(const std::string& member) const
    {
        const auto value = source_.text(member);
        if (!value)
            fail(member, "is missing");
        return *value;
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
        const auto list = source_.countries();
        if (!list || list->empty())
            fail("countries", "must list at least one ISO 3166-1 code such as \"NL\"");
        for (const auto& code : *list)
            if (code.size() != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A'
                || code[1] > 'Z')
                fail("countries",
                    "must hold two upper-case letters per country, such as \"NL\", not '" + code
                        + "'");
        return *list;
    }

    void checkUrl(const std::string& member, const std::string& value, bool path) const
    {
        Poco::URI uri;
        try {
            uri = Poco::URI(value);
        } catch (const Poco::SyntaxException&) {
            fail(member, "is not a valid URL; type it as https://host/path");
        }
        if (uri.getScheme() != "https" || uri.getHost().empty())
            fail(member, "must be an https:// URL with a host name");
        if (!uri.getUserInfo().empty() || (path && !uri.getRawQuery().empty())
            || !uri.getFragment().empty())
            fail(member, "must not contain a user name, a query or a fragment");
    }

    std::string endpoint() const
    {
        const std::string value = text("endpoint");
        checkUrl("endpoint", value, true);
        return value;
    }

    // The partner's public website is optional; the public site links it.
    std::string website() const
    {
        const auto value = source_.text("website");
        if (!value || value->empty())
            return {};
        checkUrl("website", *value, false);
        return *value;
    }

    std::string pem(const std::string& member) const
    {
        const std::string content = source_.pem(member);
        if (content.empty())
            fail(member, "is missing; paste the PEM text that starts with -----BEGIN");
        if (content.size() > kMaxPemBytes)
            fail(member, "is larger than 256 KiB; paste only the one certificate or key");
        return content;
    }

    // Reads a certificate and checks that it is valid today.
    std::string certificatePem(const std::string& member) const
    {
        const std::string content = pem(member);
        try {
            if (!Certificate::fromPem(content, member).currentlyValid())
                fail(member, "is expired or not yet valid; ask the partner for a current one");
        } catch (const ReferralError& error) {
            fail(member,
                std::string("does not contain a certificate (") + error.what()
                    + "); paste the PEM text that starts with -----BEGIN CERTIFICATE-----");
        }
        return content;
    }

    std::string trustedServer() const
    {
        const std::string content = pem("server_trust");
        std::vector<Certificate> certificates;
        try {
            certificates = certificatesFromPem(content, "server_trust");
        } catch (const ReferralError& error) {
            fail("server_trust",
                std::string("must hold the partner's CA or server certificate (") + error.what()
                    + ")");
        }
        for (const auto& certificate : certificates)
            if (!certificate.currentlyValid())
                fail("server_trust",
                    "holds a certificate that is expired or not yet valid ("
                        + certificate.subject() + "); ask the partner for a current one");
        return content;
    }

    void readClientIdentity(Partner& partner) const
    {
        partner.clientCertificatePem = certificatePem("client_certificate");
        const auto certificate
            = Certificate::fromPem(partner.clientCertificatePem, "client_certificate");
        if (!hasExtendedUsage(certificate.get(), XKU_SSL_CLIENT))
            fail("client_certificate",
                "is not made for TLS client authentication (extended key usage clientAuth); "
                "issue one that is");
        partner.clientKeyPem = pem("client_key");
        try {
            const auto key = PrivateKey::fromPem(partner.clientKeyPem, "client_key");
            if (!key.matches(certificate))
                fail("client_key",
                    "does not belong to the client certificate; use the key the certificate was "
                    "made for");
        } catch (const ReferralError& error) {
            fail("client_key",
                std::string("is not usable (") + error.what()
                    + "); paste an unencrypted PEM private key");
        }
    }

    // The key must be one that CMS can encrypt to with a strength the
    // partner can rely on: RSA of 2048 bits or more, or an EC key, and
    // a key usage that allows it.
    std::string encryptionCertificate() const
    {
        const std::string content = certificatePem("encryption_certificate");
        const auto certificate = Certificate::fromPem(content, "encryption_certificate");
        EVP_PKEY* key = X509_get0_pubkey(certificate.get());
        const int type = key != nullptr ? EVP_PKEY_get_base_id(key) : 0;
        if (type == EVP_PKEY_RSA && EVP_PKEY_get_bits(key) < kMinRsaBits)
            fail("encryption_certificate",
                "has an RSA key shorter than 2048 bits; ask the partner for a longer one");
        if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC)
            fail("encryption_certificate", "must carry an RSA or EC key");
        if (type == EVP_PKEY_RSA && !hasKeyUsage(certificate.get(), KU_KEY_ENCIPHERMENT))
            fail("encryption_certificate",
                "does not allow key encipherment (key usage); ask the partner for its encryption "
                "certificate, not its signing one");
        if (type == EVP_PKEY_EC && !hasKeyUsage(certificate.get(), KU_KEY_AGREEMENT))
            fail("encryption_certificate",
                "does not allow key agreement (key usage); ask the partner for its encryption "
                "certificate, not its signing one");
        return content;
    }

    std::string receiptCertificate() const
    {
        const std::string content = certificatePem("receipt_certificate");
        const auto certificate = Certificate::fromPem(content, "receipt_certificate");
        if (!hasKeyUsage(certificate.get(), KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION))
            fail("receipt_certificate",
                "does not allow signatures (key usage); ask the partner for the certificate its "
                "receipts are signed with");
        return content;
    }

    PartnerSource source_;
    std::string label_;
};

PartnerSource fileSource(const Poco::JSON::Object& object, const fs::path& folder, std::size_t position)
{
    PartnerSource source;
    source.label = "partner " + std::to_string(position);
    source.describe = [](const std::string& member) { return "'" + member + "'"; };
    source.text = [&object](const std::string& member) -> std::optional<std::string> {
        if (!object.has(member))
            return std::nullopt;
        const auto value = object.get(member);
        if (!value.isString())
            throw PartnerImportError("'" + member + "' must be a string");
        return value.extract<std::string>();
    };
    source.countries = [&object]() -> std::optional<std::vector<std::string>> {
        const auto list = object.has("countries") ? object.getArray("countries") : nullptr;
        if (!list)
            return std::nullopt;
        std::vector<std::string> codes;
        for (std::size_t index = 0; index < list->size(); ++index) {
            const auto value = list->get(static_cast<unsigned>(index));
            codes.push_back(value.isString() ? value.extract<std::string>() : std::string("?"));
        }
        return codes;
    };
    source.pem = [source, folder](const std::string& member) {
        const auto name = source.text(member);
        if (!name)
            throw PartnerImportError("'" + member + "' is missing");
        const fs::path file = *name;
        return readPem(file.is_absolute() ? file : folder / file);
    };
    return source;
}

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
      "receipt_certificate_pem, outcome_certificate_sha256, website, disabled";

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
    partner.website = row.columnText(11);
    partner.disabled = row.columnInt(12) != 0;
    return partner;
}

// Binds ?1 to ?12 of an INSERT or UPDATE of a partners row, in the column
// order that both statements use.
storage::Statement& bindPartnerColumns(storage::Statement& statement, const Partner& partner, const std::string& now)
{
    return statement.bind(1, partner.name)
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
        .bind(12, partner.website);
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
        auto partner = PartnerReader(fileSource(*item, file.parent_path(), index + 1)).read();
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
            auto statement = database.prepare(
                    "INSERT INTO partners (name, kind, countries, endpoint, server_trust_pem, "
                    "client_certificate_pem, client_key_pem, encryption_certificate_pem, "
                    "receipt_certificate_pem, outcome_certificate_sha256, imported_at, website) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
                    "ON CONFLICT (name) DO UPDATE SET kind = ?2, countries = ?3, endpoint = ?4, "
                    "server_trust_pem = ?5, client_certificate_pem = ?6, client_key_pem = ?7, "
                    "encryption_certificate_pem = ?8, receipt_certificate_pem = ?9, "
                    "outcome_certificate_sha256 = ?10, imported_at = ?11, website = ?12");
            bindPartnerColumns(statement, partner, now).run();
        }
    });
}

Partner validatePartner(const PartnerInput& input, std::string* field)
{
    static const std::map<std::string, std::pair<std::string, std::string>> kFields = {
        {"name", {"name", "Name"}}, {"kind", {"kind", "Kind"}},
        {"countries", {"countries", "Countries covered"}}, {"endpoint", {"endpoint", "Endpoint"}},
        {"website", {"website", "Public website"}},
        {"server_trust", {"server_trust", "Server CA or pinned certificate"}},
        {"client_certificate", {"client_certificate", "Client certificate"}},
        {"client_key", {"client_key", "Client key"}},
        {"encryption_certificate", {"encryption_certificate", "Encryption certificate"}},
        {"receipt_certificate", {"receipt_certificate", "Receipt certificate"}},
        {"outcome_client_certificate", {"outcome_certificate", "Outcome client certificate"}}};
    const std::map<std::string, const std::string*> values = {{"name", &input.name},
        {"kind", &input.kind}, {"endpoint", &input.endpoint}, {"website", &input.website},
        {"server_trust", &input.serverTrustPem}, {"client_certificate", &input.clientCertificatePem},
        {"client_key", &input.clientKeyPem}, {"encryption_certificate", &input.encryptionCertificatePem},
        {"receipt_certificate", &input.receiptCertificatePem},
        {"outcome_client_certificate", &input.outcomeCertificatePem}};
    std::string failed;
    PartnerSource source;
    source.label = "Partner";
    source.keptOutcomeSha256 = input.keptOutcomeSha256;
    source.describe = [&failed](const std::string& member) {
        const auto found = kFields.find(member);
        failed = found == kFields.end() ? member : found->second.first;
        return "field '" + (found == kFields.end() ? member : found->second.second) + "'";
    };
    source.text = [&values](const std::string& member) -> std::optional<std::string> {
        const auto found = values.find(member);
        if (found == values.end())
            return std::nullopt;
        std::string value = *found->second;
        const auto first = value.find_first_not_of(" \t\r\n");
        const auto last = value.find_last_not_of(" \t\r\n");
        return first == std::string::npos ? std::string() : value.substr(first, last - first + 1);
    };
    source.countries = [&input]() -> std::optional<std::vector<std::string>> {
        std::vector<std::string> codes;
        std::string code;
        for (const char character : input.countries + " ") {
            if (character == ',' || character == ' ' || character == '\t' || character == '\n'
                || character == '\r') {
                if (!code.empty() && std::find(codes.begin(), codes.end(), code) == codes.end())
                    codes.push_back(code);
                code.clear();
            } else {
                code += static_cast<char>(
                    character >= 'a' && character <= 'z' ? character - 'a' + 'A' : character);
            }
        }
        return codes;
    };
    source.pem = [&values](const std::string& member) {
        const auto found = values.find(member);
        return found == values.end() ? std::string() : *found->second;
    };
    try {
        return PartnerReader(std::move(source)).read();
    } catch (const PartnerImportError&) {
        if (field != nullptr)
            *field = failed;
        throw;
    }
}

std::int64_t savePartner(storage::Database& database, const Partner& partner, const std::string& now)
{
    auto same = database.prepare("SELECT id FROM partners WHERE name = ?1 AND id != ?2");
    same.bind(1, partner.name).bind(2, partner.id);
    if (same.step())
        throw PartnerImportError("Another partner is called '" + partner.name
            + "'; choose a different name or edit that partner instead");
    if (partner.id == 0) {
        importPartners(database, {partner}, now);
        auto row = database.prepare("SELECT id FROM partners WHERE name = ?1");
        row.bind(1, partner.name);
        row.step();
        return row.columnInt(0);
    }
    auto update = database.prepare("UPDATE partners SET name = ?1, kind = ?2, countries = ?3, endpoint = ?4, "
                 "server_trust_pem = ?5, client_certificate_pem = ?6, client_key_pem = ?7, "
                 "encryption_certificate_pem = ?8, receipt_certificate_pem = ?9, "
                 "outcome_certificate_sha256 = ?10, imported_at = ?11, website = ?12 WHERE id = ?13");
    bindPartnerColumns(update, partner, now).bind(13, partner.id).run();
    return partner.id;
}

void setPartnerDisabled(storage::Database& database, std::int64_t id, bool disabled)
{
    database.prepare("UPDATE partners SET disabled = ?1 WHERE id = ?2")
        .bind(1, static_cast<std::int64_t>(disabled ? 1 : 0))
        .bind(2, id)
        .run();
}

std::vector<Partner> partnersFor(storage::Database& database, PartnerKind kind, const std::string& country)
{
    std::vector<Partner> found;
    for (auto& partner : listPartners(database))
        if (!partner.disabled && partner.kind == kind
            && std::find(partner.countries.begin(), partner.countries.end(), country)
                != partner.countries.end())
            found.push_back(std::move(partner));
    return found;
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

void publishPartners(storage::Database& database, const std::filesystem::path& publishFolder)
{
    std::vector<PublicPartner> published;
    for (const auto& partner : listPartners(database))
        if (!partner.disabled)
            published.push_back({partner.name, toString(partner.kind), partner.countries, partner.website});
    writePublishedPartners(publishFolder, published);
}

} // namespace meldpunt::referral
