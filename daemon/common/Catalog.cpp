#include "Catalog.h"

#include "FileSystem.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <boost/locale.hpp>

#include <algorithm>
#include <stdexcept>

namespace meldpunt {

namespace {

constexpr const char* kDomain = "meldpunt";
constexpr const char* kCountryDomain = "iso_3166-1";

Language describeLanguage(const std::string& code)
{
    static const std::map<std::string, std::pair<std::string, bool>> known = {
        {"nl", {"Nederlands", false}},
        {"en", {"English", false}},
        {"fr", {"Français", false}},
        {"de", {"Deutsch", false}},
        {"es", {"Español", false}},
        {"ru", {"Русский", false}},
        {"ar", {"العربية", true}},
    };
    const auto found = known.find(code);
    if (found == known.end())
        throw std::invalid_argument("unsupported language code '" + code + "'; supported: nl, en, fr, de, es, ru, ar");
    return Language{code, found->second.first, found->second.second};
}

std::vector<std::pair<std::string, std::string>> loadCountries(const std::filesystem::path& json)
{
    const std::string text = fsutil::readSmallFile(json, 4 * 1024 * 1024);
    Poco::JSON::Parser parser;
    const auto root = parser.parse(text).extract<Poco::JSON::Object::Ptr>();
    const auto list = root->getArray("3166-1");
    if (!list)
        throw std::runtime_error("'" + json.string() + "' has no \"3166-1\" list");
    std::vector<std::pair<std::string, std::string>> countries;
    for (std::size_t i = 0; i < list->size(); ++i) {
        const auto entry = list->getObject(static_cast<unsigned>(i));
        const std::string name = entry->has("common_name") ? entry->getValue<std::string>("common_name")
                                                           : entry->getValue<std::string>("name");
        countries.emplace_back(entry->getValue<std::string>("alpha_2"), name);
    }
    return countries;
}

} // namespace

Catalog::Catalog(const std::filesystem::path& localeFolder, const std::filesystem::path& isoCodesJson,
    const std::filesystem::path& systemLocaleFolder, std::vector<std::string> languageCodes)
{
    if (languageCodes.empty())
        throw std::invalid_argument("no site language configured");
    boost::locale::generator generator;
    generator.add_messages_path(localeFolder.string());
    generator.add_messages_path(systemLocaleFolder.string());
    generator.add_messages_domain(kDomain);
    generator.add_messages_domain(kCountryDomain);

    const auto englishCountries = loadCountries(isoCodesJson);
    for (const auto& code : languageCodes) {
        languages_.push_back(describeLanguage(code));
        std::locale locale = generator(code + ".UTF-8");
        std::vector<Country> countries;
        for (const auto& [alpha2, englishName] : englishCountries)
            countries.push_back({alpha2, boost::locale::dgettext(kCountryDomain, englishName.c_str(), locale)});
        const auto& collator = std::use_facet<std::collate<char>>(locale);
        std::sort(countries.begin(), countries.end(), [&](const Country& a, const Country& b) {
            return collator.compare(a.name.data(), a.name.data() + a.name.size(), b.name.data(),
                       b.name.data() + b.name.size())
                < 0;
        });
        countries_.emplace(code, std::move(countries));
        locales_.emplace(code, std::move(locale));
    }
}

bool Catalog::hasLanguage(std::string_view code) const
{
    return locales_.find(code) != locales_.end();
}

const Language& Catalog::language(std::string_view code) const
{
    for (const auto& language : languages_) {
        if (language.code == code)
            return language;
    }
    return languages_.front();
}

std::string Catalog::translate(std::string_view languageCode, std::string_view text) const
{
    const auto found = locales_.find(languageCode);
    if (found == locales_.end())
        return std::string(text);
    const std::string id(text);
    return boost::locale::dgettext(kDomain, id.c_str(), found->second);
}

const std::vector<Country>& Catalog::countries(std::string_view languageCode) const
{
    const auto found = countries_.find(languageCode);
    return found != countries_.end() ? found->second : countries_.begin()->second;
}

bool Catalog::isCountryCode(std::string_view code) const
{
    const auto& list = countries_.begin()->second;
    return std::any_of(list.begin(), list.end(), [&](const Country& c) { return c.code == code; });
}

std::string Catalog::negotiate(std::string_view acceptLanguage) const
{
    std::string best;
    double bestQuality = 0.0;
    while (!acceptLanguage.empty()) {
        const auto comma = acceptLanguage.find(',');
        std::string_view item = acceptLanguage.substr(0, comma);
        acceptLanguage = comma == std::string_view::npos ? std::string_view{} : acceptLanguage.substr(comma + 1);

        double quality = 1.0;
        const auto semicolon = item.find(';');
        if (semicolon != std::string_view::npos) {
            const auto parameter = item.substr(semicolon + 1);
            const auto q = parameter.find("q=");
            if (q != std::string_view::npos) {
                try {
                    quality = std::stod(std::string(parameter.substr(q + 2)));
                } catch (const std::exception&) {
                    quality = 0.0;
                }
            }
            item = item.substr(0, semicolon);
        }
        while (!item.empty() && item.front() == ' ')
            item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ')
            item.remove_suffix(1);
        std::string primary(item.substr(0, item.find('-')));
        std::transform(primary.begin(), primary.end(), primary.begin(),
            [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (quality > bestQuality && hasLanguage(primary)) {
            best = primary;
            bestQuality = quality;
        }
    }
    return best.empty() ? defaultLanguage() : best;
}

} // namespace meldpunt
