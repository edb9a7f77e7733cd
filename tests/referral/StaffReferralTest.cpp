// The staff interface's referral pages through StaffApp with the real
// templates: the partner registry, the referral form on the case page,
// states, retraction, outcomes and the coordinator's alert, against the
// real meldpunt-receive on loopback and certificates from the test PKI.

#include "AttachmentStore.h"
#include "Crypto.h"
#include "Outbox.h"
#include "PartnerRegistry.h"
#include "PublishedPartners.h"
#include "ReferralFixture.h"
#include "Referrals.h"
#include "StaffApp.h"
#include "StaffAppFixture.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <fstream>

using namespace meldpunt;
using namespace meldpunt::staff;
using Catch::Matchers::ContainsSubstring;
using meldpunt::test::header;
using meldpunt::test::pkiText;
using meldpunt::test::Receiver;
using meldpunt::test::StaffAppFixture;
using meldpunt::test::StaffClient;
namespace fs = std::filesystem;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

bool audited(StaffAppFixture& fixture, const std::string& action, const std::string& objectId = "*")
{
    const auto entries = fixture.auditEntries();
    return std::any_of(entries.begin(), entries.end(), [&](const AuditEntry& entry) {
        return entry.action == action && (objectId == "*" || entry.objectId == objectId);
    });
}

// A self-signed certificate that expired yesterday.
std::string expiredCertificate()
{
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
    std::unique_ptr<X509, decltype(&X509_free)> certificate(X509_new(), X509_free);
    X509_set_version(certificate.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(certificate.get()), 7);
    X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -3 * 86400);
    X509_gmtime_adj(X509_getm_notAfter(certificate.get()), -86400);
    X509_NAME* name = X509_get_subject_name(certificate.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
        reinterpret_cast<const unsigned char*>("Expired partner"), -1, -1, 0);
    X509_set_issuer_name(certificate.get(), name);
    X509_set_pubkey(certificate.get(), key.get());
    X509_sign(certificate.get(), key.get(), EVP_sha256());
    std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_X509(out.get(), certificate.get());
    char* data = nullptr;
    const long size = BIO_get_mem_data(out.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

Fields partnerForm(const std::string& name, const std::string& kind, const std::string& countries,
    unsigned short port)
{
    return {{"name", name}, {"kind", kind}, {"countries", countries},
        {"endpoint", "https://localhost:" + std::to_string(port) + "/v1/referrals"},
        {"website", "https://partner.example.org/"}, {"server_trust", pkiText("partner-ca.pem")},
        {"client_certificate", pkiText("hotline-client.pem")},
        {"client_key", pkiText("hotline-client.key")},
        {"encryption_certificate", pkiText("partner-encrypt.pem")},
        {"receipt_certificate", pkiText("partner-receipt.pem")},
        {"outcome_certificate", pkiText("partner-client.pem")}};
}

// The page's text with the HTML escapes of quotes and ampersands undone.
std::string unescaped(std::string text)
{
    for (const auto& [escape, character] : std::vector<std::pair<std::string, std::string>> {
             {"&apos;", "'"}, {"&#39;", "'"}, {"&quot;", "\""}, {"&amp;", "&"}}) {
        for (auto found = text.find(escape); found != std::string::npos;
             found = text.find(escape, found + 1))
            text.replace(found, escape.size(), character);
    }
    return text;
}

Fields with(Fields fields, const std::string& name, const std::string& value)
{
    for (auto& field : fields)
        if (field.first == name)
            field.second = value;
    return fields;
}

std::int64_t partnerId(StaffAppFixture& fixture, const std::string& name)
{
    std::lock_guard lock(fixture.mutex);
    for (const auto& partner : referral::listPartners(*fixture.db.database))
        if (partner.name == name)
            return partner.id;
    return 0;
}

referral::OutboxSettings fastSettings()
{
    referral::OutboxSettings settings;
    settings.pushTimeout = std::chrono::seconds(10);
    settings.firstRetry = std::chrono::seconds(1);
    settings.alertAfter = std::chrono::seconds(3600);
    return settings;
}

// The parts of the case page's referral table, for checks that must not
// match the form below it.
std::string referralTable(const std::string& page)
{
    const auto start = page.find("<table class=\"referrals\">");
    if (start == std::string::npos)
        return {};
    return page.substr(start, page.find("</table>", start) - start);
}

// Stores an attachment for the report as the ingester does: in the
// attachment store under its own key, wrapped by the report key.
std::string storeAttachment(StaffAppFixture& fixture, const fs::path& folder, std::int64_t reportId,
    const std::string& name, const std::string& content)
{
    std::lock_guard lock(fixture.mutex);
    storage::AttachmentStore store(folder);
    auto writer = store.create();
    writer->write(std::span(reinterpret_cast<const std::uint8_t*>(content.data()), content.size()));
    writer->finish();
    store.syncFolder();
    const auto sha = writer->sha256();
    const SecretBytes reportKey = SecretBytes::random(32);
    auto& database = *fixture.db.database;
    database.prepare("INSERT INTO report_keys (report_id, key) VALUES (?, ?)")
        .bind(1, reportId)
        .bind(2, reportKey.span())
        .run();
    database
        .prepare("INSERT INTO attachments (report_id, position, file_id, name, "
                 "media_type, size, sha256, "
                 "wrapped_key, uploaded_at) VALUES (?, 0, ?, ?, 'text/plain', ?, "
                 "?, ?, '2026-12-01T09:00:00Z')")
        .bind(1, reportId)
        .bind(2, writer->fileId())
        .bind(3, name)
        .bind(4, static_cast<std::int64_t>(content.size()))
        .bind(5, std::span<const std::uint8_t>(sha))
        .bind(6, storage::wrapFileKey(reportKey.span(), writer->fileKey().span(), writer->fileId()))
        .run();
    return crypto::toHex(std::vector<std::uint8_t>(sha.begin(), sha.end()));
}

} // namespace

