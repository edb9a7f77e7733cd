#include "OutcomeEndpoint.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/URI.h>

namespace meldpunt::referral {

namespace {

constexpr std::size_t kMaxBodyBytes = 4096;

std::string member(const Poco::JSON::Object& object, const std::string& name)
{
    const auto value = object.get(name);
    return value.isString() ? value.extract<std::string>() : std::string();
}

} // namespace

OutcomeResponse handleOutcomePost(Referrals* referrals, const std::string& escapedCertificate,
    const std::string& body, const std::string& now)
{
    if (escapedCertificate.empty())
        return {403, "a client certificate is required"};
    std::string fingerprint;
    try {
        std::string pem;
        Poco::URI::decode(escapedCertificate, pem);
        fingerprint = Certificate::fromPem(pem, "the client certificate").sha256Fingerprint();
    } catch (const std::exception&) {
        return {403, "the client certificate could not be read"};
    }
    if (body.size() > kMaxBodyBytes)
        return {400, "the body is larger than 4096 bytes"};
    std::string uuid;
    std::string outcomeText;
    try {
        const auto parsed = Poco::JSON::Parser().parse(body);
        if (parsed.type() != typeid(Poco::JSON::Object::Ptr))
            return {400, "the body must be a JSON object"};
        const auto object = parsed.extract<Poco::JSON::Object::Ptr>();
        uuid = member(*object, "referral");
        outcomeText = member(*object, "outcome");
    } catch (const Poco::Exception&) {
        return {400, "the body is not valid JSON"};
    }
    const auto outcome = outcomeFromString(outcomeText);
    if (!outcome)
        return {400, "'outcome' must be received, investigation_opened, no_action or closed"};
    if (referrals == nullptr)
        return {503, "the hotline's database is locked; post the outcome again later"};
    switch (referrals->recordOutcome(fingerprint, uuid, *outcome, now)) {
    case OutcomeResult::Recorded: return {204, {}};
    case OutcomeResult::NotDelivered: return {409, "this referral has not been delivered"};
    case OutcomeResult::NotFound: break;
    }
    return {404, "no referral with this UUID was sent to the partner of this certificate"};
}

} // namespace meldpunt::referral
