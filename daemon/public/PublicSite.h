#pragma once

#include "Catalog.h"
#include "IntakeKeyFile.h"
#include "Pages.h"

#include <Poco/Net/HTTPRequestHandlerFactory.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>

namespace meldpunt::site {

struct PublicSiteConfig {
    std::filesystem::path spoolFolder;
    std::filesystem::path publishFolder;
    std::string origin = "https://localhost:8443"; // absolute links; never the Host header
    std::size_t maxReportBytes = 1024 * 1024;
};

// The public report site: the form, the privacy statement and receipts.
// It can write spool entries but never read one back. Handlers are
// created per request by Poco and share this object; it is thread-safe.
class PublicSite {
public:
    PublicSite(PublicSiteConfig config, const Pages& pages);

    Poco::Net::HTTPRequestHandlerFactory::Ptr handlerFactory();

    const PublicSiteConfig& config() const { return config_; }
    const Pages& pages() const { return pages_; }
    IntakeKeySource& intakeKeys() { return intakeKeys_; }
    const std::set<std::string>& countryCodes() const { return countryCodes_; }

private:
    PublicSiteConfig config_;
    const Pages& pages_;
    IntakeKeySource intakeKeys_;
    std::set<std::string> countryCodes_;
};

} // namespace meldpunt::site
