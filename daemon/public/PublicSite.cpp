#include "PublicSite.h"

#include "ComplaintSubmission.h"
#include "DraftPages.h"
#include "FormPage.h"
#include "FormRequest.h"
#include "ReportSubmission.h"
#include "ReturnVisit.h"

#include "FileSystem.h"
#include "Log.h"
#include "Markdown.h"
#include "PublishedContent.h"
#include "PublishedPartners.h"
#include "Retention.h"
#include "UnixHttpServer.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/URI.h>

namespace meldpunt::site {

namespace {

using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

// Splits "/nl/report" into the language "nl" and the rest "report".
struct Route {
    std::string language;
    std::string rest;
    bool hasLanguage = false;
};

Route parseRoute(const std::string& uri, const Catalog& catalog)
{
    const std::string path = uri.substr(0, uri.find('?'));
    Route route;
    if (path.size() < 3 || path[0] != '/')
        return route;
    const auto slash = path.find('/', 1);
    const std::string first = path.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
    if (!catalog.hasLanguage(first))
        return route;
    route.language = first;
    route.hasLanguage = true;
    route.rest = slash == std::string::npos ? "" : path.substr(slash + 1);
    return route;
}

PageData pageAt(const std::string& path)
{
    PageData data;
    data.set("page_path", path);
    return data;
}

class SiteHandler : public Poco::Net::HTTPRequestHandler {
public:
    explicit SiteHandler(PublicSite& site)
        : site_(site)
    {
    }

    void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override
    {
        try {
            dispatch(request, response);
        } catch (const std::exception& error) {
            log::error(std::string("Failed to handle a request: ") + error.what());
            if (!response.sent())
                sendPage(request, response, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR,
                    site_.pages().render("message", site_.pages().catalog().defaultLanguage(),
                        messageData("internal_error")));
        }
    }

private:
    void dispatch(HTTPServerRequest& request, HTTPServerResponse& response)
    {
        const auto& catalog = site_.pages().catalog();
        const std::string& uri = request.getURI();
        const bool isGet = request.getMethod() == "GET" || request.getMethod() == "HEAD";
        if (uri == "/healthz" && isGet) {
            response.setContentType("text/plain");
            response.send() << "ok\n";
            return;
        }
        if (uri == "/robots.txt" && isGet)
            return sendText(request, response, "text/plain; charset=utf-8", robotsText());
        if (uri == "/sitemap.xml" && isGet)
            return sendText(request, response, "application/xml; charset=utf-8", sitemapXml());
        const Route route = parseRoute(uri, catalog);
        if (!route.hasLanguage) {
            if (uri == "/" && isGet)
                return redirectToLanguage(request, response);
            return sendNotFound(request, response, catalog.defaultLanguage());
        }
        const bool isPost = request.getMethod() == "POST";
        if (route.rest == "report") {
            if (isPost)
                return handleReportPost(site_, route.language, request, response);
            if (isGet) {
                site_.visits().count("report", route.language);
                // The empty form shows the published partners and
                // categories, so a new file of either makes a new cached
                // page.
                const std::string& html = site_.cachedPage("report " + route.language + " " + partnersStamp() + " "
                        + publishedSiteContentStamp(site_.config().publishFolder),
                    [&] { return renderForm(site_, route.language, FormState{}); });
                return sendPage(request, response, HTTPResponse::HTTP_OK, html);
            }
            return sendMethodNotAllowed(request, response, route.language, "GET, HEAD, POST");
        }
        if (route.rest == "resume") {
            if (isPost)
                return handleResumePost(site_, route.language, request, response);
            if (isGet) {
                site_.visits().count("resume", route.language);
                return handleResumeGet(site_, route.language, request, response);
            }
            return sendMethodNotAllowed(request, response, route.language, "GET, HEAD, POST");
        }
        if (route.rest == "return") {
            if (isPost)
                return handleReturnPost(site_, route.language, request, response);
            if (isGet) {
                site_.visits().count("return", route.language);
                return handleReturnGet(site_, route.language, request, response);
            }
            return sendMethodNotAllowed(request, response, route.language, "GET, HEAD, POST");
        }
        if (route.rest == "complaint") {
            if (isPost)
                return handleComplaintPost(site_, route.language, request, response);
            if (isGet) {
                site_.visits().count("complaint", route.language);
                return handleComplaintGet(site_, route.language, request, response);
            }
            return sendMethodNotAllowed(request, response, route.language, "GET, HEAD, POST");
        }
        const std::string page = pageFor(route.rest);
        if (page.empty())
            return sendNotFound(request, response, route.language);
        if (!isGet)
            return sendMethodNotAllowed(request, response, route.language, "GET, HEAD");
        site_.visits().count(page, route.language);
        if (page == "privacy")
            return sendPage(request, response, HTTPResponse::HTTP_OK, renderPrivacy(route.language));
        if (page == "info-partners")
            return sendPage(request, response, HTTPResponse::HTTP_OK, renderPartners(route.language));
        const std::string& html
            = site_.cachedPage(page + " " + route.language + " " + publishedSiteContentStamp(site_.config().publishFolder),
                [&] { return renderPage(page, route.language, route.rest); });
        sendPage(request, response, HTTPResponse::HTTP_OK, html);
    }

