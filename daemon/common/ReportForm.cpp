#include "ReportForm.h"

#include <Poco/JSON/Object.h>

#include <algorithm>
#include <sstream>

namespace meldpunt {

namespace {

bool isContactDetail(std::string_view name)
{
    return name == "name" || name == "email" || name == "phone";
}

bool isOffered(std::string_view value, const std::vector<std::string_view>& options)
{
    return std::find(options.begin(), options.end(), value) != options.end();
}

std::optional<FieldProblem> checkText(const FieldSpec& spec, const std::string& value)
{
    if (hasForbiddenControl(value))
        return FieldProblem::ControlCharacter;
    if (countCodePoints(value) > spec.maxCharacters)
        return FieldProblem::TooLong;
    if (spec.required && !hasVisibleText(value))
        return FieldProblem::Missing;
    return std::nullopt;
}

} // namespace

const std::vector<FieldSpec>& ReportForm::fields()
{
    static const std::vector<FieldSpec> specs = {
        {"what", FieldKind::TextArea, true, 20000},
        {"country", FieldKind::Choice, true, 16},
        {"place", FieldKind::Text, false, 500},
        {"when", FieldKind::Text, false, 200},
        {"category", FieldKind::Choice, true, 32},
        {"contact", FieldKind::Choice, true, 16},
        {"name", FieldKind::Text, false, 200},
        {"email", FieldKind::Text, false, 254},
        {"phone", FieldKind::Text, false, 50},
        {"consent", FieldKind::Checkbox, true, 8},
    };
    return specs;
}

const std::vector<std::string_view>& ReportForm::categories()
{
    static const std::vector<std::string_view> values = {
        "travel_tourism", "online_material", "other_violence", "not_sure"};
    return values;
}

const std::vector<std::string_view>& ReportForm::contactChoices()
{
    static const std::vector<std::string_view> values = {"anonymous", "contact"};
    return values;
}

std::map<std::string, FieldProblem> ReportForm::validate(const FormData& form,
    const std::set<std::string>& countryCodes)
{
    std::map<std::string, FieldProblem> problems;
    const bool anonymous = form.get("contact") != "contact";
    for (const auto& spec : fields()) {
        // Contact details typed before choosing anonymity are dropped
        // unread, so they must not stand in the reporter's way.
        if (anonymous && isContactDetail(spec.name))
            continue;
        const std::string& value = form.get(spec.name);
        std::optional<FieldProblem> problem;
        if (spec.kind == FieldKind::Text || spec.kind == FieldKind::TextArea) {
            problem = checkText(spec, value);
        } else if (value.empty()) {
            if (spec.required)
                problem = FieldProblem::Missing;
        } else if (spec.name == "country") {
            if (!countryCodes.contains(value))
                problem = FieldProblem::InvalidChoice;
        } else if (spec.name == "category") {
            if (!isOffered(value, categories()))
                problem = FieldProblem::InvalidChoice;
        } else if (spec.name == "contact") {
            if (!isOffered(value, contactChoices()))
                problem = FieldProblem::InvalidChoice;
        } else if (spec.name == "consent") {
            if (value != "yes")
                problem = FieldProblem::InvalidChoice;
        }
        if (problem)
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
