#pragma once

#include "Catalog.h"
#include "FileType.h"
#include "HeldUploads.h"
#include "DraftStore.h"
#include "GuessLimiter.h"
#include "IntakeKeyFile.h"
#include "Pages.h"
#include "RateLimiter.h"
#include "ReceiptSecret.h"
#include "SlowHashGate.h"
#include "VisitCounter.h"

#include <Poco/Net/HTTPRequestHandlerFactory.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <set>
#include <string>

namespace meldpunt::site {

struct PublicSiteConfig {
    std::filesystem::path spoolFolder;
    std::filesystem::path publishFolder;
    std::string origin = "https://localhost:8443"; // absolute links; never the Host header
    std::size_t maxReportBytes = 1024 * 1024;
    // Reports one client address may send in a burst, and the seconds
    // after which it may send one more. Reporters behind one hotel or
    // mobile network address share these, so they are generous.
    unsigned reportBurst = 10;
    unsigned reportRefillSeconds = 180;

    // Attachments: files held for a form not sent yet, and the limits.
    // maxUploadBytes is the sum of one report's files; the edge's request
    // limit for the report path is it plus maxReportBytes.
    std::filesystem::path uploadsFolder;
    std::uint64_t maxFileBytes = 200ull * 1024 * 1024;
    std::uint64_t maxUploadBytes = 500ull * 1024 * 1024;
    std::size_t maxFiles = 20;
    std::chrono::seconds uploadHoldTime{24 * 3600};
    // Drafts: where they live and how long they are kept, how many one
    // address may save in a burst and the seconds after which it may save
    // one more, and the limits on wrong resume codes.
    std::filesystem::path draftsFolder;
    std::chrono::seconds draftLifetime{7 * 24 * 60 * 60};
    unsigned draftSaveBurst = 30;
    unsigned draftSaveRefillSeconds = 60;
    GuessLimiter::Limits resumeLimits;

    // Receipt secrets: their Argon2id cost, how many Argon2id runs may be
    // under way at once, and the limits on wrong secrets.
    ReceiptHashCost receiptCost;
    unsigned slowHashConcurrency = 4;
    GuessLimiter::Limits receiptLimits;
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
    RateLimiter& reportLimiter() { return reportLimiter_; }
    VisitCounter& visits() { return visits_; }
    HeldUploads& heldUploads() { return heldUploads_; }
    const HeldUploads& heldUploads() const { return heldUploads_; }
    FileTypeChecker& fileTypes() { return fileTypes_; }
    DraftStore& drafts() { return drafts_; }
    const DraftStore& drafts() const { return drafts_; }
    RateLimiter& draftSaveLimiter() { return draftSaveLimiter_; }
    GuessLimiter& resumeLimiter() { return resumeLimiter_; }
    SlowHashGate& slowHashes() { return slowHashes_; }
    GuessLimiter& receiptLimiter() { return receiptLimiter_; }

    // Returns the page rendered by `render` for `key`, rendering it only
    // the first time: pages without a visitor's input (the empty form, the
    // information pages) are the same for everyone until the templates
    // change, which takes a restart.
    const std::string& cachedPage(const std::string& key, const std::function<std::string()>& render);

    // Hands the visit counts so far to meldpuntd as one spool entry; on
    // failure they stay counted for the next attempt.
    void flushVisitCounts();
    const std::set<std::string>& countryCodes() const { return countryCodes_; }

private:
    PublicSiteConfig config_;
    const Pages& pages_;
    IntakeKeySource intakeKeys_;
    RateLimiter reportLimiter_;
    VisitCounter visits_;
    HeldUploads heldUploads_;
    FileTypeChecker fileTypes_;
    DraftStore drafts_;
    RateLimiter draftSaveLimiter_;
    GuessLimiter resumeLimiter_;
    SlowHashGate slowHashes_;
    GuessLimiter receiptLimiter_;
    std::mutex pageCacheMutex_;
    std::map<std::string, std::string> pageCache_;
    std::set<std::string> countryCodes_;
};

} // namespace meldpunt::site
