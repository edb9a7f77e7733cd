// The staff pages for referrals: the partner registry that coordinators
// keep, and the referral form, states and outcomes on the case page.

#include "StaffApp.h"
#include "StaffContext.h"

#include "AttachmentStore.h"
#include "Crypto.h"
#include "Log.h"
#include "Outbox.h"
#include "PartnerRegistry.h"
#include "Referrals.h"

#include <algorithm>
#include <sstream>

namespace meldpunt::staff {

namespace {

// The largest total of attachments one referral reads into memory to seal.
constexpr std::size_t kMaxReferralAttachmentBytes = 256 * 1024 * 1024;
constexpr std::size_t kMaxCoverNoteBytes = 8000;
constexpr const char* kOnlineMaterial = "online_material";

const std::map<std::string, std::string>& fieldLabels()
{
    static const std::map<std::string, std::string> labels
        = {{"received_at", "Received"}, {"language", "Language"}, {"category", "Category"},
            {"country", "Country"}, {"place", "Place"}, {"occurred", "When"},
            {"what", "What happened"}, {"anonymous", "Anonymous"},
            {"contact_name", "Reporter's name"}, {"contact_email", "Reporter's e-mail address"},
            {"contact_phone", "Reporter's phone number"}};
    return labels;
}

bool personal(const std::string& field) { return field.starts_with("contact_"); }

const std::map<std::string, std::string>& stateLabels()
{
    static const std::map<std::string, std::string> labels = {{"queued", "Queued"},
        {"delivered", "Delivered"}, {"failed", "Failed"}, {"retracted", "Retracted"}};
    return labels;
}

const std::map<std::string, std::string>& partnerOutcomeLabels()
{
    static const std::map<std::string, std::string> labels = {
        {"received", "Received by the partner"}, {"investigation_opened", "Investigation opened"},
        {"no_action", "No action"}, {"closed", "Closed"}};
    return labels;
}

std::string labelOf(const std::map<std::string, std::string>& labels, const std::string& value)
{
    const auto found = labels.find(value);
    return found == labels.end() ? value : found->second;
}

std::vector<std::string> lines(const std::string& text)
{
    std::vector<std::string> result;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        const auto first = line.find_first_not_of(" \t\r");
        const auto last = line.find_last_not_of(" \t\r");
        if (first != std::string::npos)
            result.push_back(line.substr(first, last - first + 1));
    }
    return result;
}

std::string hex(const std::vector<std::uint8_t>& bytes)
{
    static const char* digits = "0123456789abcdef";
    std::string text;
    for (const auto byte : bytes) {
        text += digits[byte >> 4];
        text += digits[byte & 0x0f];
    }
    return text;
}

struct StoredAttachment {
    std::int64_t id = 0;
    std::string fileId;
    std::string name;
    std::string mediaType;
    std::int64_t size = 0;
    std::string sha256;
};

std::vector<StoredAttachment> attachmentsOf(storage::Database& database, std::int64_t reportId)
{
    auto rows
        = database.prepare("SELECT id, file_id, name, media_type, size, sha256 FROM attachments "
                           "WHERE report_id = ?1 ORDER BY position");
    rows.bind(1, reportId);
    std::vector<StoredAttachment> list;
    while (rows.step())
        list.push_back({rows.columnInt(0), rows.columnText(1), rows.columnText(2),
            rows.columnText(3), rows.columnInt(4), hex(rows.columnBlob(5))});
    return list;
}

std::string reportCategory(
    storage::Database& database, std::int64_t reportId, std::string& country, std::string& urls)
{
    auto row = database.prepare("SELECT r.category, r.country, coalesce(d.urls, '') FROM reports r "
                                "LEFT JOIN report_details d ON d.report_id = r.id WHERE r.id = ?1");
    row.bind(1, reportId);
    if (!row.step())
        return {};
    country = row.columnIsNull(1) ? std::string() : row.columnText(1);
    urls = row.columnText(2);
    return row.columnIsNull(0) ? std::string() : row.columnText(0);
}

// The public site lists the partners, so every change is published.
void publish(storage::Database& database, const StaffSettings& settings)
{
    if (settings.publishFolder.empty())
        return;
    try {
        referral::publishPartners(database, settings.publishFolder);
    } catch (const std::exception& error) {
        log::error(
            std::string("Failed to publish the partners for the public site: ") + error.what());
    }
}

std::string nowText(const Clock& clock) { return referral::formatUtc(clock()); }

} // namespace

