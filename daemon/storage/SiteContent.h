#pragma once

// The parts of the public site that coordinators change, kept in the
// database. These are the texts that replace a page's built-in text in
// one language, the form's report categories with their labels, and each
// category's protocol checklist with the steps ticked on each case. The
// functions check what they store and throw SiteContentError with a
// message for the coordinator. The caller checks that a language exists.

#include "Database.h"
#include "PublishedContent.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace meldpunt::storage {

// Says what is wrong with an edit and what to do instead.
class SiteContentError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

inline constexpr std::size_t kMaxTextCharacters = 20000;
inline constexpr std::size_t kMaxLabelCharacters = 120;
inline constexpr std::size_t kMaxStepCharacters = 500;
inline constexpr std::size_t kMaxCategories = 40;
inline constexpr std::size_t kMaxStepsPerCategory = 30;

struct SiteText {
    std::string page;
    std::string language;
    std::string markdown;
    std::string updatedAt;
};

struct SiteCategory {
    std::int64_t id = 0;
    std::string code;
    bool builtIn = false;
    bool disabled = false;
    std::map<std::string, std::string> labels; // language -> label
};

struct ProtocolStep {
    std::int64_t id = 0;
    std::int64_t categoryId = 0;
    std::string text;
    bool removed = false;
};

std::vector<SiteText> listSiteTexts(Database& database);
std::optional<SiteText> findSiteText(Database& database, const std::string& page, const std::string& language);
// Stores `markdown` for the page in the language in place of the built-in
// text. Refuses a page that cannot be edited, an empty or too long text,
// control characters and links that the public site would not show.
void saveSiteText(Database& database, const std::string& page, const std::string& language,
    const std::string& markdown, const std::string& nowUtc);
// Returns false when the page had no text of its own in the language.
bool removeSiteText(Database& database, const std::string& page, const std::string& language);

std::vector<SiteCategory> listCategories(Database& database);
std::optional<SiteCategory> findCategory(Database& database, std::int64_t id);
std::optional<SiteCategory> findCategoryByCode(Database& database, const std::string& code);
// Adds a category at the end of the form. `labels` must have an English
// label ("en"); the other languages fall back to it.
std::int64_t addCategory(Database& database, const std::string& code,
    const std::map<std::string, std::string>& labels, const std::string& nowUtc);
// Replaces the category's labels; an empty label is removed. An added
// category keeps needing its English label.
void setCategoryLabels(Database& database, std::int64_t id, const std::map<std::string, std::string>& labels);
// Refuses to disable the last category that the form still offers.
void setCategoryDisabled(Database& database, std::int64_t id, bool disabled);
// True when a report of this category exists, which is why the
// categories page shows that a category is in use.
bool categoryInUse(Database& database, const std::string& code);

std::vector<ProtocolStep> protocolSteps(Database& database, std::int64_t categoryId);
std::optional<ProtocolStep> findProtocolStep(Database& database, std::int64_t stepId);
std::int64_t addProtocolStep(Database& database, std::int64_t categoryId, const std::string& text,
    const std::string& nowUtc);
void removeProtocolStep(Database& database, std::int64_t stepId);

// The steps ticked on a case.
std::set<std::int64_t> tickedSteps(Database& database, std::int64_t reportId);
struct TickChanges {
    std::vector<std::int64_t> ticked;
    std::vector<std::int64_t> unticked;
};
// Makes `ticked` the ticked steps of the case among the current steps of
// `categoryCode`'s checklist. Refuses a step of another checklist.
TickChanges setTickedSteps(Database& database, std::int64_t reportId, const std::string& categoryCode,
    const std::set<std::int64_t>& ticked, std::int64_t accountId, const std::string& nowUtc);

// The texts and the categories the form offers, as the public site reads
// them, and their publication into publish/site-content.json.
SiteContent siteContent(Database& database);
void publishSiteContent(Database& database, const std::filesystem::path& publishFolder);

} // namespace meldpunt::storage