    // Maps a path below the language to its template: "" is the home page,
    // "privacy" the privacy statement, "info/<slug>" an information page.
    // Returns an empty string for anything else.
    std::string pageFor(const std::string& rest) const
    {
        if (rest.empty())
            return "home";
        if (rest == "privacy")
            return "privacy";
        const std::string prefix = "info/";
        if (!rest.starts_with(prefix))
            return {};
        const std::string slug = rest.substr(prefix.size());
        const bool plain = !slug.empty()
            && slug.find_first_not_of("abcdefghijklmnopqrstuvwxyz-") == std::string::npos;
        if (!plain || !site_.pages().hasPage("info-" + slug))
            return {};
        return "info-" + slug;
    }

    // A page whose text a coordinator replaced shows that text, rendered
    // from the Markdown that meldpuntd published; every other page, and
    // every page while nothing is published, shows its built-in text.
    std::string renderPage(const std::string& page, const std::string& language, const std::string& path) const
    {
        const auto content = readPublishedSiteContent(site_.config().publishFolder);
        const std::string* markdown = content ? content->text(page, language) : nullptr;
        if (markdown == nullptr)
            return site_.pages().render(page, language, pageAt(path));
        PageData data = pageAt(path);
        data.set("body", markdown::toHtml(*markdown));
        data.set("home", page == "home");
        return site_.pages().render("edited-page", language, data);
    }

    // The privacy statement shows the retention periods meldpuntd
    // published, read on every request, so the page never states an old
    // period after a change.
    std::string renderPrivacy(const std::string& language) const
    {
        PageData data = pageAt("privacy");
        if (const auto periods = readPublishedRetention(site_.config().publishFolder)) {
            data.set("retention", true);
            data.set("reports_after_closing_days", std::to_string(periods->reportsAfterClosingDays));
            data.set("reports_never_closed_days", std::to_string(periods->reportsNeverClosedDays));
            data.set("attachments_after_referral_days", std::to_string(periods->attachmentsAfterReferralDays));
            data.set("attachments_days", std::to_string(periods->attachmentsDays));
            data.set("reporter_messages_days", std::to_string(periods->reporterMessagesDays));
            data.set("audit_log_days", std::to_string(periods->auditLogDays));
            data.set("outbox_copies_days", std::to_string(periods->outboxCopiesDays));
        }
        return site_.pages().render("privacy", language, data);
    }

    // The partner page lists the partners meldpuntd published, read on
    // every request, so a partner a coordinator disabled leaves at once.
    std::string renderPartners(const std::string& language) const
    {
        PageData data = pageAt("info/partners");
        std::map<std::string, std::string> countryNames;
        for (const auto& country : site_.pages().catalog().countries(language))
            countryNames[country.code] = country.name;
        PageData list{PageData::type::list};
        std::size_t count = 0;
        for (const auto& partner : readPublishedPartners(site_.config().publishFolder)) {
            PageData item;
            item.set("name", partner.name);
            item.set("kind_" + partner.kind, true);
            std::string countries;
            for (const auto& code : partner.countries) {
                const auto found = countryNames.find(code);
                countries += (countries.empty() ? "" : ", ") + (found == countryNames.end() ? code : found->second);
            }
            item.set("countries", countries);
            if (!partner.website.empty())
                item.set("website", partner.website);
            list.push_back(item);
            ++count;
        }
        data.set("has_partners", count > 0);
        data.set("partners", list);
        return site_.pages().render("info-partners", language, data);
    }

    // Changes when meldpuntd publishes a new partners file.
    std::string partnersStamp() const
    {
        return fsutil::fileStamp(site_.config().publishFolder / "partners.json");
    }

    // Search engines may index every page, the form included: people who
    // search for where to report should find it.
    std::string robotsText() const
    {
        return "User-agent: *\nAllow: /\nSitemap: " + site_.config().origin + "/sitemap.xml\n";
    }

