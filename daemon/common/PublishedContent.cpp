#include "PublishedContent.h"

#include "Crypto.h"
#include "FileSystem.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <array>
#include <sstream>
#include <stdexcept>

namespace meldpunt {

namespace {

constexpr const char* kFileName = "site-content.json";
// Thirteen pages in six languages of at most 20000 characters each are
// about 19 MB even if every character were written as a 12-byte JSON
// escape (a surrogate pair), with room left for the categories.
constexpr std::size_t kMaxFileBytes = 24 * 1024 * 1024;

constexpr std::array<std::string_view, 13> kEditablePages = {"home", "info-after-a-report", "info-anonymity",
    "info-contact", "info-data-protection", "info-faq", "info-how-to-report", "info-law", "info-organisation",
    "info-quality-standards", "info-signs", "info-success-stories", "info-young-people"};

constexpr std::array<std::string_view, 4> kBuiltInCategories = {
    "travel_tourism", "online_material", "other_violence", "not_sure"};

} // namespace

const std::string* SiteContent::text(std::string_view page, std::string_view language) const
{
    const auto found = texts.find({std::string(page), std::string(language)});
    return found == texts.end() ? nullptr : &found->second;
}

bool SiteContent::offersCategory(std::string_view id) const
{
    return std::any_of(categories.begin(), categories.end(),
        [&](const PublishedCategory& category) { return category.id == id; });
}

std::span<const std::string_view> editablePages()
{
    return kEditablePages;
}

bool isEditablePage(std::string_view page)
{
    return std::find(kEditablePages.begin(), kEditablePages.end(), page) != kEditablePages.end();
}

std::span<const std::string_view> builtInCategories()
{
    return kBuiltInCategories;
}

std::string_view builtInCategoryLabel(std::string_view id)
{
    if (id == "travel_tourism")
        return "Sexual exploitation of children in travel and tourism";
    if (id == "online_material")
        return "Child sexual abuse material online";
    if (id == "other_violence")
        return "Other violence against children";
    if (id == "not_sure")
        return "Not sure";
    return {};
}

bool isValidCategoryId(std::string_view id)
{
    if (id.size() < 2 || id.size() > 32 || id.front() < 'a' || id.front() > 'z')
        return false;
    return std::all_of(id.begin(), id.end(),
        [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

std::string serializeSiteContent(const SiteContent& content)
{
    Poco::JSON::Object root;
    root.set("format", "meldpunt-site-content");
    root.set("version", 1);
    Poco::JSON::Array texts;
    for (const auto& [key, markdown] : content.texts) {
        Poco::JSON::Object item;
        item.set("page", key.first);
        item.set("language", key.second);
        item.set("markdown", markdown);
        texts.add(item);
    }
    root.set("texts", texts);
    Poco::JSON::Array categories;
    for (const auto& category : content.categories) {
        Poco::JSON::Object item;
        item.set("id", category.id);
        Poco::JSON::Object labels;
        for (const auto& [language, label] : category.labels)
            labels.set(language, label);
        item.set("labels", labels);
        categories.add(item);
    }
    root.set("categories", categories);
    std::ostringstream out;
    root.stringify(out);
    return out.str();
}

SiteContent parseSiteContent(const std::string& json)
{
    try {
        Poco::JSON::Parser parser;
        const auto root = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
        if (root->optValue<std::string>("format", "") != "meldpunt-site-content"
            || root->optValue<int>("version", 0) != 1)
            throw std::runtime_error("the site content file has an unknown format");
        SiteContent content;
        const auto texts = root->getArray("texts");
        for (std::size_t index = 0; texts && index < texts->size(); ++index) {
            const auto item = texts->getObject(static_cast<unsigned>(index));
            const auto page = item->getValue<std::string>("page");
            if (!isEditablePage(page))
                continue;
            content.texts[{page, item->getValue<std::string>("language")}] = item->getValue<std::string>("markdown");
        }
        const auto categories = root->getArray("categories");
        for (std::size_t index = 0; categories && index < categories->size(); ++index) {
            const auto item = categories->getObject(static_cast<unsigned>(index));
            PublishedCategory category;
            category.id = item->getValue<std::string>("id");
            if (!isValidCategoryId(category.id))
                throw std::runtime_error("the site content file names an invalid category");
            if (const auto labels = item->getObject("labels")) {
                for (const auto& name : labels->getNames())
                    category.labels[name] = labels->getValue<std::string>(name);
            }
            content.categories.push_back(std::move(category));
        }
        return content;
    } catch (const std::runtime_error&) {
        throw;
    } catch (const std::exception& error) {
        throw std::runtime_error(std::string("the site content file cannot be read: ") + error.what());
    }
}

void writePublishedSiteContent(const std::filesystem::path& publishFolder, const SiteContent& content)
{
    const std::string text = serializeSiteContent(content);
    fsutil::writeFileAtomically(publishFolder / kFileName, crypto::asBytes(text), 0640);
}

std::optional<SiteContent> readPublishedSiteContent(const std::filesystem::path& publishFolder)
{
    try {
        return parseSiteContent(fsutil::readSmallFile(publishFolder / kFileName, kMaxFileBytes));
    } catch (const std::exception&) {
        // Not yet published, or unreadable: the site serves its built-in content.
        return std::nullopt;
    }
}

std::string publishedSiteContentStamp(const std::filesystem::path& publishFolder)
{
    return fsutil::fileStamp(publishFolder / kFileName);
}

} // namespace meldpunt