void StaffApp::attachReferrals(
    referral::Referrals* referrals, std::filesystem::path attachmentFolder)
{
    referrals_ = referrals;
    attachmentFolder_ = std::move(attachmentFolder);
}

PageData StaffApp::referralAlerts()
{
    PageData list {PageData::type::list};
    for (const auto& alert : referral::openReferralAlerts(database_)) {
        PageData item;
        item.set("case_id", std::to_string(alert.reportId));
        item.set("referral_id", std::to_string(alert.referralId));
        item.set("partner", alert.partnerName);
        item.set("queued_at", alert.queuedAt);
        item.set("state",
            pages_.catalog().translate(
                "en", labelOf(stateLabels(), referral::toString(alert.state))));
        list.push_back(item);
    }
    return list;
}

PageData StaffApp::referralData(Context& context, std::int64_t caseId, const std::string& category)
{
    const FormData& form = context.form;
    const bool resent = context.match.route->id == RouteId::CaseRefer;
    PageData data;
    data.set("may_refer", referrals_ != nullptr);
    data.set("case_id", std::to_string(caseId));

    PageData states {PageData::type::list};
    const auto referrals = referral::referralsOfReport(database_, caseId);
    for (const auto& status : referrals) {
        PageData item;
        const std::string state = referral::toString(status.state);
        item.set("id", std::to_string(status.id));
        item.set("uuid", status.uuid);
        item.set("partner", status.partnerName);
        item.set("state", pages_.catalog().translate("en", labelOf(stateLabels(), state)));
        item.set("state_class", "referral-" + state);
        item.set("created_at", status.createdAt);
        item.set("attempts", std::to_string(status.attempts));
        if (status.state == referral::ReferralState::Queued) {
            item.set("queued", true);
            if (!status.nextAttemptAt.empty())
                item.set("next_attempt_at", status.nextAttemptAt);
        }
        if (!status.lastError.empty())
            item.set("last_error", status.lastError);
        if (!status.deliveredAt.empty())
            item.set("delivered_at", status.deliveredAt);
        item.set("receipt", status.receiptStored);
        item.set("alert", status.alertRaised);
        PageData outcomes {PageData::type::list};
        for (const auto& outcome : status.outcomes) {
            PageData each;
            each.set("value", outcome);
            each.set("label",
                pages_.catalog().translate("en", labelOf(partnerOutcomeLabels(), outcome)));
            outcomes.push_back(each);
        }
        item.set("has_outcomes", !status.outcomes.empty());
        item.set("outcomes", outcomes);
        item.set("csrf", context.session->csrfToken);
        states.push_back(item);
    }
    data.set("has_referrals", !referrals.empty());
    data.set("referrals", states);

    const std::string chosenPartner = form.get("partner");
    PageData partners {PageData::type::list};
    std::size_t enabled = 0;
    for (const auto& partner : referral::listPartners(database_)) {
        if (partner.disabled)
            continue;
        ++enabled;
        PageData item;
        item.set("id", std::to_string(partner.id));
        item.set("name", partner.name);
        item.set("kind", referral::toString(partner.kind));
        std::string countries;
        for (const auto& code : partner.countries)
            countries += (countries.empty() ? "" : ", ") + code;
        item.set("countries", countries);
        item.set("selected", chosenPartner == std::to_string(partner.id));
        partners.push_back(item);
    }
    data.set("has_partners", enabled > 0);
    data.set("partners", partners);

    const auto chosenFields = form.all("field");
    const auto redacted = form.all("redact");
    PageData fields {PageData::type::list};
    for (const auto& name : referral::kReferableFields) {
        PageData item;
        item.set("name", name);
        item.set("label", pages_.catalog().translate("en", labelOf(fieldLabels(), name)));
        item.set("personal", personal(name));
        const bool chosen = resent
            ? std::find(chosenFields.begin(), chosenFields.end(), name) != chosenFields.end()
            : !personal(name);
        item.set("checked", chosen);
        item.set("redacted",
            resent ? std::find(redacted.begin(), redacted.end(), name) != redacted.end()
                   : personal(name));
        fields.push_back(item);
    }
    data.set("referable_fields", fields);

    const auto chosenAttachments = form.all("attachment");
    PageData attachments {PageData::type::list};
    const auto stored = attachmentsOf(database_, caseId);
    for (const auto& attachment : stored) {
        PageData item;
        item.set("id", std::to_string(attachment.id));
        item.set("name", attachment.name);
        item.set("media_type", attachment.mediaType);
        item.set("size", std::to_string(attachment.size));
        item.set("sha256", attachment.sha256);
        item.set("checked",
            std::find(
                chosenAttachments.begin(), chosenAttachments.end(), std::to_string(attachment.id))
                != chosenAttachments.end());
        attachments.push_back(item);
    }
    data.set("has_attachments", !stored.empty());
    data.set("attachments", attachments);

    std::string country;
    std::string urls;
    reportCategory(database_, caseId, country, urls);
    const bool online = category == kOnlineMaterial;
    data.set("online_material", online);
    const std::string scope = resent ? form.get("scope") : (online ? "urls" : "full");
    data.set("scope_urls", scope == "urls");
    data.set("scope_full", scope != "urls");
    data.set("urls", resent ? form.get("urls") : urls);
    data.set("hosting_country", resent ? form.get("hosting_country") : std::string());
    data.set("passages", form.get("passages"));
    data.set("cover_note", form.get("cover_note"));
    // Online abuse material goes to the hosting country's hotline unless a partner is chosen.
    data.set("partner_auto", resent ? chosenPartner == "auto" : online);
    return data;
}

