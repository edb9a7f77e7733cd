#include "ReturnVisit.h"

#include "FormPage.h"
#include "FormRequest.h"
#include "PublicSite.h"

#include "FileSystem.h"
#include "Log.h"
#include "ReceiptSecret.h"
#include "SealedBox.h"
#include "Uuid.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <cerrno>
#include <sstream>
#include <system_error>

namespace meldpunt::site {

namespace {

using Poco::Net::HTTPResponse;

constexpr std::size_t kMaxReceiptBytes = 4 * 1024 * 1024;
constexpr std::size_t kMaxMessageCharacters = 20000;
constexpr std::chrono::milliseconds kSlowHashWait{3000};

// The state of one return visit: the typed fields, the problem found, and,
// once the secret is verified, the published receipt with its key pair.
struct Visit {
    std::string typedReference;
    std::string typedSecret;
    std::string message;
    std::string notice;
    HTTPResponse::HTTPStatus status = HTTPResponse::HTTP_OK;
    std::string reference;
    Poco::JSON::Object::Ptr receipt;
    std::optional<crypto::X25519KeyPair> keys;
};

const char* secretProblemKey(CodeProblem problem)
{
    switch (problem) {
    case CodeProblem::Empty: return "secret_empty";
    case CodeProblem::InvalidCharacter: return "secret_invalid_character";
    case CodeProblem::WrongLength: return "secret_wrong_length";
    case CodeProblem::CheckMismatch: return "secret_typo";
    case CodeProblem::OtherKind: return "secret_is_resume_code";
    }
    return "secret_empty";
}

PageData repliesData(const Visit& visit)
{
    PageData list{PageData::type::list};
    const auto replies = visit.receipt->getArray("replies");
    for (unsigned i = 0; replies && i < replies->size(); ++i) {
        const auto reply = replies->getObject(i);
        if (!reply)
            continue;
        const std::string context = "meldpunt reply " + visit.reference + " "
            + std::to_string(reply->optValue<Poco::Int64>("id", 0));
        std::optional<std::string> text;
        try {
            text = crypto::openSealedBox(*visit.keys, context, crypto::fromBase64(reply->optValue<std::string>("sealed", "")));
        } catch (const std::invalid_argument&) {
        }
        PageData item;
        item.set("at", reply->optValue<std::string>("at", ""));
        item.set("text", text.value_or(""));
        item.set("unreadable", !text);
        list.push_back(item);
    }
    return list;
}

void sendVisit(PublicSite& site, const std::string& language, const Visit& visit,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response)
{
    PageData data;
    data.set("page_path", "return");
    data.set("typed_reference", visit.typedReference);
    data.set("typed_secret", visit.typedSecret);
    data.set("message", visit.message);
    if (!visit.notice.empty())
        data.set("notice_" + visit.notice, true);
    data.set("reference_problem", visit.notice.starts_with("reference_"));
    data.set("secret_problem", visit.notice.starts_with("secret_"));
    if (visit.receipt) {
        const std::string state = visit.receipt->optValue<std::string>("state", "");
        data.set("verified", true);
        data.set("reference", visit.reference);
        data.set("state_" + state, true);
        data.set("can_withdraw", visit.receipt->optValue<bool>("can_withdraw", false) && visit.notice != "withdrawal_sent");
        data.set("can_add", state != "withdrawn" && visit.notice != "withdrawal_sent");
        data.set("replies", repliesData(visit));
    }
    sendPage(request, response, visit.status, site.pages().render("return", language, data));
}

Poco::JSON::Object::Ptr readPublishedReceipt(const PublicSite& site, const Uuid& uuid)
{
    const auto file = site.config().publishFolder / "receipts" / (uuid.toString() + ".json");
    std::string text;
    try {
        text = fsutil::readSmallFile(file, kMaxReceiptBytes);
    } catch (const std::system_error& error) {
        if (error.code().value() == ENOENT)
            return nullptr;
        throw;
    }
    try {
        Poco::JSON::Parser parser;
        auto root = parser.parse(text).extract<Poco::JSON::Object::Ptr>();
        if (root->optValue<std::string>("format", "") != "meldpunt-receipt" || root->optValue<int>("version", 0) != 1)
            throw std::system_error(EINVAL, std::generic_category(), "reading '" + file.string() + "': unknown format");
        return root;
    } catch (const Poco::Exception& error) {
        throw std::system_error(EINVAL, std::generic_category(),
            "reading '" + file.string() + "': " + error.displayText());
    }
}

// Checks the typed reference and secret. On success fills the receipt and
// the key pair of `visit`; otherwise sets its notice and status.
void verify(PublicSite& site, const std::string& address, Visit& visit)
{
    const auto uuid = uuidFromReference(visit.typedReference);
    if (!uuid) {
        visit.notice = "reference_invalid";
        visit.status = HTTPResponse::HTTP_UNPROCESSABLE_ENTITY;
        return;
    }
    auto parsed = ReporterCode::parse(visit.typedSecret, ReporterCode::Kind::Receipt);
    if (!parsed.code) {
        visit.notice = secretProblemKey(parsed.problem);
        visit.status = HTTPResponse::HTTP_UNPROCESSABLE_ENTITY;
        return;
    }
    if (!site.receiptLimiter().permits(address)) {
        visit.notice = "too_many_secrets";
        visit.status = HTTPResponse::HTTP_TOO_MANY_REQUESTS;
        return;
    }
    const auto receipt = readPublishedReceipt(site, *uuid);
    std::optional<crypto::X25519KeyPair> keys;
    auto permit = site.slowHashes().enter(kSlowHashWait);
    if (!permit) {
        visit.notice = "busy";
        visit.status = HTTPResponse::HTTP_SERVICE_UNAVAILABLE;
        return;
    }
    if (receipt)
        keys = openReceipt(*parsed.code, receipt->optValue<std::string>("hash", ""));
    else
        // An unknown reference costs the same Argon2id run as a known one,
        // so the time of the answer does not tell which references exist.
        deriveReceiptKeys(*parsed.code, site.config().receiptCost);
    permit.reset();
    // An unknown reference and a wrong secret get the same page, so a
    // guesser learns nothing about which references exist.
    if (!keys) {
        site.receiptLimiter().countFailure(address);
        visit.notice = "not_found";
        visit.status = HTTPResponse::HTTP_NOT_FOUND;
        return;
    }
    visit.reference = referenceFromUuid(*uuid);
    visit.receipt = receipt;
    visit.keys = std::move(keys);
}

std::string reporterEntryJson(const std::string& reference, const std::string& language, const std::string& message)
{
    Poco::JSON::Object root;
    root.set("schema", 1);
    root.set("reference", reference);
    root.set("received_at", utcNow());
    root.set("language", language);
    root.set("message", message);
    std::ostringstream out;
    root.stringify(out);
    return out.str();
}

bool writeReporterEntry(PublicSite& site, spool::EntryKind kind, const std::string& json, Visit& visit)
{
    Uuid uuid;
    switch (writeSpoolEntry(site, kind, json, uuid)) {
    case SpoolResult::Written:
        return true;
    case SpoolResult::NoIntakeKey:
    case SpoolResult::Failed:
        break;
    }
    visit.notice = "not_saved";
    visit.status = HTTPResponse::HTTP_SERVICE_UNAVAILABLE;
    return false;
}

void addInformation(PublicSite& site, const std::string& language, Visit& visit)
{
    if (visit.receipt->optValue<std::string>("state", "") == "withdrawn") {
        visit.notice = "withdrawn_already";
        visit.status = HTTPResponse::HTTP_CONFLICT;
        return;
    }
    if (!hasVisibleText(visit.message)) {
        visit.notice = "message_missing";
        visit.status = HTTPResponse::HTTP_UNPROCESSABLE_ENTITY;
        return;
    }
    if (hasForbiddenControl(visit.message) || countCodePoints(visit.message) > kMaxMessageCharacters) {
        visit.notice = "message_invalid";
        visit.status = HTTPResponse::HTTP_UNPROCESSABLE_ENTITY;
        return;
    }
    if (!writeReporterEntry(site, spool::EntryKind::FollowUp, reporterEntryJson(visit.reference, language, visit.message), visit))
        return;
    visit.message.clear();
    visit.notice = "information_sent";
}

void withdraw(PublicSite& site, const std::string& language, const FormData& form, Visit& visit)
{
    if (!visit.receipt->optValue<bool>("can_withdraw", false)) {
        visit.notice = "cannot_withdraw";
        visit.status = HTTPResponse::HTTP_CONFLICT;
        return;
    }
    if (form.get("confirm_withdraw") != "yes") {
        visit.notice = "confirm_withdraw";
        visit.status = HTTPResponse::HTTP_UNPROCESSABLE_ENTITY;
        return;
    }
    if (writeReporterEntry(site, spool::EntryKind::Withdrawal, reporterEntryJson(visit.reference, language, {}), visit))
        visit.notice = "withdrawal_sent";
}

} // namespace

void handleReturnGet(PublicSite& site, const std::string& language, Poco::Net::HTTPServerRequest& request,
    Poco::Net::HTTPServerResponse& response)
{
    sendVisit(site, language, Visit{}, request, response);
}

void handleReturnPost(PublicSite& site, const std::string& language,
    Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response)
{
    const auto form = readPostedForm(site, language, request, response);
    if (!form)
        return;
    Visit visit;
    visit.typedReference = form->get("reference");
    visit.typedSecret = form->get("secret");
    visit.message = form->get("message");
    // nginx sets X-Real-IP from the connection; it is used here, in
    // memory, for the limit on wrong secrets and nowhere else.
    verify(site, request.get("X-Real-IP", "unknown"), visit);
    if (visit.keys) {
        const std::string& action = form->get("action");
        if (action == "add")
            addInformation(site, language, visit);
        else if (action == "withdraw")
            withdraw(site, language, *form, visit);
    }
    if (visit.status == HTTPResponse::HTTP_TOO_MANY_REQUESTS)
        response.set("Retry-After", std::to_string(site.receiptLimiter().wait(request.get("X-Real-IP", "unknown")).count()));
    if (visit.status == HTTPResponse::HTTP_SERVICE_UNAVAILABLE)
        response.set("Retry-After", "10");
    sendVisit(site, language, visit, request, response);
}

} // namespace meldpunt::site
