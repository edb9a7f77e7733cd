#include "FormPage.h"

#include "DraftPages.h"
#include "PublicSite.h"

namespace meldpunt::site {

namespace mustache = kainjow::mustache;

namespace {

const char* problemKey(FieldProblem problem)
{
    switch (problem) {
    case FieldProblem::Missing: return "missing";
    case FieldProblem::TooLong: return "too_long";
    case FieldProblem::ControlCharacter: return "control_character";
    case FieldProblem::InvalidChoice: return "invalid_choice";
    case FieldProblem::InvalidEmail: return "invalid_email";
    case FieldProblem::ContactMissing: return "contact_missing";
    }
    return "invalid_choice";
}

mustache::data countryList(const PublicSite& site, const std::string& language, const std::string& selected)
{
    mustache::data list{mustache::data::type::list};
    for (const auto& country : site.pages().catalog().countries(language)) {
        mustache::data item;
        item.set("code", country.code);
        item.set("name", country.name);
        item.set("selected", country.code == selected);
        list.push_back(item);
    }
    return list;
}

mustache::data languageSwitch(const PublicSite& site, const std::string& current)
{
    mustache::data list{mustache::data::type::list};
    for (const auto& language : site.pages().catalog().languages()) {
        if (language.code == current)
            continue;
        mustache::data item;
        item.set("code", language.code);
        item.set("name", language.nativeName);
        list.push_back(item);
    }
    return list;
}

} // namespace

std::string renderForm(const PublicSite& site, const std::string& language, const FormState& state)
{
    mustache::data data;
    for (const auto& spec : ReportForm::fields())
        data.set("value_" + std::string(spec.name), state.values.get(spec.name));
    data.set("countries", countryList(site, language, state.values.get("country")));
    data.set("country_unknown_selected", state.values.get("country") == "unknown");
    for (auto category : ReportForm::categories())
        data.set("category_" + std::string(category), state.values.get("category") == category);
    for (auto choice : ReportForm::contactChoices())
        data.set("contact_" + std::string(choice), state.values.get("contact") == choice);
    data.set("consent_checked", state.values.get("consent") == "yes");

    mustache::data summary{mustache::data::type::list};
    for (const auto& [field, problem] : state.problems) {
        data.set("error_" + field, true);
        data.set("error_" + field + "_" + problemKey(problem), true);
        mustache::data item;
        item.set("field", field);
        item.set("field_" + field, true);
        summary.push_back(item);
    }
    data.set("has_errors", !state.problems.empty());
    data.set("error_summary", summary);
    if (!state.notice.empty())
        data.set("notice_" + state.notice, true);
    data.set("languages", languageSwitch(site, language));
    data.set("form_page", true);
    data.set("page_path", "report");
    data.set("max_report_kib", std::to_string(site.config().maxReportBytes / 1024));
    setDraftLifetime(site, data);
    data.set("resume_code", state.values.get(kResumeCodeField));
    data.set("draft_expires", state.draftExpires);
    return site.pages().render("form", language, data);
}

PageData messageData(const std::string& kind)
{
    PageData data;
    data.set("message_" + kind, true);
    return data;
}

void sendPage(Poco::Net::HTTPServerResponse& response, Poco::Net::HTTPResponse::HTTPStatus status,
    const std::string& html)
{
    response.setStatusAndReason(status);
    response.setContentType("text/html; charset=utf-8");
    response.set("Cache-Control", "no-store");
    response.setContentLength(static_cast<std::streamsize>(html.size()));
    response.send() << html;
}

} // namespace meldpunt::site
