#include "FormPage.h"

#include "DraftPages.h"
#include "PublicSite.h"
#include "PublishedContent.h"
#include "PublishedPartners.h"

#include "UnixHttpServer.h"

#include <algorithm>

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

const char* uploadProblemKey(UploadProblem problem)
{
    switch (problem) {
    case UploadProblem::TooLarge: return "too_large";
    case UploadProblem::ReportFull: return "report_full";
    case UploadProblem::TooManyFiles: return "too_many_files";
    case UploadProblem::NotAllowed: return "not_allowed";
    case UploadProblem::Mismatch: return "mismatch";
    case UploadProblem::Empty: return "empty";
    case UploadProblem::NotStored: return "not_stored";
    }
    return "not_stored";
}

// Sizes as reporters read them on a phone: whole kilobytes below a
// megabyte, megabytes with one decimal above.
std::string sizeText(std::uint64_t bytes)
{
    constexpr std::uint64_t kMib = 1024 * 1024;
    if (bytes < kMib)
        return std::to_string((bytes + 1023) / 1024) + " KB";
    const std::uint64_t tenths = (bytes * 10 + kMib / 2) / kMib;
    return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " MB";
}

void setUploadData(mustache::data& data, const PublicSite& site, const FormState& state)
{
    mustache::data held{mustache::data::type::list};
    if (HeldUploads::isValidToken(state.uploadToken)) {
        data.set("upload_token", state.uploadToken);
        for (const auto& file : site.heldUploads().list(state.uploadToken)) {
            mustache::data item;
            item.set("id", file.id);
            item.set("name", file.displayName);
            item.set("size", sizeText(file.size));
            held.push_back(item);
        }
    }
    data.set("has_held_files", !held.is_empty_list());
    data.set("held_files", held);
    mustache::data notices{mustache::data::type::list};
    for (const auto& notice : state.uploadNotices) {
        mustache::data item;
        item.set("name", notice.fileName);
        item.set(std::string("problem_") + uploadProblemKey(notice.problem), true);
        notices.push_back(item);
    }
    data.set("has_upload_notices", !state.uploadNotices.empty());
    data.set("upload_notices", notices);
    const auto& config = site.config();
    data.set("max_file_size", sizeText(config.maxFileBytes));
    data.set("max_upload_size", sizeText(config.maxUploadBytes));
    data.set("max_files", std::to_string(config.maxFiles));
    data.set("upload_hold_hours", std::to_string(std::max<long>(1, config.uploadHoldTime.count() / 3600)));
}

// The form's own categories keep the element ids that they always had.
std::string categoryElementId(const std::string& id)
{
    if (id == "travel_tourism")
        return "category-travel";
    if (id == "online_material")
        return "category-online";
    if (id == "other_violence")
        return "category-other";
    if (id == "not_sure")
        return "category-unsure";
    return "category-added-" + id;
}

// The categories meldpuntd published, in their order, or the form's own
// while nothing is published. A label a coordinator gave in the page's
// language wins; the form's own categories fall back to their translated
// text, added ones to their English label.
mustache::data categoryList(const PublicSite& site, const std::string& language, const std::string& selected)
{
    std::vector<PublishedCategory> categories;
    if (auto content = readPublishedSiteContent(site.config().publishFolder))
        categories = std::move(content->categories);
    else
        for (const auto id : builtInCategories())
            categories.push_back({std::string(id), {}});
    mustache::data list{mustache::data::type::list};
    for (const auto& category : categories) {
        mustache::data item;
        item.set("id", category.id);
        item.set("html_id", categoryElementId(category.id));
        item.set("checked", category.id == selected);
        const auto own = category.labels.find(language);
        const auto english = category.labels.find("en");
        if (own != category.labels.end())
            item.set("label", own->second);
        else if (!builtInCategoryLabel(category.id).empty())
            item.set("builtin_" + category.id, true);
        else
            item.set("label", english != category.labels.end() ? english->second : category.id);
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
    // The routing hint: material online goes to the hotline of the
    // country that hosts it, from the partners meldpuntd published.
    const auto partners = readPublishedPartners(site.config().publishFolder);
    const std::string chosenCountry = state.values.get("country");
    mustache::data countryHotlines{mustache::data::type::list};
    bool hasHotlines = false;
    for (const auto& partner : partners) {
        if (partner.kind != "hotline")
            continue;
        hasHotlines = true;
        if (std::find(partner.countries.begin(), partner.countries.end(), chosenCountry) == partner.countries.end())
            continue;
        mustache::data item;
        item.set("name", partner.name);
        if (!partner.website.empty())
            item.set("website", partner.website);
        countryHotlines.push_back(item);
    }
    data.set("has_hotlines", hasHotlines);
    data.set("country_hotlines", countryHotlines);
    for (const auto& spec : ReportForm::fields())
        data.set("value_" + std::string(spec.name), state.values.get(spec.name));
    data.set("countries", countryList(site, language, state.values.get("country")));
    data.set("country_unknown_selected", state.values.get("country") == "unknown");
    // Each offered option gets a flag "<field>_<option>" that is true when
    // chosen, so the template can mark it selected or checked.
    for (const auto& spec : ReportForm::fields()) {
        if (spec.kind != FieldKind::Choice)
            continue;
        for (const auto option : spec.options)
            data.set(std::string(spec.name) + "_" + std::string(option),
                state.values.get(spec.name) == option);
    }
    data.set("categories", categoryList(site, language, state.values.get("category")));
    data.set("consent_checked", state.values.get("consent") == "yes");

    // The summary lists the problems in the order of the form, so that its
    // links lead down the page.
    mustache::data summary{mustache::data::type::list};
    for (const auto& spec : ReportForm::fields()) {
        const auto found = state.problems.find(std::string(spec.name));
        if (found == state.problems.end())
            continue;
        const auto& [field, problem] = *found;
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
    setUploadData(data, site, state);
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

void sendPage(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
    Poco::Net::HTTPResponse::HTTPStatus status, const std::string& html)
{
    response.setStatusAndReason(status);
    response.setContentType("text/html; charset=utf-8");
    response.set("Cache-Control", "no-store");
    sendAtOnce(request, response, html);
}

} // namespace meldpunt::site