TEST_CASE("Coordinators keep the partner registry in the staff interface", "[referral]")
{
    test::ScratchFolder publish("staff-partners-publish");
    StaffSettings settings;
    settings.publishFolder = publish.path();
    StaffAppFixture fixture("staff-partners", settings);
    const auto published = [&] { return test::readFile(publish.path() / "partners.json"); };
    const auto coordinator = fixture.addMember("cora", Role::Coordinator);
    StaffClient client(*fixture.app);
    fixture.logIn(client, coordinator);
    const Fields valid = partnerForm("Politie Eenheid Test", "police", "nl, BE", 4433);

    REQUIRE(client.get("/partners").status == 200);
    REQUIRE(client.get("/partners/new").status == 200);

    SECTION("a valid partner is stored, listed and audited")
    {
        const auto response = client.post("/partners", valid);
        INFO(response.body);
        REQUIRE(response.status == 303);
        const auto id = partnerId(fixture, "Politie Eenheid Test");
        REQUIRE(id != 0);
        CHECK(audited(fixture, "partner.created", std::to_string(id)));
        const auto list = client.get("/partners");
        CHECK_THAT(list.body, ContainsSubstring("Politie Eenheid Test"));
        CHECK_THAT(list.body, ContainsSubstring("NL, BE"));
        std::lock_guard lock(fixture.mutex);
        const auto partner = referral::findPartner(*fixture.db.database, id);
        CHECK(partner->countries == std::vector<std::string> {"NL", "BE"});
        CHECK(partner->website == "https://partner.example.org/");
        CHECK(partner->clientKeyPem == pkiText("hotline-client.key"));
        // The public site gets the name, kind, countries and website only.
        const std::string file = published();
        const auto listed = parsePartners(file);
        REQUIRE(listed.size() == 1);
        CHECK(listed[0].name == "Politie Eenheid Test");
        CHECK(listed[0].kind == "police");
        CHECK(listed[0].countries == std::vector<std::string>{"NL", "BE"});
        CHECK(listed[0].website == "https://partner.example.org/");
        CHECK(file.find("localhost") == std::string::npos);
        CHECK(file.find("BEGIN") == std::string::npos);
    }

    SECTION("each wrong field is named with what to do, and the form comes back")
    {
        struct Case {
            std::string field;
            std::string value;
            std::string message;
        };
        const std::vector<Case> cases = {
            {"name", "", "'Name' must have 1 to 100 bytes"},
            {"kind", "army", "'Kind' must be police, hotline or other"},
            {"countries", "Netherlands", "two upper-case letters per country"},
            {"countries", "", "must list at least one"},
            {"endpoint", "http://localhost:4433/v1/referrals", "must be an https:// URL"},
            {"endpoint", "https://user@localhost/v1", "must not contain a user name"},
            {"website", "ftp://partner.example.org", "'Public website' must be an https:// URL"},
            {"server_trust", "not a certificate",
                "'Server CA or pinned certificate' must hold the partner's CA"},
            {"server_trust", expiredCertificate(), "expired or not yet valid"},
            {"client_certificate", pkiText("partner-server.pem"),
                "not made for TLS client authentication"},
            {"client_key", pkiText("rogue-client.key"),
                "'Client key' does not belong to the client certificate"},
            {"client_key", "", "'Client key' is missing"},
            {"encryption_certificate", expiredCertificate(), "'Encryption certificate' is expired"},
            {"encryption_certificate", pkiText("hotline-client.pem"),
                "does not allow key agreement"},
            {"encryption_certificate",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "does not contain a certificate"},
            {"receipt_certificate", pkiText("partner-encrypt.pem"), "does not allow signatures"},
            {"outcome_certificate", pkiText("partner-server.pem"),
                "not made for TLS client authentication"},
        };
        for (const auto& each : cases) {
            INFO(each.field << ": " << each.message);
            client.get("/partners/new");
            const auto response = client.post("/partners", with(valid, each.field, each.value));
            CHECK(response.status == 400);
            CHECK_THAT(unescaped(response.body), ContainsSubstring(each.message));
            const std::string errorClass = each.field == "kind"
                ? "<fieldset class=\"field has-error\"><legend>Kind"
                : "has-error\"><label for=\"" + each.field + "\"";
            CHECK_THAT(response.body, ContainsSubstring(errorClass));
            // Everything typed comes back, the key excepted.
            CHECK_THAT(response.body,
                ContainsSubstring("value=\"https://partner.example.org/\"")
                    || ContainsSubstring("value=\"ftp://partner.example.org\""));
        }
        CHECK(partnerId(fixture, "Politie Eenheid Test") == 0);
    }

    SECTION("an edit keeps the stored key and outcome certificate when left empty")
    {
        REQUIRE(client.post("/partners", valid).status == 303);
        const auto id = partnerId(fixture, "Politie Eenheid Test");
        const auto page = client.get("/partners/" + std::to_string(id));
        REQUIRE(page.status == 200);
        CHECK_THAT(page.body, !ContainsSubstring("PRIVATE KEY"));
        auto edited = with(with(valid, "client_key", ""), "outcome_certificate", "");
        edited = with(edited, "countries", "NL LU");
        const auto response = client.post("/partners/" + std::to_string(id), edited);
        INFO(response.body);
        REQUIRE(response.status == 303);
        CHECK(audited(fixture, "partner.changed", std::to_string(id)));
        std::lock_guard lock(fixture.mutex);
        const auto partner = referral::findPartner(*fixture.db.database, id);
        CHECK(partner->countries == std::vector<std::string> {"NL", "LU"});
        CHECK(partner->clientKeyPem == pkiText("hotline-client.key"));
        CHECK(partner->outcomeCertificateSha256
            == referral::Certificate::fromPem(pkiText("partner-client.pem"), "x")
                   .sha256Fingerprint());
    }

    SECTION("another partner's name is refused")
    {
        REQUIRE(client.post("/partners", valid).status == 303);
        client.get("/partners/new");
        const auto response = client.post("/partners", valid);
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("Another partner is called"));
    }

    SECTION("disabling and enabling a partner is audited")
    {
        REQUIRE(client.post("/partners", valid).status == 303);
        const auto id = std::to_string(partnerId(fixture, "Politie Eenheid Test"));
        client.get("/partners");
        CHECK(client.post("/partners/" + id + "/disable", {}).status == 303);
        CHECK(audited(fixture, "partner.disabled", id));
        CHECK(published().find("Politie Eenheid Test") == std::string::npos);
        CHECK_THAT(client.get("/partners").body, ContainsSubstring("/partners/" + id + "/enable"));
        CHECK(client.post("/partners/" + id + "/enable", {}).status == 303);
        CHECK(audited(fixture, "partner.enabled", id));
        CHECK(published().find("Politie Eenheid Test") != std::string::npos);
    }

    SECTION("a caseworker cannot reach the registry")
    {
        const auto caseworker = fixture.addMember("anna", Role::Caseworker);
        StaffClient anna(*fixture.app);
        fixture.logIn(anna, caseworker);
        CHECK(anna.get("/partners").status == 403);
        CHECK(anna.post("/partners", valid).status == 403);
        CHECK(partnerId(fixture, "Politie Eenheid Test") == 0);
    }
}

