#pragma once

// The site content that meldpuntd publishes for meldpunt-public: the texts
// that coordinators wrote in place of the built-in ones, as Markdown, and
// the report categories that the form offers, with the labels that
// coordinators gave them. meldpunt-public renders the Markdown itself
// (Markdown.h), so the file never carries HTML.

#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace meldpunt {

struct PublishedCategory {
    std::string id;                            // "travel_tourism"
    std::map<std::string, std::string> labels; // language code -> label; may be empty
};

struct SiteContent {
    // (page, language) -> Markdown; a page is a template name such as
    // "home" or "info-faq".
    std::map<std::pair<std::string, std::string>, std::string> texts;
    // The categories the form offers, in the form's order.
    std::vector<PublishedCategory> categories;

    const std::string* text(std::string_view page, std::string_view language) const;
    bool offersCategory(std::string_view id) const;
};

// The pages whose text a coordinator may replace: the home page and the
// information pages, except the partner page, whose list meldpuntd fills.
std::span<const std::string_view> editablePages();
bool isEditablePage(std::string_view page);

// The form's own categories, offered while nothing is published, with
// their English labels (the form's template carries their translations).
std::span<const std::string_view> builtInCategories();
std::string_view builtInCategoryLabel(std::string_view id);

// A category id: 2 to 32 characters, lower-case ASCII letters, digits and
// '_', starting with a letter.
bool isValidCategoryId(std::string_view id);

std::string serializeSiteContent(const SiteContent& content);
// Throws std::runtime_error when the text is not a site content file.
SiteContent parseSiteContent(const std::string& json);

// Writes publish/site-content.json atomically, mode 0640.
void writePublishedSiteContent(const std::filesystem::path& publishFolder, const SiteContent& content);
// The published content; nullopt when none is published or the file
// cannot be read, and the site then serves its built-in texts and
// categories.
std::optional<SiteContent> readPublishedSiteContent(const std::filesystem::path& publishFolder);
// Changes whenever meldpuntd publishes a new file, for caching pages.
std::string publishedSiteContentStamp(const std::filesystem::path& publishFolder);

} // namespace meldpunt
