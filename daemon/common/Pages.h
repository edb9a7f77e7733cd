#pragma once

#include "Catalog.h"

#include <kainjow/mustache.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace meldpunt {

using PageData = kainjow::mustache::data;

// Renders the Mustache templates in webui/templates. Each page is rendered
// into "layout.mustache" as {{{content}}}. Templates mark translatable
// text as {{#t}}English text{{/t}}; the text is looked up in the catalog
// of the page's language and HTML-escaped. Every {{value}} is escaped by
// Mustache; templates use {{{...}}} only for markup rendered here.
// Templates are loaded once at construction, which throws
// std::runtime_error naming a missing or invalid template.
class Pages {
public:
    // `origin` is the site's public address, such as "https://example.org",
    // for absolute links (language alternates); never the Host header.
    Pages(const std::filesystem::path& templateFolder, const Catalog& catalog, std::string origin = {});

    std::string render(std::string_view page, std::string_view languageCode, PageData data) const;

    // Renders template `page` as plain text (an e-mail body): no layout and
    // no HTML escaping, so callers pass only values that are safe in the
    // text's context.
    std::string renderPlain(std::string_view page, std::string_view languageCode, PageData data) const;

    const Catalog& catalog() const { return catalog_; }
    bool hasPage(std::string_view page) const { return templates_.find(page) != templates_.end(); }
    // The names of all templates, in alphabetical order.
    std::vector<std::string> pageNames() const;

private:
    std::string renderTemplate(std::string_view name, std::string_view languageCode, PageData& data) const;
    // Returns the template's text with every {{#t}}...{{/t}} section
    // replaced by its translation, HTML-escaped. A translation may contain
    // {{values}} of its own, which the template then fills in.
    std::string translateSections(const std::string& text, const std::string& language) const;
    // Returns template `name` translated into `language` and compiled,
    // made on first use and kept. Threads share it, because rendering a
    // valid template whose data contains no lambdas or partials only reads
    // the compiled form.
    kainjow::mustache::mustache& compiled(std::string_view name, const std::string& language) const;

    const Catalog& catalog_;
    std::string origin_;
    std::map<std::string, std::string, std::less<>> templates_;
    mutable std::shared_mutex compiledMutex_;
    mutable std::map<std::string, std::unique_ptr<kainjow::mustache::mustache>, std::less<>> compiled_;
};

std::string escapeHtml(std::string_view text);

// Returns the text of the first <h1> in `html`, tags removed and still
// escaped as it was, for the page's <title>; empty when there is none.
std::string headingText(std::string_view html);

// Removes the page's own description from `html` and returns its content
// attribute, still escaped as it was. A page template puts the description
// as a <meta name="description" content="..."> tag before its content, and
// the layout moves it into the head. A page without one gets the layout's
// site-wide description, and `html` stays unchanged.
std::string takeDescription(std::string& html);

} // namespace meldpunt