TEST_CASE("A caseworker refers a case from the case page", "[referral]")
{
    test::ScratchFolder scratch("staff-refer");
    Receiver receiver(scratch.path() / "partner", {});
    StaffAppFixture fixture("staff-refer-db");
    const fs::path attachmentFolder = fixture.db.scratch.path() / "attachments";
    fs::create_directories(attachmentFolder);
    referral::Referrals referrals(*fixture.db.database, fixture.mutex, test::testSigner());
    fixture.app->attachReferrals(&referrals, attachmentFolder);
    const auto coordinator = fixture.addMember("cora", Role::Coordinator);
    const auto caseworker = fixture.addMember("anna", Role::Caseworker);
    StaffClient cora(*fixture.app);
    StaffClient anna(*fixture.app);
    fixture.logIn(cora, coordinator);
    fixture.logIn(anna, caseworker);
    cora.get("/partners/new");
    REQUIRE(
        cora.post("/partners", partnerForm("Politie Eenheid Test", "police", "NL", receiver.port()))
            .status
        == 303);
    const auto police = std::to_string(partnerId(fixture, "Politie Eenheid Test"));
    std::int64_t report = 0;
    {
        std::lock_guard lock(fixture.mutex);
        report = fixture.db.addReport("Jan Jansen in kamer 12", "2026-12-01T09:00:00Z");
    }
    const std::string casePath = "/cases/" + std::to_string(report);
    referral::Outbox outbox(
        *fixture.db.database, fixture.mutex, fastSettings(), [] { return 0.0; });
    const auto now = fixture.db.now;

    auto refer = [&](const Fields& fields) {
        anna.get(casePath);
        return anna.post(casePath + "/referrals", fields);
    };
    const Fields full = {{"scope", "full"}, {"partner", police}, {"field", "what"},
        {"field", "contact_name"}, {"redact", "contact_name"}, {"passages", "Jan Jansen"},
        {"cover_note", "Met voorrang, graag."}};

    SECTION("the case page offers the partners, fields and attachments")
    {
        const auto sha = storeAttachment(
            fixture, attachmentFolder, report, "notes.txt", "room 12, second floor");
        const auto page = anna.get(casePath);
        REQUIRE(page.status == 200);
        CHECK_THAT(page.body, ContainsSubstring("Politie Eenheid Test (police: NL)"));
        CHECK_THAT(page.body, ContainsSubstring("name=\"redact\" value=\"contact_email\" checked"));
        CHECK_THAT(page.body, ContainsSubstring(sha));
        CHECK_THAT(page.body, ContainsSubstring("This case has not been referred."));
        CHECK_THAT(page.body, !ContainsSubstring("<option value=\"auto\" selected>"));
    }

    SECTION("queued, delivered with the redactions, then the partner's outcome "
            "shows")
    {
        const auto content = std::string("room 12\r\nsecond floor\0end", 25);
        const auto sha = storeAttachment(fixture, attachmentFolder, report, "notes.txt", content);
        std::string attachmentId;
        {
            std::lock_guard lock(fixture.mutex);
            auto row
                = fixture.db.database->prepare("SELECT id FROM attachments WHERE report_id = ?1");
            row.bind(1, report);
            REQUIRE(row.step());
            attachmentId = std::to_string(row.columnInt(0));
        }
        auto fields = full;
        fields.emplace_back("attachment", attachmentId);
        const auto sent = refer(fields);
        INFO(sent.body);
        REQUIRE(sent.status == 303);
        CHECK(audited(fixture, "referral.queued"));
        CHECK(audited(fixture, "case.referral_queued", std::to_string(report)));
        auto table = referralTable(anna.get(casePath).body);
        CHECK_THAT(table, ContainsSubstring("Queued"));
        CHECK_THAT(table, ContainsSubstring("Retract"));

        const auto events = outbox.runOnce(now);
        REQUIRE(events.size() == 1);
        INFO(events[0].detail << "\n" << receiver.log());
        REQUIRE(events[0].kind == referral::OutboxEventKind::Delivered);
        table = referralTable(anna.get(casePath).body);
        CHECK_THAT(table, ContainsSubstring("Delivered"));
        CHECK_THAT(table, ContainsSubstring("receipt stored"));
        CHECK_THAT(table, !ContainsSubstring("Retract"));

        // What the partner stored opens with its key alone: the manifest
        // names the intake hash, the redaction, and no name.
        const auto stored = receiver.storedReferrals();
        REQUIRE(stored.size() == 1);
        const auto manifestFile = stored[0] / "manifest.cms";
        REQUIRE(fs::exists(manifestFile));
        std::ifstream in(manifestFile, std::ios::binary);
        const std::string der((std::istreambuf_iterator<char>(in)), {});
        const auto opened = referral::openReferralFile(referral::asBytes(der),
            referral::Certificate::fromPem(pkiText("partner-encrypt.pem"), "encryption"),
            referral::PrivateKey::fromPem(pkiText("partner-encrypt.key"), "encryption key"),
            {referral::Certificate::fromPem(pkiText("hotline-ca.pem"), "hotline CA")});
        const std::string manifest(referral::asText(opened.content));
        CHECK_THAT(manifest, ContainsSubstring(sha));
        CHECK_THAT(manifest, ContainsSubstring("[redacted] in kamer 12"));
        CHECK_THAT(manifest, ContainsSubstring("Met voorrang, graag."));
        CHECK_THAT(manifest, !ContainsSubstring("Jan Jansen"));
        CHECK_THAT(manifest, !ContainsSubstring("reporter@example.org"));

        std::string uuid;
        {
            std::lock_guard lock(fixture.mutex);
            uuid = referral::referralsOfReport(*fixture.db.database, report).at(0).uuid;
        }
        const auto outcomeCertificate
            = referral::Certificate::fromPem(pkiText("partner-client.pem"), "x")
                  .sha256Fingerprint();
        REQUIRE(referrals.recordOutcome(outcomeCertificate, uuid,
                    referral::Outcome::InvestigationOpened, referral::formatUtc(now))
            == referral::OutcomeResult::Recorded);
        table = referralTable(anna.get(casePath).body);
        CHECK_THAT(table, ContainsSubstring("Investigation opened"));
    }

    SECTION("a queued referral is retracted from the case page and never sent")
    {
        REQUIRE(refer(full).status == 303);
        std::int64_t referralId = 0;
        {
            std::lock_guard lock(fixture.mutex);
            referralId = referral::referralsOfReport(*fixture.db.database, report).at(0).id;
        }
        anna.get(casePath);
        CHECK(anna.post(casePath + "/retract", {{"referral", std::to_string(referralId)}}).status
            == 303);
        CHECK(audited(fixture, "referral.retracted", std::to_string(referralId)));
        CHECK_THAT(referralTable(anna.get(casePath).body), ContainsSubstring("Retracted"));
        CHECK(outbox.runOnce(now).empty());
        CHECK(receiver.storedReferrals().empty());
        anna.get(casePath);
        const auto again
            = anna.post(casePath + "/retract", {{"referral", std::to_string(referralId)}});
        CHECK(again.status == 409);
        CHECK_THAT(again.body, ContainsSubstring("Only a queued referral can be retracted"));
    }

    SECTION("a failing referral shows why, and coordinators get a content-free "
            "alert")
    {
        receiver.stop();
        REQUIRE(refer(full).status == 303);
        const auto events = outbox.runOnce(now);
        REQUIRE(events.size() == 1);
        CHECK(events[0].kind == referral::OutboxEventKind::Retrying);
        const auto table = referralTable(anna.get(casePath).body);
        CHECK_THAT(table, ContainsSubstring("Queued"));
        CHECK_THAT(table, ContainsSubstring("Why:"));
        CHECK_THAT(cora.get("/inbox").body, !ContainsSubstring("Referrals not delivered"));

        const auto later = outbox.runOnce(now + std::chrono::hours(2));
        CHECK(std::any_of(later.begin(), later.end(),
            [](const auto& event) { return event.kind == referral::OutboxEventKind::Alert; }));
        const auto inbox = cora.get("/inbox").body;
        CHECK_THAT(inbox, ContainsSubstring("Referrals not delivered"));
        CHECK_THAT(inbox, ContainsSubstring("href=\"" + casePath + "\""));
        CHECK_THAT(inbox, ContainsSubstring("Politie Eenheid Test"));
        const auto notice = inbox.substr(inbox.find("referral-alerts"),
            inbox.find("</section>") - inbox.find("referral-alerts"));
        CHECK_THAT(notice, !ContainsSubstring("Jan Jansen"));
        CHECK_THAT(cora.get("/partners").body, ContainsSubstring("Referrals not delivered"));
        CHECK_THAT(anna.get("/inbox").body, !ContainsSubstring("Referrals not delivered"));
        CHECK_THAT(referralTable(anna.get(casePath).body),
            ContainsSubstring("the coordinators are alerted"));
    }

    SECTION("online abuse material goes as URLs to the hosting country's hotline")
    {
        cora.get("/partners/new");
        REQUIRE(cora.post("/partners",
                        partnerForm("Hotline Test DE", "hotline", "DE, AT", receiver.port()))
                    .status
            == 303);
        {
            std::lock_guard lock(fixture.mutex);
            fixture.db.database
                ->prepare("UPDATE reports SET category = 'online_material' WHERE id = ?1")
                .bind(1, report)
                .run();
        }
        CHECK_THAT(anna.get(casePath).body,
            ContainsSubstring("id=\"scope-urls\" name=\"scope\" value=\"urls\" checked"));
        CHECK_THAT(anna.get(casePath).body, ContainsSubstring("<option value=\"auto\" selected>"));
        const Fields urls = {{"scope", "urls"}, {"partner", "auto"}, {"hosting_country", "at"},
            {"urls", "https://material.example/a\nhttps://material.example/b"},
            {"field", "category"}};
        const auto sent = refer(urls);
        INFO(sent.body);
        REQUIRE(sent.status == 303);
        CHECK(audited(fixture, "referral.queued.urls"));
        std::lock_guard lock(fixture.mutex);
        const auto list = referral::referralsOfReport(*fixture.db.database, report);
        REQUIRE(list.size() == 1);
        CHECK(list[0].partnerName == "Hotline Test DE");
    }

    SECTION("what cannot be sent is refused with what to do, the form kept")
    {
        cora.get("/partners");
        const auto nowhere
            = refer({{"scope", "urls"}, {"partner", "auto"}, {"hosting_country", "FR"},
                {"urls", "https://material.example/a"}, {"cover_note", "kept note"}});
        CHECK(nowhere.status == 400);
        CHECK_THAT(unescaped(nowhere.body),
            ContainsSubstring("No hotline in the partner registry covers FR"));
        CHECK_THAT(nowhere.body, ContainsSubstring("kept note"));
        CHECK_THAT(refer({{"scope", "urls"}, {"partner", police}, {"urls", ""}}).body,
            ContainsSubstring("needs at least one web address"));
        CHECK_THAT(
            refer({{"scope", "urls"}, {"partner", police}, {"urls", "ftp://x.example/"}}).body,
            ContainsSubstring("is not an http or https URL"));
        CHECK_THAT(refer({{"scope", "full"}, {"partner", police}}).body,
            ContainsSubstring("Choose at least one field or attachment"));
        CHECK_THAT(refer({{"scope", "full"}, {"partner", "999"}, {"field", "what"}}).body,
            ContainsSubstring("Choose a partner from the list"));
        CHECK_THAT(refer({{"scope", "full"}, {"partner", police}, {"attachment", "12345"}}).body,
            ContainsSubstring("does not belong to this case"));
        cora.get("/partners");
        REQUIRE(cora.post("/partners/" + police + "/disable", {}).status == 303);
        const auto disabled = refer(full);
        CHECK(disabled.status == 400);
        CHECK_THAT(disabled.body, ContainsSubstring("Choose a partner from the list"));
        CHECK_THAT(anna.get(casePath).body, ContainsSubstring("The partner registry is empty"));
        std::lock_guard lock(fixture.mutex);
        CHECK(referral::referralsOfReport(*fixture.db.database, report).empty());
    }
}
