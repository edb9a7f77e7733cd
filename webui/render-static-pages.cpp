// Renders the localised static error pages that nginx serves for 413,
// 429, 502, 503 and 504 from the same templates and catalogs as the
// daemon, so they look and read like the rest of the site.
//
// usage: render-static-pages TEMPLATES LOCALE ISO_CODES_JSON SYSTEM_LOCALE OUTPUT LANG...

#include "Catalog.h"
#include "Crypto.h"
#include "FileSystem.h"
#include "Pages.h"

#include <iostream>

int main(int argc, char** argv)
{
    if (argc < 7) {
        std::cerr << "usage: render-static-pages TEMPLATES LOCALE ISO_CODES_JSON SYSTEM_LOCALE OUTPUT LANG...\n";
        return 2;
    }
    try {
        const std::vector<std::string> languages(argv + 6, argv + argc);
        meldpunt::Catalog catalog(argv[2], argv[3], argv[4], languages);
        meldpunt::Pages pages(argv[1], catalog);
        const std::filesystem::path output = argv[5];
        for (const auto& language : languages) {
            std::filesystem::create_directories(output / language);
            for (const char* code : {"413", "429", "502", "503", "504"}) {
                meldpunt::PageData data;
                data.set(std::string("message_status_") + code, true);
                const std::string html = pages.render("message", language, data);
                meldpunt::fsutil::writeFileAtomically(output / language / (std::string(code) + ".html"),
                    meldpunt::crypto::asBytes(html), 0644);
            }
        }
    } catch (const std::exception& error) {
        std::cerr << "render-static-pages: " << error.what() << '\n';
        return 1;
    }
    return 0;
}