StaffResponse StaffApp::caseRefer(Context& context)
{
    const std::int64_t id = context.match.id;
    const std::string idText = std::to_string(id);
    if (!cases_.find(id))
        return message(
            context, 404, "Case not found", "No case has this number. Go back to the inbox.");
    if (referrals_ == nullptr)
        return casePage(context, false,
            "Referrals are not set up on this box: the hotline's "
            "signing certificate is missing. Ask a technician "
            "to configure it.",
            503);
    const FormData& form = context.form;
    referral::ReferralRequest request;
    request.reportId = id;
    request.fields = form.all("field");
    request.redactedFields = form.all("redact");
    request.redactedPassages = lines(form.get("passages"));
    request.coverNote = form.get("cover_note");

    const auto fail = [&](const std::string& text) { return casePage(context, false, text, 400); };
    if (request.coverNote.size() > kMaxCoverNoteBytes)
        return fail("The cover note is longer than 8000 bytes. Shorten it and send again.");
    if (form.get("scope") == "urls") {
        request.scope = referral::ReferralScope::UrlsOnly;
        request.urls = lines(form.get("urls"));
        if (request.urls.empty())
            return fail("A URL-only referral needs at least one web address. Type "
                        "one per line.");
        if (!form.all("attachment").empty())
            return fail("A URL-only referral carries no files. Untick the "
                        "attachments, or choose a full referral.");
    }
    const std::string partnerText = form.get("partner");
    if (partnerText == "auto") {
        // Online abuse material goes to the hotline of the country that
        // hosts it, as listed in the partner registry's countries.
        std::string hosting = form.get("hosting_country");
        std::transform(hosting.begin(), hosting.end(), hosting.begin(),
            [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        if (request.scope != referral::ReferralScope::UrlsOnly)
            return fail("Choose a partner. Routing to the hosting country's hotline "
                        "is for URL-only referrals.");
        if (hosting.size() != 2 || !std::isupper(static_cast<unsigned char>(hosting[0]))
            || !std::isupper(static_cast<unsigned char>(hosting[1])))
            return fail("Type the hosting country as two letters, such as NL, or "
                        "choose a partner.");
        const auto hotlines
            = referral::partnersFor(database_, referral::PartnerKind::Hotline, hosting);
        if (hotlines.empty())
            return fail("No hotline in the partner registry covers " + hosting
                + ". Choose a partner, or ask a coordinator to add that "
                  "country's hotline.");
        request.partnerId = hotlines.front().id;
    } else {
        request.partnerId = std::atoll(partnerText.c_str());
        const auto partner = request.partnerId > 0
            ? referral::findPartner(database_, request.partnerId)
            : std::optional<referral::Partner>();
        if (!partner || partner->disabled)
            return fail("Choose a partner from the list.");
    }
    if (request.scope == referral::ReferralScope::Full && request.fields.empty()
        && form.all("attachment").empty())
        return fail("Choose at least one field or attachment to send.");

    // Each chosen attachment is read from the store and checked against
    // the SHA-256 taken at intake when it is sealed.
    std::vector<std::unique_ptr<std::stringstream>> contents;
    std::size_t total = 0;
    const auto stored = attachmentsOf(database_, id);
    for (const auto& chosen : form.all("attachment")) {
        const auto found = std::find_if(stored.begin(), stored.end(),
            [&](const StoredAttachment& each) { return std::to_string(each.id) == chosen; });
        if (found == stored.end())
            return fail("An attachment you chose does not belong to this case. Open "
                        "the case again and choose "
                        "from its list.");
        total += static_cast<std::size_t>(found->size);
        if (total > kMaxReferralAttachmentBytes)
            return fail("The chosen attachments are larger than 256 MiB together. "
                        "Send them in several referrals.");
        auto content
            = std::make_unique<std::stringstream>(std::ios::in | std::ios::out | std::ios::binary);
        try {
            storage::readStoredAttachment(database_, storage::AttachmentStore(attachmentFolder_),
                found->fileId, [&](std::span<const std::uint8_t> bytes) {
                    content->write(reinterpret_cast<const char*>(bytes.data()),
                        static_cast<std::streamsize>(bytes.size()));
                });
        } catch (const std::exception& error) {
            log::error("Failed to read attachment " + std::to_string(found->id)
                + " for a referral: " + error.what());
            return fail("The attachment '" + found->name
                + "' cannot be read from the store. Leave it out, and tell a "
                  "technician.");
        }
        request.attachments.push_back(
            {found->name, found->mediaType, found->sha256, content.get()});
        contents.push_back(std::move(content));
    }

    // Referrals takes the database mutex itself and seals outside it.
    referral::QueuedReferral queued;
    std::string problem;
    context.lock.unlock();
    try {
        queued = referrals_->refer(request, nowText(clock_));
    } catch (const referral::ReferralRequestError& error) {
        problem = error.what();
    } catch (...) {
        // The error page that handle() renders reads the database again.
        context.lock.lock();
        throw;
    }
    context.lock.lock();
    if (!problem.empty()) {
        problem[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(problem[0])));
        return fail("The referral was not sent: " + problem + ".");
    }
    audit(context, "case.referral_queued", "case", idText);
    audit(context,
        request.scope == referral::ReferralScope::UrlsOnly ? "referral.queued.urls"
                                                           : "referral.queued",
        "referral", std::to_string(queued.id));
    return redirect("/cases/" + idText + "#referrals");
}

StaffResponse StaffApp::caseRetract(Context& context)
{
    const std::int64_t id = context.match.id;
    const std::string idText = std::to_string(id);
    if (!cases_.find(id))
        return message(
            context, 404, "Case not found", "No case has this number. Go back to the inbox.");
    const std::int64_t referralId = std::atoll(context.form.get("referral").c_str());
    const auto list = referral::referralsOfReport(database_, id);
    if (std::none_of(
            list.begin(), list.end(), [&](const auto& each) { return each.id == referralId; }))
        return casePage(
            context, false, "This case has no such referral. Open the case again.", 404);
    switch (referral::retractReferral(database_, referralId, nowText(clock_))) {
    case referral::RetractResult::Retracted:
        audit(context, "referral.retracted", "referral", std::to_string(referralId));
        return redirect("/cases/" + idText + "#referrals");
    case referral::RetractResult::BeingSent:
        return casePage(context, false,
            "The referral is being sent right now and cannot be "
            "retracted. Open the case again in a minute to see "
            "whether it arrived.",
            409);
    case referral::RetractResult::NotQueued:
        return casePage(context, false,
            "Only a queued referral can be retracted; this one was "
            "delivered or has stopped. Ask the partner to "
            "disregard it if needed.",
            409);
    case referral::RetractResult::NotFound:
        break;
    }
    return casePage(context, false, "This case has no such referral. Open the case again.", 404);
}

StaffResponse StaffApp::partnerList(Context& context, const std::string& notice, int status)
{
    if (context.request.method == "GET")
        audit(context, "partners.view", "partners", "");
    PageData list {PageData::type::list};
    for (const auto& partner : referral::listPartners(database_)) {
        PageData item;
        item.set("id", std::to_string(partner.id));
        item.set("name", partner.name);
        item.set("kind", referral::toString(partner.kind));
        std::string countries;
        for (const auto& code : partner.countries)
            countries += (countries.empty() ? "" : ", ") + code;
        item.set("countries", countries);
        item.set("endpoint", partner.endpoint);
        item.set("disabled", partner.disabled);
        item.set("csrf", context.session->csrfToken);
        list.push_back(item);
    }
    PageData data;
    data.set("partners", list);
    data.set("has_partners", !list.is_empty_list());
    return render(context, "partners", "Partners", std::move(data), notice, status);
}

StaffResponse StaffApp::partnerPage(Context& context, std::int64_t id, const std::string& notice,
    int status, const std::string& failedField)
{
    std::optional<referral::Partner> stored;
    if (id != 0) {
        stored = referral::findPartner(database_, id);
        if (!stored)
            return message(context, 404, "Partner not found",
                "No partner has this number. Go back to the list.");
        if (context.request.method == "GET")
            audit(context, "partner.view", "partner", std::to_string(id));
    }
    const FormData& form = context.form;
    const bool resent = context.request.method == "POST";
    PageData data;
    data.set("new", id == 0);
    data.set("id", std::to_string(id));
    data.set("action", id == 0 ? std::string("/partners") : "/partners/" + std::to_string(id));
    const auto value = [&](const char* name, const std::string& current) {
        data.set(name, resent ? form.get(name) : current);
    };
    std::string countries;
    std::string kind = "police";
    if (stored) {
        for (const auto& code : stored->countries)
            countries += (countries.empty() ? "" : ", ") + code;
        kind = referral::toString(stored->kind);
    }
    value("name", stored ? stored->name : std::string());
    value("countries", countries);
    value("endpoint", stored ? stored->endpoint : std::string());
    value("website", stored ? stored->website : std::string());
    // Certificates come back into the form; the client key never does.
    value("server_trust", stored ? stored->serverTrustPem : std::string());
    value("client_certificate", stored ? stored->clientCertificatePem : std::string());
    value("encryption_certificate", stored ? stored->encryptionCertificatePem : std::string());
    value("receipt_certificate", stored ? stored->receiptCertificatePem : std::string());
    data.set("outcome_certificate", resent ? form.get("outcome_certificate") : std::string());
    if (stored)
        data.set("outcome_fingerprint", stored->outcomeCertificateSha256);
    const std::string chosenKind = resent ? form.get("kind") : kind;
    data.set("kind_police", chosenKind == "police");
    data.set("kind_hotline", chosenKind == "hotline");
    data.set("kind_other", chosenKind == "other");
    data.set("disabled", stored && stored->disabled);
    if (!failedField.empty())
        data.set("error_" + failedField, true);
    return render(context, "partner", id == 0 ? "New partner" : "Partner " + stored->name,
        std::move(data), notice, status);
}

StaffResponse StaffApp::partnerSave(Context& context)
{
    const FormData& form = context.form;
    const std::int64_t id
        = context.match.route->id == RouteId::PartnerUpdate ? context.match.id : 0;
    std::optional<referral::Partner> stored;
    if (id != 0) {
        stored = referral::findPartner(database_, id);
        if (!stored)
            return message(context, 404, "Partner not found",
                "No partner has this number. Go back to the list.");
    }
    referral::PartnerInput input {form.get("name"), form.get("kind"), form.get("countries"),
        form.get("endpoint"), form.get("website"), form.get("server_trust"),
        form.get("client_certificate"), form.get("client_key"), form.get("encryption_certificate"),
        form.get("receipt_certificate"), form.get("outcome_certificate"), {}};
    // An edit may leave the key and the outcome certificate empty to keep
    // the stored ones; neither is shown again.
    const bool keepKey = stored && !hasVisibleText(input.clientKeyPem);
    if (keepKey)
        input.clientKeyPem = stored->clientKeyPem;
    if (stored)
        input.keptOutcomeSha256 = stored->outcomeCertificateSha256;
    referral::Partner partner;
    std::string field;
    try {
        partner = referral::validatePartner(input, &field);
        partner.id = id;
        if (stored)
            partner.disabled = stored->disabled;
        const std::int64_t saved = referral::savePartner(database_, partner, nowText(clock_));
        publish(database_, settings_);
        audit(context, id == 0 ? "partner.created" : "partner.changed", "partner",
            std::to_string(saved));
        log::securityEvent(kPartnerChangedMessageId,
            std::string(id == 0 ? "Added" : "Changed") + " referral partner "
                + std::to_string(saved));
    } catch (const referral::PartnerImportError& error) {
        if (field.empty())
            field = "name";
        return partnerPage(context, id, error.what(), 400, field);
    }
    return redirect("/partners");
}

StaffResponse StaffApp::partnerEnable(Context& context, bool enabled)
{
    const std::int64_t id = context.match.id;
    if (!referral::findPartner(database_, id))
        return message(
            context, 404, "Partner not found", "No partner has this number. Go back to the list.");
    referral::setPartnerDisabled(database_, id, !enabled);
    publish(database_, settings_);
    audit(context, enabled ? "partner.enabled" : "partner.disabled", "partner", std::to_string(id));
    log::securityEvent(kPartnerChangedMessageId,
        std::string(enabled ? "Enabled" : "Disabled") + " referral partner " + std::to_string(id));
    return redirect("/partners");
}

} // namespace meldpunt::staff
