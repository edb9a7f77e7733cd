#include "ReportForm.h"

#include <Poco/JSON/Object.h>

#include <algorithm>
#include <array>
#include <optional>
#include <sstream>

namespace meldpunt {

namespace {

constexpr std::array<std::string_view, 4> kCategories = {
    "travel_tourism", "online_material", "other_violence", "not_sure"};
constexpr std::array<std::string_view, 2> kContactChoices = {"anonymous", "contact"};
constexpr std::array<std::string_view, 1> kConsent = {"yes"};
constexpr std::array<std::string_view, 10> kVenueTypes = {"hotel", "holiday_rental", "street",
    "bar_club", "beach", "transport", "private_home", "institution", "online", "other"};
constexpr std::array<std::string_view, 4> kPeopleCounts = {"one", "two", "several", "unknown"};
constexpr std::array<std::string_view, 5> kSuspectAges = {
    "under_18", "18_29", "30_49", "50_plus", "unknown"};
constexpr std::array<std::string_view, 5> kChildAges = {
    "under_6", "6_11", "12_15", "16_17", "unknown"};
constexpr std::array<std::string_view, 4> kGenders = {"female", "male", "both", "unknown"};
constexpr std::array<std::string_view, 6> kReporterAges = {
    "under_18", "18_29", "30_49", "50_64", "65_plus", "no_answer"};
constexpr std::array<std::string_view, 4> kReporterGenders = {
    "female", "male", "other", "no_answer"};
constexpr std::array<std::string_view, 7> kFoundVia = {"search_engine", "campaign",
    "social_media", "news", "friend_family", "organisation", "other"};

constexpr auto kRequired = FieldRequirement::Required;
constexpr auto kOptional = FieldRequirement::Optional;

bool isOffered(std::string_view value, std::span<const std::string_view> options)
{
    return std::find(options.begin(), options.end(), value) != options.end();
}

std::optional<FieldProblem> checkText(const FieldSpec& spec, const std::string& value)
{
    if (hasForbiddenControl(value))
        return FieldProblem::ControlCharacter;
    if (countCodePoints(value) > spec.maxCharacters)
        return FieldProblem::TooLong;
    if (spec.required() && !hasVisibleText(value))
        return FieldProblem::Missing;
    return std::nullopt;
}

std::optional<FieldProblem> checkField(const FieldSpec& spec, const std::string& value,
    const std::set<std::string>& countryCodes)
{
    switch (spec.kind) {
    case FieldKind::Text:
    case FieldKind::TextArea:
        return checkText(spec, value);
    case FieldKind::Country:
        if (value.empty())
            return spec.required() ? std::optional(FieldProblem::Missing) : std::nullopt;
        return countryCodes.contains(value) ? std::nullopt : std::optional(FieldProblem::InvalidChoice);
    case FieldKind::Choice:
    case FieldKind::Checkbox:
        if (value.empty())
            return spec.required() ? std::optional(FieldProblem::Missing) : std::nullopt;
        return isOffered(value, spec.options) ? std::nullopt : std::optional(FieldProblem::InvalidChoice);
    }
    return FieldProblem::InvalidChoice;
}

} // namespace

const std::vector<FieldSpec>& ReportForm::fields()
{
    // Limits are generous: a reporter who wrote a long account must never
    // lose it to a limit, and the body limit bounds the whole form anyway.
    static const std::vector<FieldSpec> specs = {
        {"what", FieldKind::TextArea, kRequired, 20000},
        {"why_suspicious", FieldKind::TextArea, kOptional, 10000},
        {"country", FieldKind::Country, kRequired, 16},
        {"city", FieldKind::Text, kOptional, 200},
        {"venue_type", FieldKind::Choice, kOptional, 32, kVenueTypes},
        {"place", FieldKind::Text, kOptional, 500},
        {"urls", FieldKind::TextArea, kOptional, 5000},
        {"when", FieldKind::Text, kOptional, 200},
        {"category", FieldKind::Choice, kRequired, 32, kCategories},
        {"suspect_count", FieldKind::Choice, kOptional, 16, kPeopleCounts},
        {"suspect_age", FieldKind::Choice, kOptional, 16, kSuspectAges},
        {"suspect_gender", FieldKind::Choice, kOptional, 16, kGenders},
        {"suspect_description", FieldKind::TextArea, kOptional, 5000},
        {"suspect_language", FieldKind::Text, kOptional, 200},
        {"child_count", FieldKind::Choice, kOptional, 16, kPeopleCounts},
        {"child_age", FieldKind::Choice, kOptional, 16, kChildAges},
        {"child_gender", FieldKind::Choice, kOptional, 16, kGenders},
        {"child_description", FieldKind::TextArea, kOptional, 5000},
        {"child_language", FieldKind::Text, kOptional, 200},
        {"action_taken", FieldKind::TextArea, kOptional, 5000},
        {"remarks", FieldKind::TextArea, kOptional, 10000},
        {"contact", FieldKind::Choice, kRequired, 16, kContactChoices},
        {"name", FieldKind::Text, kOptional, 200},
        {"email", FieldKind::Text, kOptional, 254},
        {"phone", FieldKind::Text, kOptional, 50},
        {"reporter_age", FieldKind::Choice, kOptional, 16, kReporterAges},
        {"reporter_gender", FieldKind::Choice, kOptional, 16, kReporterGenders},
        {"found_via", FieldKind::Choice, kOptional, 32, kFoundVia},
        {"consent", FieldKind::Checkbox, kRequired, 8, kConsent},
    };
    return specs;
}

const FieldSpec* ReportForm::field(std::string_view name)
{
    const auto& specs = fields();
    const auto found = std::find_if(specs.begin(), specs.end(),
        [&](const FieldSpec& spec) { return spec.name == name; });
    return found == specs.end() ? nullptr : &*found;
}

std::span<const std::string_view> ReportForm::categories()
{
    return kCategories;
}

std::span<const std::string_view> ReportForm::contactChoices()
{
    return kContactChoices;
}

bool ReportForm::isContactDetail(std::string_view name)
{
    return name == "name" || name == "email" || name == "phone";
}

std::map<std::string, FieldProblem> ReportForm::validate(const FormData& form,
    const std::set<std::string>& countryCodes, const std::set<std::string>* categories)
{
    std::map<std::string, FieldProblem> problems;
    const bool anonymous = form.get("contact") != "contact";
    for (const auto& spec : fields()) {
        // Contact details typed before choosing anonymity are dropped
        // unread, so they must not stand in the reporter's way.
        if (anonymous && isContactDetail(spec.name))
            continue;
        if (spec.name == "category" && categories != nullptr) {
            const std::string& value = form.get(spec.name);
            if (value.empty())
                problems.emplace(spec.name, FieldProblem::Missing);
            else if (!categories->contains(value))
                problems.emplace(spec.name, FieldProblem::InvalidChoice);
            continue;
        }
        if (auto problem = checkField(spec, form.get(spec.name), countryCodes))
            problems.emplace(spec.name, *problem);
    }

    if (!anonymous && !problems.contains("email") && hasVisibleText(form.get("email"))
        && !looksLikeEmail(form.get("email")))
        problems.emplace("email", FieldProblem::InvalidEmail);
    if (form.get("contact") == "contact" && !hasVisibleText(form.get("email"))
        && !hasVisibleText(form.get("phone")) && !problems.contains("email"))
        problems.emplace("email", FieldProblem::ContactMissing);
    return problems;
}

std::string ReportForm::toJson(const FormData& form, std::string_view language,
    std::string_view receivedAtUtc)
{
    Poco::JSON::Object fieldsObject;
    const bool anonymous = form.get("contact") != "contact";
    for (const auto& spec : fields()) {
        // An anonymous reporter may have typed details before choosing
        // anonymity; they are not kept.
        if (isContactDetail(spec.name) && anonymous)
            continue;
        fieldsObject.set(std::string(spec.name), form.get(spec.name));
    }
    Poco::JSON::Object root;
    root.set("schema", 1);
    root.set("language", std::string(language));
    root.set("received_at", std::string(receivedAtUtc));
    root.set("channel", "form");
    root.set("fields", fieldsObject);
    std::ostringstream out;
    root.stringify(out);
    return out.str();
}

} // namespace meldpunt
