#include "Pages.h"

#include "FileSystem.h"

#include <mutex>
#include <stdexcept>

namespace meldpunt {

namespace mustache = kainjow::mustache;

Pages::Pages(const std::filesystem::path& templateFolder, const Catalog& catalog, std::string origin)
    : catalog_(catalog)
    , origin_(std::move(origin))
{
    for (const auto& item : std::filesystem::directory_iterator(templateFolder)) {
        if (item.path().extension() != ".mustache")
            continue;
        const std::string text = fsutil::readSmallFile(item.path(), 1024 * 1024);
        mustache::mustache compiled(text);
        if (!compiled.is_valid())
            throw std::runtime_error("template '" + item.path().string() + "' is invalid: " + compiled.error_message());
        templates_.emplace(item.path().stem().string(), text);
    }
    if (!templates_.contains("layout"))
        throw std::runtime_error("template folder '" + templateFolder.string() + "' has no layout.mustache");
}

std::vector<std::string> Pages::pageNames() const
{
    std::vector<std::string> names;
    for (const auto& [name, text] : templates_)
        names.push_back(name);
    return names;
}

std::string Pages::translateSections(const std::string& text, const std::string& language) const
{
    static constexpr std::string_view kOpen = "{{#t}}";
    static constexpr std::string_view kClose = "{{/t}}";
    std::string out;
    out.reserve(text.size());
    std::size_t from = 0;
    for (;;) {
        const auto open = text.find(kOpen, from);
        const auto close = open == std::string::npos ? open : text.find(kClose, open + kOpen.size());
        if (close == std::string::npos)
            break;
        out.append(text, from, open - from);
        const std::string_view source(text.data() + open + kOpen.size(), close - open - kOpen.size());
        out += escapeHtml(catalog_.translate(language, source));
        from = close + kClose.size();
    }
    out.append(text, from);
    return out;
}

kainjow::mustache::mustache& Pages::compiled(std::string_view name, const std::string& language) const
{
    const std::string key = language + '/' + std::string(name);
    {
        std::shared_lock lock(compiledMutex_);
        if (const auto found = compiled_.find(key); found != compiled_.end())
            return *found->second;
    }
    const auto source = templates_.find(name);
    if (source == templates_.end())
        throw std::runtime_error("no template named '" + std::string(name) + "'");
    auto page = std::make_unique<mustache::mustache>(translateSections(source->second, language));
    if (!page->is_valid())
        throw std::runtime_error("template '" + std::string(name) + "' in '" + language
            + "' is invalid: " + page->error_message());
    std::unique_lock lock(compiledMutex_);
    return *compiled_.try_emplace(key, std::move(page)).first->second;
}

std::string Pages::renderTemplate(std::string_view name, std::string_view languageCode, PageData& data) const
{
    mustache::mustache& page = compiled(name, std::string(languageCode));
    std::string output = page.render(data);
    if (!page.is_valid())
        throw std::runtime_error("rendering template '" + std::string(name) + "' failed: " + page.error_message());
    return output;
}

std::string Pages::render(std::string_view page, std::string_view languageCode, PageData data) const
{
    const Language& language = catalog_.language(languageCode);
    data.set("lang", language.code);
    data.set("dir", language.rightToLeft ? "rtl" : "ltr");
    PageData others{PageData::type::list};
    for (const auto& other : catalog_.languages()) {
        if (other.code == language.code)
            continue;
        PageData item;
        item.set("code", other.code);
        item.set("name", other.nativeName);
        others.push_back(item);
    }
    data.set("other_languages", others);
    PageData alternates{PageData::type::list};
    for (const auto& each : catalog_.languages()) {
        PageData item;
        item.set("code", each.code);
        alternates.push_back(item);
    }
    data.set("alternates", alternates);
    data.set("origin", origin_);
    std::string content = renderTemplate(page, language.code, data);
    data.set("page_description", takeDescription(content));
    data.set("content", content);
    data.set("page_title", headingText(content));
    return renderTemplate("layout", language.code, data);
}

std::string Pages::renderPlain(std::string_view page, std::string_view languageCode, PageData data) const
{
    const auto found = templates_.find(page);
    if (found == templates_.end())
        throw std::runtime_error("no template named '" + std::string(page) + "'");
    const std::string language = catalog_.language(languageCode).code;
    data.set("lang", language);
    data.set("t", mustache::lambda{[this, language](const std::string& text) {
        return catalog_.translate(language, text);
    }});
    mustache::mustache compiled(found->second);
    compiled.set_custom_escape([](const std::string& text) { return text; });
    std::string output = compiled.render(data);
    if (!compiled.is_valid())
        throw std::runtime_error("rendering template '" + std::string(page) + "' failed: " + compiled.error_message());
    return output;
}

std::string escapeHtml(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out.push_back(c);
        }
    }
    return out;
}

std::string takeDescription(std::string& html)
{
    static constexpr std::string_view kOpen = "<meta name=\"description\" content=\"";
    const auto open = html.find(kOpen);
    const auto start = open == std::string::npos ? open : open + kOpen.size();
    const auto quote = start == std::string::npos ? start : html.find('"', start);
    const auto close = quote == std::string::npos ? quote : html.find('>', quote);
    if (close == std::string::npos)
        return {};
    std::string description = html.substr(start, quote - start);
    auto end = close + 1;
    if (end < html.size() && html[end] == '\n')
        ++end;
    html.erase(open, end - open);
    return description;
}

std::string headingText(std::string_view html)
{
    const auto open = html.find("<h1");
    const auto start = open == std::string_view::npos ? open : html.find('>', open);
    const auto end = start == std::string_view::npos ? start : html.find("</h1>", start);
    if (end == std::string_view::npos)
        return {};
    std::string text;
    bool inTag = false;
    for (char c : html.substr(start + 1, end - start - 1)) {
        if (c == '<')
            inTag = true;
        else if (c == '>')
            inTag = false;
        else if (!inTag)
            text.push_back(c == '\n' ? ' ' : c);
    }
    return text;
}

} // namespace meldpunt
