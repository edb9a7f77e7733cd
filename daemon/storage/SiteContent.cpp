#include "SiteContent.h"

#include "FormData.h"
#include "Markdown.h"

#include <algorithm>

namespace meldpunt::storage {

namespace {

// Refuses text that is empty, too long or has control characters; `what`
// names the text in the message ("The text", "The label"), and `whenEmpty`
// says what to do about an empty one.
void checkText(const std::string& text, std::size_t maxCharacters, const std::string& what,
    const std::string& whenEmpty = "Type it.")
{
    if (!isValidUtf8(text) || hasForbiddenControl(text))
        throw SiteContentError(what + " contains invisible control characters. Type it again without them.");
    if (!hasVisibleText(text))
        throw SiteContentError(what + " is empty. " + whenEmpty);
    const std::size_t length = countCodePoints(text);
    if (length > maxCharacters)
        throw SiteContentError(what + " has " + std::to_string(length) + " characters; at most "
            + std::to_string(maxCharacters) + " fit. Shorten it and save again.");
}

std::map<std::string, std::string> labelsOf(Database& database, std::int64_t categoryId)
{
    auto rows = database.prepare("SELECT language, label FROM site_category_labels WHERE category_id = ?");
    rows.bind(1, categoryId);
    std::map<std::string, std::string> labels;
    while (rows.step())
        labels[rows.columnText(0)] = rows.columnText(1);
    return labels;
}

const char* kCategoryColumns = "SELECT id, code, built_in, disabled FROM site_categories ";

SiteCategory categoryFrom(Database& database, const Statement& row)
{
    SiteCategory category;
    category.id = row.columnInt(0);
    category.code = row.columnText(1);
    category.builtIn = row.columnInt(2) != 0;
    category.disabled = row.columnInt(3) != 0;
    category.labels = labelsOf(database, category.id);
    return category;
}

void storeLabels(Database& database, std::int64_t categoryId, const std::map<std::string, std::string>& labels)
{
    database.prepare("DELETE FROM site_category_labels WHERE category_id = ?").bind(1, categoryId).run();
    for (const auto& [language, label] : labels) {
        if (label.empty())
            continue;
        checkText(label, kMaxLabelCharacters, "The label in language '" + language + "'");
        database.prepare("INSERT INTO site_category_labels (category_id, language, label) VALUES (?, ?, ?)")
            .bind(1, categoryId)
            .bind(2, language)
            .bind(3, label)
            .run();
    }
}

} // namespace

std::vector<SiteText> listSiteTexts(Database& database)
{
    auto rows = database.prepare("SELECT page, language, markdown, updated_at FROM site_texts ORDER BY page, language");
    std::vector<SiteText> texts;
    while (rows.step())
        texts.push_back({rows.columnText(0), rows.columnText(1), rows.columnText(2), rows.columnText(3)});
    return texts;
}

std::optional<SiteText> findSiteText(Database& database, const std::string& page, const std::string& language)
{
    auto row = database.prepare(
        "SELECT page, language, markdown, updated_at FROM site_texts WHERE page = ? AND language = ?");
    row.bind(1, page).bind(2, language);
    if (!row.step())
        return std::nullopt;
    return SiteText{row.columnText(0), row.columnText(1), row.columnText(2), row.columnText(3)};
}

void saveSiteText(Database& database, const std::string& page, const std::string& language,
    const std::string& markdown, const std::string& nowUtc)
{
    if (!isEditablePage(page))
        throw SiteContentError("This page's text cannot be edited. Choose a page from the list.");
    checkText(markdown, kMaxTextCharacters, "The text", "Type it, or restore the built-in text instead.");
    const auto refused = markdown::refusedLinks(markdown);
    if (!refused.empty())
        throw SiteContentError("The link target '" + refused.front()
            + "' cannot go on the public site. Links must start with https:, mailto: or / for a page of "
              "this site. Change the link and save again.");
    database
        .prepare("INSERT INTO site_texts (page, language, markdown, updated_at) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT (page, language) DO UPDATE SET markdown = excluded.markdown, "
                 "updated_at = excluded.updated_at")
        .bind(1, page)
        .bind(2, language)
        .bind(3, markdown)
        .bind(4, nowUtc)
        .run();
}

bool removeSiteText(Database& database, const std::string& page, const std::string& language)
{
    const bool existed = findSiteText(database, page, language).has_value();
    database.prepare("DELETE FROM site_texts WHERE page = ? AND language = ?").bind(1, page).bind(2, language).run();
    return existed;
}

std::vector<SiteCategory> listCategories(Database& database)
{
    auto rows = database.prepare(std::string(kCategoryColumns) + "ORDER BY position, id");
    std::vector<SiteCategory> categories;
    while (rows.step())
        categories.push_back(categoryFrom(database, rows));
    return categories;
}

std::optional<SiteCategory> findCategory(Database& database, std::int64_t id)
{
    auto row = database.prepare(std::string(kCategoryColumns) + "WHERE id = ?");
    row.bind(1, id);
    if (!row.step())
        return std::nullopt;
    return categoryFrom(database, row);
}

std::optional<SiteCategory> findCategoryByCode(Database& database, const std::string& code)
{
    auto row = database.prepare(std::string(kCategoryColumns) + "WHERE code = ?");
    row.bind(1, code);
    if (!row.step())
        return std::nullopt;
    return categoryFrom(database, row);
}

std::int64_t addCategory(Database& database, const std::string& code,
    const std::map<std::string, std::string>& labels, const std::string& nowUtc)
{
    if (!isValidCategoryId(code))
        throw SiteContentError("The code must have 2 to 32 characters: lower-case letters a to z, digits and _, "
                               "starting with a letter, such as trafficking_online. Type it that way.");
    if (findCategoryByCode(database, code))
        throw SiteContentError("A category with the code '" + code
            + "' exists already. Choose another code, or enable the existing category.");
    if (listCategories(database).size() >= kMaxCategories)
        throw SiteContentError("The form has " + std::to_string(kMaxCategories)
            + " categories already, the most it offers. Disable one you no longer need, or rename it.");
    const auto english = labels.find("en");
    if (english == labels.end() || english->second.empty())
        throw SiteContentError("A new category needs an English label; the other languages show it until they "
                               "have their own. Type the English label.");
    std::int64_t id = 0;
    database.transaction([&] {
        database
            .prepare("INSERT INTO site_categories (code, position, created_at) "
                     "VALUES (?, (SELECT coalesce(max(position), 0) + 1 FROM site_categories), ?)")
            .bind(1, code)
            .bind(2, nowUtc)
            .run();
        id = database.lastInsertId();
        storeLabels(database, id, labels);
    });
    return id;
}

void setCategoryLabels(Database& database, std::int64_t id, const std::map<std::string, std::string>& labels)
{
    const auto category = findCategory(database, id);
    if (!category)
        throw SiteContentError("No category has this number. Go back to the list.");
    const auto english = labels.find("en");
    if (!category->builtIn && (english == labels.end() || english->second.empty()))
        throw SiteContentError("An added category needs its English label; the other languages show it until "
                               "they have their own. Type the English label.");
    database.transaction([&] { storeLabels(database, id, labels); });
}

void setCategoryDisabled(Database& database, std::int64_t id, bool disabled)
{
    const auto category = findCategory(database, id);
    if (!category)
        throw SiteContentError("No category has this number. Go back to the list.");
    if (disabled && !category->disabled) {
        const auto categories = listCategories(database);
        const auto offered = std::count_if(
            categories.begin(), categories.end(), [](const SiteCategory& each) { return !each.disabled; });
        if (offered <= 1)
            throw SiteContentError("This is the last category the form offers, and a report needs one. Add or "
                                   "enable another category first.");
    }
    database.prepare("UPDATE site_categories SET disabled = ? WHERE id = ?")
        .bind(1, std::int64_t{disabled ? 1 : 0})
        .bind(2, id)
        .run();
}

bool categoryInUse(Database& database, const std::string& code)
{
    auto row = database.prepare("SELECT EXISTS (SELECT 1 FROM reports WHERE category = ?)");
    row.bind(1, code);
    return row.step() && row.columnInt(0) != 0;
}

std::vector<ProtocolStep> protocolSteps(Database& database, std::int64_t categoryId)
{
    auto rows = database.prepare("SELECT id, category_id, text, removed FROM protocol_steps "
                                 "WHERE category_id = ? AND removed = 0 ORDER BY position, id");
    rows.bind(1, categoryId);
    std::vector<ProtocolStep> steps;
    while (rows.step())
        steps.push_back({rows.columnInt(0), rows.columnInt(1), rows.columnText(2), rows.columnInt(3) != 0});
    return steps;
}

std::optional<ProtocolStep> findProtocolStep(Database& database, std::int64_t stepId)
{
    auto row = database.prepare("SELECT id, category_id, text, removed FROM protocol_steps WHERE id = ?");
    row.bind(1, stepId);
    if (!row.step())
        return std::nullopt;
    return ProtocolStep{row.columnInt(0), row.columnInt(1), row.columnText(2), row.columnInt(3) != 0};
}

std::int64_t addProtocolStep(Database& database, std::int64_t categoryId, const std::string& text,
    const std::string& nowUtc)
{
    if (!findCategory(database, categoryId))
        throw SiteContentError("No category has this number. Go back to the list.");
    checkText(text, kMaxStepCharacters, "The step");
    if (protocolSteps(database, categoryId).size() >= kMaxStepsPerCategory)
        throw SiteContentError("This checklist has " + std::to_string(kMaxStepsPerCategory)
            + " steps already, the most it holds. Remove a step first, or combine steps.");
    database
        .prepare("INSERT INTO protocol_steps (category_id, position, text, created_at) VALUES (?, "
                 "(SELECT coalesce(max(position), 0) + 1 FROM protocol_steps WHERE category_id = ?), ?, ?)")
        .bind(1, categoryId)
        .bind(2, categoryId)
        .bind(3, text)
        .bind(4, nowUtc)
        .run();
    return database.lastInsertId();
}

void removeProtocolStep(Database& database, std::int64_t stepId)
{
    database.prepare("UPDATE protocol_steps SET removed = 1 WHERE id = ?").bind(1, stepId).run();
}

std::set<std::int64_t> tickedSteps(Database& database, std::int64_t reportId)
{
    auto rows = database.prepare("SELECT step_id FROM case_protocol_ticks WHERE report_id = ?");
    rows.bind(1, reportId);
    std::set<std::int64_t> steps;
    while (rows.step())
        steps.insert(rows.columnInt(0));
    return steps;
}

TickChanges setTickedSteps(Database& database, std::int64_t reportId, const std::string& categoryCode,
    const std::set<std::int64_t>& ticked, std::int64_t accountId, const std::string& nowUtc)
{
    const auto category = findCategoryByCode(database, categoryCode);
    std::set<std::int64_t> current;
    if (category)
        for (const auto& step : protocolSteps(database, category->id))
            current.insert(step.id);
    for (const auto id : ticked) {
        if (!current.contains(id))
            throw SiteContentError("A step you ticked is not on this case's checklist any more. Open the case "
                                   "again and tick the steps it shows.");
    }
    const auto before = tickedSteps(database, reportId);
    TickChanges changes;
    database.transaction([&] {
        for (const auto id : current) {
            if (ticked.contains(id) && !before.contains(id)) {
                database
                    .prepare("INSERT INTO case_protocol_ticks (report_id, step_id, account_id, ticked_at) "
                             "VALUES (?, ?, ?, ?)")
                    .bind(1, reportId)
                    .bind(2, id)
                    .bind(3, accountId)
                    .bind(4, nowUtc)
                    .run();
                changes.ticked.push_back(id);
            } else if (!ticked.contains(id) && before.contains(id)) {
                database.prepare("DELETE FROM case_protocol_ticks WHERE report_id = ? AND step_id = ?")
                    .bind(1, reportId)
                    .bind(2, id)
                    .run();
                changes.unticked.push_back(id);
            }
        }
    });
    return changes;
}

SiteContent siteContent(Database& database)
{
    SiteContent content;
    for (auto& text : listSiteTexts(database))
        content.texts[{text.page, text.language}] = std::move(text.markdown);
    for (auto& category : listCategories(database)) {
        if (!category.disabled)
            content.categories.push_back({category.code, std::move(category.labels)});
    }
    return content;
}

void publishSiteContent(Database& database, const std::filesystem::path& publishFolder)
{
    writePublishedSiteContent(publishFolder, siteContent(database));
}

} // namespace meldpunt::storage
