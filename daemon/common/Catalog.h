#pragma once

#include <filesystem>
#include <locale>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace meldpunt {

struct Language {
    std::string code;       // "nl"
    std::string nativeName; // "Nederlands"
    bool rightToLeft = false;
};

struct Country {
    std::string code; // ISO 3166-1 alpha-2
    std::string name; // in the catalog's language
};

// Translations from gettext catalogs (compiled .mo files) through
// Boost.Locale: the site's own "meldpunt" domain from `localeFolder`, and
// country names from the iso-codes package's "iso_3166-1" domain. A
// missing translation falls back to the English text. Thread-safe after
// construction.
class Catalog {
public:
    Catalog(const std::filesystem::path& localeFolder, const std::filesystem::path& isoCodesJson,
        const std::filesystem::path& systemLocaleFolder, std::vector<std::string> languageCodes);

    const std::vector<Language>& languages() const { return languages_; }
    bool hasLanguage(std::string_view code) const;
    const Language& language(std::string_view code) const;
    const std::string& defaultLanguage() const { return languages_.front().code; }

    std::string translate(std::string_view languageCode, std::string_view text) const;

    // Countries sorted by their name in the language.
    const std::vector<Country>& countries(std::string_view languageCode) const;
    bool isCountryCode(std::string_view code) const;

    // Picks the best configured language for an Accept-Language header
    // (RFC 9110 quality values); the first configured language otherwise.
    std::string negotiate(std::string_view acceptLanguage) const;

private:
    std::vector<Language> languages_;
    std::map<std::string, std::locale, std::less<>> locales_;
    std::map<std::string, std::vector<Country>, std::less<>> countries_;
};

} // namespace meldpunt