    std::string sitemapXml() const
    {
        const auto& languages = site_.pages().catalog().languages();
        std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                          "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\" "
                          "xmlns:xhtml=\"http://www.w3.org/1999/xhtml\">\n";
        // The home page, the form, the privacy statement and every
        // information page, as pageFor maps paths to templates.
        std::vector<std::string> pages = {"", "report", "privacy"};
        for (const auto& name : site_.pages().pageNames()) {
            if (name.starts_with("info-"))
                pages.push_back("info/" + name.substr(5));
        }
        for (const auto& page : pages) {
            for (const auto& language : languages) {
                xml += "<url><loc>" + escapeHtml(site_.config().origin + "/" + language.code + "/" + page) + "</loc>";
                for (const auto& alternate : languages)
                    xml += "<xhtml:link rel=\"alternate\" hreflang=\"" + alternate.code + "\" href=\""
                        + escapeHtml(site_.config().origin + "/" + alternate.code + "/" + page) + "\"/>";
                xml += "</url>\n";
            }
        }
        return xml + "</urlset>\n";
    }

    static void sendText(
        HTTPServerRequest& request, HTTPServerResponse& response, const std::string& type, const std::string& text)
    {
        response.setContentType(type);
        sendAtOnce(request, response, text);
    }

    void sendMethodNotAllowed(HTTPServerRequest& request, HTTPServerResponse& response, const std::string& language, const std::string& allowed)
    {
        response.set("Allow", allowed);
        sendPage(request, response, HTTPResponse::HTTP_METHOD_NOT_ALLOWED,
            site_.pages().render("message", language, messageData("method_not_allowed")));
    }

    void redirectToLanguage(HTTPServerRequest& request, HTTPServerResponse& response)
    {
        const std::string language = site_.pages().catalog().negotiate(request.get("Accept-Language", ""));
        response.set("Vary", "Accept-Language");
        redirect(response, "/" + language + "/");
    }

    void redirect(HTTPServerResponse& response, const std::string& path)
    {
        response.set("Location", site_.config().origin + path);
        response.set("Cache-Control", "no-store");
        response.setStatusAndReason(HTTPResponse::HTTP_SEE_OTHER);
        response.setContentLength(0);
        response.send();
    }

    void sendNotFound(HTTPServerRequest& request, HTTPServerResponse& response, const std::string& language)
    {
        sendPage(request, response, HTTPResponse::HTTP_NOT_FOUND, site_.pages().render("message", language, messageData("not_found")));
    }

    PublicSite& site_;
};

class SiteHandlerFactory : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit SiteHandlerFactory(PublicSite& site)
        : site_(site)
    {
    }
    Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override
    {
        return new SiteHandler(site_);
    }

private:
    PublicSite& site_;
};

} // namespace

PublicSite::PublicSite(PublicSiteConfig config, const Pages& pages)
    : config_(std::move(config))
    , pages_(pages)
    , intakeKeys_(config_.publishFolder)
    , reportLimiter_(config_.reportBurst, std::chrono::seconds(config_.reportRefillSeconds))
    , heldUploads_(config_.uploadsFolder, config_.uploadHoldTime)
    , drafts_(config_.draftsFolder, config_.draftLifetime)
    , draftSaveLimiter_(config_.draftSaveBurst, std::chrono::seconds(config_.draftSaveRefillSeconds))
    , resumeLimiter_(config_.resumeLimits)
    , slowHashes_(config_.slowHashConcurrency)
    , receiptLimiter_(config_.receiptLimits)
{
    countryCodes_.insert("unknown");
    for (const auto& country : pages_.catalog().countries(pages_.catalog().defaultLanguage()))
        countryCodes_.insert(country.code);
}

const std::string& PublicSite::cachedPage(const std::string& key, const std::function<std::string()>& render)
{
    std::lock_guard lock(pageCacheMutex_);
    auto found = pageCache_.find(key);
    if (found == pageCache_.end())
        found = pageCache_.emplace(key, render()).first;
    return found->second;
}

void PublicSite::flushVisitCounts()
{
    auto counts = visits_.take();
    if (counts.empty())
        return;
    Uuid uuid;
    if (writeSpoolEntry(*this, spool::EntryKind::VisitCounts, VisitCounter::toJson(counts), uuid) != SpoolResult::Written)
        visits_.restore(counts);
}

Poco::Net::HTTPRequestHandlerFactory::Ptr PublicSite::handlerFactory()
{
    return new SiteHandlerFactory(*this);
}

} // namespace meldpunt::site
