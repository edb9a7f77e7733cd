// The staff pages for the public site's content: the texts that
// coordinators write in place of the built-in ones, the report categories
// of the form, each category's protocol checklist, and the checklist on
// the case page. Every change is published for meldpunt-public and
// audited by ids and action names, never by the text.

#include "StaffApp.h"
#include "StaffContext.h"

#include "FormData.h"
#include "Log.h"
#include "Markdown.h"
#include "PublishedContent.h"
#include "SiteContent.h"

#include <charconv>
#include <set>

namespace meldpunt::staff {

namespace {

std::string utcNow(const Clock& clock)
{
    return formatUtc(clock());
}

// The public path of a page, for a link to it: "home" is the language's
// start page, "info-faq" is "info/faq".
std::string publicPath(const std::string& page, const std::string& language)
{
    if (page == "home")
        return "/" + language + "/";
    return "/" + language + "/info/" + page.substr(5);
}

// A positive decimal id from a form field; 0 when it is not one.
std::int64_t idFrom(const std::string& text)
{
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size() && value > 0 ? value : 0;
}

// The label to show staff: the English label a coordinator gave, or the
// form's own English text for a built-in category.
std::string englishLabel(const storage::SiteCategory& category)
{
    const auto found = category.labels.find("en");
    if (found != category.labels.end())
        return found->second;
    const auto builtIn = builtInCategoryLabel(category.code);
    return builtIn.empty() ? category.code : std::string(builtIn);
}

} // namespace

void StaffApp::publishSiteContent()
{
    if (settings_.publishFolder.empty())
        return;
    try {
        storage::publishSiteContent(database_, settings_.publishFolder);
    } catch (const std::exception& error) {
        log::error(std::string("Failed to publish the site content for the public site: ") + error.what());
    }
}

StaffResponse StaffApp::siteContentRoute(Context& context)
{
    switch (context.match.route->id) {
    case RouteId::SiteTexts:
        return siteTexts(context, {}, 200);
    case RouteId::SiteTextPage:
        return siteTextPage(context, {}, 200);
    case RouteId::SiteTextSave:
    case RouteId::SiteTextRestore:
        return siteTextChange(context);
    case RouteId::CategoryList:
        return categoryList(context, {}, 200);
    case RouteId::CategoryPage:
        return categoryPage(context, {}, 200);
    case RouteId::CategoryCreate:
    case RouteId::CategoryUpdate:
    case RouteId::CategoryDisable:
    case RouteId::CategoryEnable:
    case RouteId::ProtocolStepAdd:
    case RouteId::ProtocolStepRemove:
        return categoryChange(context);
    case RouteId::CaseProtocol:
        return caseProtocol(context);
    default:
        break;
    }
    return message(context, 404, "Page not found", "This page does not exist.");
}

StaffResponse StaffApp::siteTexts(Context& context, const std::string& notice, int status)
{
    std::set<std::pair<std::string, std::string>> edited;
    for (const auto& text : storage::listSiteTexts(database_))
        edited.emplace(text.page, text.language);
    PageData languages{PageData::type::list};
    for (const auto& language : pages_.catalog().languages()) {
        PageData item;
        item.set("code", language.code);
        item.set("name", language.nativeName);
        languages.push_back(item);
    }
    PageData rows{PageData::type::list};
    for (const auto page : editablePages()) {
        PageData row;
        row.set("page", std::string(page));
        PageData cells{PageData::type::list};
        for (const auto& language : pages_.catalog().languages()) {
            PageData cell;
            cell.set("page", std::string(page));
            cell.set("language", language.code);
            cell.set("edited", edited.contains({std::string(page), language.code}));
            cells.push_back(cell);
        }
        row.set("cells", cells);
        rows.push_back(row);
    }
    PageData data;
    data.set("languages", languages);
    data.set("pages", rows);
    return render(context, "site-texts", "Texts of the public site", std::move(data), notice, status);
}

StaffResponse StaffApp::siteTextPage(Context& context, const std::string& notice, int status)
{
    const bool resent = context.request.method == "POST";
    const FormData fields = resent ? context.form : parseUrlEncoded(context.request.query);
    const std::string page = fields.get("page");
    const std::string language = fields.get("language");
    if (!isEditablePage(page) || !pages_.catalog().hasLanguage(language))
        return siteTexts(context, "Choose a page and a language from the table.", 400);
    const auto stored = storage::findSiteText(database_, page, language);
    PageData data;
    data.set("page", page);
    data.set("language", language);
    data.set("language_name", pages_.catalog().language(language).nativeName);
    data.set("public_path", publicPath(page, language));
    data.set("edited", stored.has_value());
    if (stored)
        data.set("updated_at", stored->updatedAt);
    if (resent)
        data.set("markdown", fields.get("markdown"));
    else
        data.set("markdown", stored ? stored->markdown : std::string());
    // The preview is what the public site shows: the renderer escapes
    // everything it does not make itself.
    if (stored)
        data.set("preview", markdown::toHtml(stored->markdown));
    data.set("max_characters", std::to_string(storage::kMaxTextCharacters));
    return render(context, "site-text", "Text of " + page + " (" + language + ")", std::move(data), notice, status);
}

StaffResponse StaffApp::siteTextChange(Context& context)
{
    const std::string page = context.form.get("page");
    const std::string language = context.form.get("language");
    if (!isEditablePage(page) || !pages_.catalog().hasLanguage(language))
        return siteTexts(context, "Choose a page and a language from the table.", 400);
    const std::string objectId = page + "/" + language;
    const std::string back = "/site/text?page=" + page + "&language=" + language;
    if (context.match.route->id == RouteId::SiteTextRestore) {
        if (storage::removeSiteText(database_, page, language)) {
            publishSiteContent();
            audit(context, "site_text.restored", "site_text", objectId);
        }
        return redirect(back);
    }
    try {
        storage::saveSiteText(database_, page, language, context.form.get("markdown"), utcNow(clock_));
    } catch (const storage::SiteContentError& error) {
        return siteTextPage(context, error.what(), 400);
    }
    publishSiteContent();
    audit(context, "site_text.saved", "site_text", objectId);
    return redirect(back);
}

StaffResponse StaffApp::categoryList(Context& context, const std::string& notice, int status)
{
    const bool resent = context.request.method == "POST";
    PageData list{PageData::type::list};
    for (const auto& category : storage::listCategories(database_)) {
        PageData item;
        item.set("id", std::to_string(category.id));
        item.set("code", category.code);
        item.set("label", englishLabel(category));
        item.set("built_in", category.builtIn);
        item.set("disabled", category.disabled);
        item.set("in_use", storage::categoryInUse(database_, category.code));
        item.set("steps", std::to_string(storage::protocolSteps(database_, category.id).size()));
        item.set("csrf", context.session->csrfToken);
        list.push_back(item);
    }
    PageData languages{PageData::type::list};
    for (const auto& language : pages_.catalog().languages()) {
        PageData item;
        item.set("code", language.code);
        item.set("name", language.nativeName);
        item.set("value", resent ? context.form.get("label_" + language.code) : std::string());
        item.set("required", language.code == "en");
        languages.push_back(item);
    }
    PageData data;
    data.set("categories", list);
    data.set("languages", languages);
    data.set("new_code", resent ? context.form.get("code") : std::string());
    return render(context, "categories", "Report categories", std::move(data), notice, status);
}

StaffResponse StaffApp::categoryPage(Context& context, const std::string& notice, int status)
{
    const auto category = storage::findCategory(database_, context.match.id);
    if (!category)
        return message(context, 404, "Category not found", "No category has this number. Go back to the list.");
    const bool resentLabels = context.match.route->id == RouteId::CategoryUpdate;
    PageData languages{PageData::type::list};
    for (const auto& language : pages_.catalog().languages()) {
        PageData item;
        item.set("code", language.code);
        item.set("name", language.nativeName);
        const auto stored = category->labels.find(language.code);
        item.set("value", resentLabels ? context.form.get("label_" + language.code)
                : stored != category->labels.end() ? stored->second
                                                    : std::string());
        item.set("required", !category->builtIn && language.code == "en");
        languages.push_back(item);
    }
    PageData steps{PageData::type::list};
    for (const auto& step : storage::protocolSteps(database_, category->id)) {
        PageData item;
        item.set("step_id", std::to_string(step.id));
        item.set("text", step.text);
        steps.push_back(item);
    }
    PageData data;
    data.set("id", std::to_string(category->id));
    data.set("code", category->code);
    data.set("label", englishLabel(*category));
    data.set("built_in", category->builtIn);
    if (category->builtIn)
        data.set("built_in_label", std::string(builtInCategoryLabel(category->code)));
    data.set("disabled", category->disabled);
    data.set("languages", languages);
    data.set("steps", steps);
    data.set("has_steps", !steps.is_empty_list());
    data.set("new_step", context.match.route->id == RouteId::ProtocolStepAdd ? context.form.get("text") : std::string());
    data.set("max_step_characters", std::to_string(storage::kMaxStepCharacters));
    return render(context, "category", "Category " + category->code, std::move(data), notice, status);
}

StaffResponse StaffApp::categoryChange(Context& context)
{
    const RouteId route = context.match.route->id;
    std::map<std::string, std::string> labels;
    for (const auto& language : pages_.catalog().languages())
        labels[language.code] = context.form.get("label_" + language.code);
    if (route == RouteId::CategoryCreate) {
        std::int64_t id = 0;
        try {
            id = storage::addCategory(database_, context.form.get("code"), labels, utcNow(clock_));
        } catch (const storage::SiteContentError& error) {
            return categoryList(context, error.what(), 400);
        }
        publishSiteContent();
        audit(context, "category.created", "category", std::to_string(id));
        return redirect("/categories/" + std::to_string(id));
    }
    const std::int64_t id = context.match.id;
    const std::string idText = std::to_string(id);
    if (!storage::findCategory(database_, id))
        return message(context, 404, "Category not found", "No category has this number. Go back to the list.");
    try {
        switch (route) {
        case RouteId::CategoryUpdate:
            storage::setCategoryLabels(database_, id, labels);
            publishSiteContent();
            audit(context, "category.renamed", "category", idText);
            return redirect("/categories/" + idText);
        case RouteId::CategoryDisable:
        case RouteId::CategoryEnable: {
            const bool disable = route == RouteId::CategoryDisable;
            storage::setCategoryDisabled(database_, id, disable);
            publishSiteContent();
            audit(context, disable ? "category.disabled" : "category.enabled", "category", idText);
            return redirect("/categories");
        }
        case RouteId::ProtocolStepAdd: {
            const std::int64_t step
                = storage::addProtocolStep(database_, id, context.form.get("text"), utcNow(clock_));
            audit(context, "protocol_step.added", "protocol_step", std::to_string(step));
            return redirect("/categories/" + idText + "#protocol");
        }
        case RouteId::ProtocolStepRemove: {
            const auto step = storage::findProtocolStep(database_, idFrom(context.form.get("step")));
            if (!step || step->categoryId != id || step->removed)
                throw storage::SiteContentError("This checklist has no such step. Open the category again.");
            storage::removeProtocolStep(database_, step->id);
            audit(context, "protocol_step.removed", "protocol_step", std::to_string(step->id));
            return redirect("/categories/" + idText + "#protocol");
        }
        default:
            break;
        }
    } catch (const storage::SiteContentError& error) {
        if (route == RouteId::CategoryDisable || route == RouteId::CategoryEnable)
            return categoryList(context, error.what(), 400);
        return categoryPage(context, error.what(), 400);
    }
    return message(context, 404, "Page not found", "This page does not exist.");
}

PageData StaffApp::protocolData(Context& context, std::int64_t caseId, const std::string& category)
{
    PageData data;
    data.set("case_id", std::to_string(caseId));
    data.set("csrf", context.session->csrfToken);
    PageData steps{PageData::type::list};
    if (const auto stored = storage::findCategoryByCode(database_, category)) {
        const auto ticked = storage::tickedSteps(database_, caseId);
        for (const auto& step : storage::protocolSteps(database_, stored->id)) {
            PageData item;
            item.set("step_id", std::to_string(step.id));
            item.set("text", step.text);
            item.set("checked", ticked.contains(step.id));
            steps.push_back(item);
        }
    }
    data.set("has_steps", !steps.is_empty_list());
    data.set("steps", steps);
    return data;
}

StaffResponse StaffApp::caseProtocol(Context& context)
{
    const std::int64_t id = context.match.id;
    const auto detail = cases_.find(id);
    if (!detail)
        return message(context, 404, "Case not found", "No case has this number. Go back to the inbox.");
    std::set<std::int64_t> ticked;
    for (const auto& value : context.form.all("step")) {
        const std::int64_t step = idFrom(value);
        if (step == 0)
            return casePage(context, false, "A ticked step is not one of the checklist's. Open the case again.", 400);
        ticked.insert(step);
    }
    storage::TickChanges changes;
    try {
        changes = storage::setTickedSteps(database_, id, detail->summary.category, ticked, context.account->id,
            utcNow(clock_));
    } catch (const storage::SiteContentError& error) {
        return casePage(context, false, error.what(), 400);
    }
    const std::string idText = std::to_string(id);
    for (const auto step : changes.ticked)
        audit(context, "case.protocol_step_ticked", "case_protocol_step", idText + "/" + std::to_string(step));
    for (const auto step : changes.unticked)
        audit(context, "case.protocol_step_unticked", "case_protocol_step", idText + "/" + std::to_string(step));
    return redirect("/cases/" + idText + "#protocol");
}

} // namespace meldpunt::staff
