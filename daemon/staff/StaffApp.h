#pragma once

#include "Accounts.h"
#include "AuditLog.h"
#include "CaseQueries.h"
#include "Clock.h"
#include "HealthChecks.h"
#include "LoginLimiter.h"
#include "NetworkSettings.h"
#include "Pages.h"
#include "RecoveryKey.h"
#include "Routes.h"
#include "Sessions.h"
#include "SiteSetup.h"
#include "TriageDeadline.h"
#include "UpdaterClient.h"

#include <filesystem>
#include <istream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace meldpunt::referral {
class Referrals;
}

namespace meldpunt::staff {

// A request as the staff nginx passed it on: the client address comes
// only from X-Real-IP.
struct StaffRequest {
    std::string method;
    std::string path;  // without the query
    std::string query; // after '?', still percent-encoded
    std::map<std::string, std::string> headers; // names in lower case
    std::string body;
    std::string address;

    std::string header(const std::string& name) const;
};

struct StaffResponse {
    int status = 200;
    std::string contentType = "text/html; charset=utf-8";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

struct StaffSettings {
    SessionLimits sessions;
    LoginLimits logins;
    WorkingCalendar calendar;
    std::filesystem::path zoneInfoFolder = "/usr/share/zoneinfo";
    // Cases this close to their triage deadline are marked as due soon.
    std::chrono::hours dueSoon{8};
    std::string totpIssuer = "Meldpunt";
    // Where the setup code is written for the first admin (mode 0600),
    // and removed once used; empty for none.
    std::filesystem::path setupCodeFile;
    // The technician's update page. Uploaded bundles are streamed into
    // updateFolder, which meldpunt-updated must be able to read; empty
    // turns the page off. updaterBusAddress empty means the system bus.
    std::filesystem::path updateFolder;
    std::string updaterBusAddress;
    std::uint64_t maxBundleBytes = std::uint64_t{8} << 30;
    // Where the public partners file goes after each registry change;
    // empty for none.
    std::filesystem::path publishFolder;
    // The box's health conditions, shown to admins on every page; null for
    // none.
    std::shared_ptr<const HealthBoard> health;
    // The recovery key step of the first setup: whether the box has a
    // recovery key, and how a confirmed new one is stored (its public half
    // and its wrap of the data key). Either empty turns the step off, as
    // does staff.recovery_key_on_setup_page = false in meldpuntd.ini.
    std::function<bool()> recoveryKeyExists;
    std::function<void(const keys::RecoveryKey&)> storeRecoveryKey;
    bool recoveryKeyOnSetupPage = true;
    // The network and TLS certificate steps of the first setup, which go
    // through meldpunt-updated (updaterBusAddress). meldpuntd.ini's
    // staff.network_and_certificate_on_setup_page turns them on (the
    // default there); off, the setup page goes straight to the admin.
    bool networkAndCertificateSteps = false;
    // Whether the box has an address now, for the staff address.
    network::LocalAddressCheck isLocalAddress = network::addressIsOnThisBox;
};

// The staff interface: every route of the staff listener once the
// database is open. Each request is checked against the route table
// (session, stage, role, CSRF token) before its handler runs, and every
// view and change lands in the audit log. Thread-safe: the database is
// used only under `databaseMutex`, and password hashing, which takes
// 64 MiB and a fraction of a second, runs one at a time outside it.
class StaffApp {
public:
    StaffApp(storage::Database& database, std::mutex& databaseMutex, const Pages& pages, StaffSettings settings,
        Clock clock = systemClock());

    StaffResponse handle(const StaffRequest& request);

    // Handles the bundle upload (POST /updates/upload), whose body is read
    // from `body` as it arrives and streamed into a file, never held in
    // memory whole. `request.body` is ignored.
    StaffResponse handleUpload(const StaffRequest& request, std::istream& body);

    // The path of the bundle upload, whose body the server passes to
    // handleUpload() instead of reading it.
    static constexpr const char* kUploadPath = "/updates/upload";

    // Makes a setup code when no account exists yet, and returns it, to
    // be shown once; empty when accounts exist. Old codes stop working.
    std::string prepareFirstSetup();

    // Lets caseworkers send referrals: `referrals` seals and queues them,
    // attachments are read from `attachmentFolder`. Without it the case
    // page shows referrals but cannot send. Call before serving requests.
    void attachReferrals(referral::Referrals* referrals, std::filesystem::path attachmentFolder);

    // The name of the session cookie. The __Host- prefix makes browsers
    // accept it only when Secure, with Path=/ and without Domain.
    static constexpr const char* kSessionCookie = "__Host-meldpunt-staff";
    // The cookie that carries the login form's CSRF token before there is
    // a session.
    static constexpr const char* kLoginCookie = "__Host-meldpunt-login";

private:
    struct Context;

    StaffResponse dispatch(Context& context);
    StaffResponse loginPage(Context& context, const std::string& notice, int status, const std::string& username);
    StaffResponse login(Context& context);
    StaffResponse setupPage(Context& context, const std::string& notice, int status, const std::string& username);
    StaffResponse setup(Context& context);
    StaffResponse setupForm(Context& context, const std::string& notice, int status, const std::string& username,
        const SiteDetails& site, const std::vector<SetupFieldError>& errors);
    void setFieldErrors(PageData& data, const std::vector<SetupFieldError>& errors);
    bool recoveryStepNeeded();
    StaffResponse recoveryKeyStep(Context& context);
    StaffResponse recoveryKeyPage(Context& context, const std::string& notice, int status,
        const std::vector<SetupFieldError>& errors);
    StaffResponse secondFactorPage(Context& context, const std::string& notice, int status);
    StaffResponse secondFactor(Context& context);
    StaffResponse enrolPage(Context& context, const std::string& notice, int status);
    StaffResponse enrolQrCode(Context& context);
    StaffResponse enrol(Context& context);
    StaffResponse completeLogin(Context& context, const std::vector<std::string>& recoveryCodes);
    StaffResponse logout(Context& context, bool everywhere);
    StaffResponse ownAccount(Context& context, const std::string& notice);
    StaffResponse newRecoveryCodes(Context& context);
    StaffResponse inbox(Context& context);
    StaffResponse casePage(Context& context, bool revealed, const std::string& notice, int status,
        const std::string& note = {});
    StaffResponse caseChange(Context& context);
    StaffResponse caseRelationChange(Context& context);
    PageData relationData(std::int64_t caseId);
    StaffResponse intakePage(Context& context, const std::string& notice, int status);
    StaffResponse intake(Context& context);
    StaffResponse accountList(Context& context, const std::string& notice, int status, const std::string& username);
    StaffResponse accountChange(Context& context);
    StaffResponse accountNoticeEmail(Context& context);
    void addNotices(const Context& context, PageData& data);
    StaffResponse auditPage(Context& context);
    StaffResponse caseRefer(Context& context);
    StaffResponse caseRetract(Context& context);
    StaffResponse partnerList(Context& context, const std::string& notice, int status);
    StaffResponse partnerPage(Context& context, std::int64_t id, const std::string& notice, int status,
        const std::string& failedField);
    StaffResponse partnerSave(Context& context);
    StaffResponse partnerEnable(Context& context, bool enabled);
    PageData referralData(Context& context, std::int64_t caseId, const std::string& category);
    PageData referralAlerts();
    StaffResponse auditExport(Context& context);
    StaffResponse updatesPage(Context& context, const std::string& notice, int status);
    StaffResponse uploadBundle(Context& context, std::istream& body);
    StaffResponse installBundle(Context& context);
    StaffResponse discardBundle(Context& context);
    StaffResponse certificatePage(Context& context, const std::string& notice, int status, const std::string& edge,
        const std::string& certificate);
    StaffResponse installCertificate(Context& context);
    // The outcome of handing a certificate and key to meldpunt-updated:
    // the installed certificate, or the failure's message and status.
    struct CertificateInstall {
        std::optional<InstalledCertificate> installed;
        std::string failure;
        int failureStatus = 422;
    };
    // Installs the certificate through meldpunt-updated with the database
    // lock released, and logs and audits a failure. `where` names the page.
    CertificateInstall installCertificateForEdge(Context& context, const std::string& where, const std::string& edge,
        const std::string& certificate, const std::string& key);
    std::optional<StaffResponse> requireRole(Context& context);
    StaffResponse finish(Context& context, StaffResponse response);
    StaffResponse statisticsPage(Context& context, const std::string& notice, int status, const std::string& text);
    StaffResponse statisticsText(Context& context);
    StaffResponse annualReportDownload(Context& context);
    PageData detailData(std::int64_t caseId);
    PageData attachmentData(Context& context, std::int64_t caseId);
    StaffResponse attachmentFile(Context& context);
    StaffResponse attachmentReveal(Context& context);
    PageData messageData(Context& context, std::int64_t caseId);
    StaffResponse caseReply(Context& context);
    StaffResponse siteContentRoute(Context& context);
    StaffResponse siteTexts(Context& context, const std::string& notice, int status);
    StaffResponse siteTextPage(Context& context, const std::string& notice, int status);
    StaffResponse siteTextChange(Context& context);
    StaffResponse categoryList(Context& context, const std::string& notice, int status);
    StaffResponse categoryPage(Context& context, const std::string& notice, int status);
    StaffResponse categoryChange(Context& context);
    StaffResponse caseProtocol(Context& context);
    PageData protocolData(Context& context, std::int64_t caseId, const std::string& category);
    void publishSiteContent();

    StaffResponse render(Context& context, const std::string& page, const std::string& title, PageData data,
        const std::string& notice = {}, int status = 200);
    StaffResponse message(Context& context, int status, const std::string& heading, const std::string& text);
    PageData assigneeOptions(std::int64_t selected);
    Actor actorFor(const Context& context) const;
    void audit(const Context& context, const std::string& action, const std::string& objectType,
        const std::string& objectId);
    bool passwordMatches(Context& context, const std::string& password, const std::string& hash);

    storage::Database& database_;
    std::mutex& databaseMutex_;
    const Pages& pages_;
    StaffSettings settings_;
    Clock clock_;
    Accounts accounts_;
    Sessions sessions_;
    AuditLog audit_;
    CaseQueries cases_;
    TriageDeadline deadlines_;
    LoginLimiter limiter_;
    std::mutex hashingMutex_;
    std::string dummyHash_;

    // The bundle that an admin uploaded and has not yet installed or
    // discarded, and the manifest SHA-256 of the install started from the
    // page until its result is in the audit log. Both under databaseMutex_.
    struct PendingBundle {
        std::filesystem::path file;
        BundleSummary summary;
    };
    UpdaterClient updater_;
    std::optional<PendingBundle> pendingBundle_;
    std::string installingSha256_;
    referral::Referrals* referrals_ = nullptr;
    // A recovery key made on the setup page and shown, but not yet
    // confirmed and so not stored; the token ties it to the page that
    // shows it. Under databaseMutex_.
    struct PendingRecoveryKey {
        keys::RecoveryKey key;
        std::string token;
        int firstGroup = 0; // 0-based, the two groups typed back
        int secondGroup = 0;
    };
    std::optional<PendingRecoveryKey> pendingRecoveryKey_;
    std::filesystem::path attachmentFolder_;

    // The network and certificate steps of the first setup (SetupSteps.cpp).
    std::string pendingSetupStep();
    void markSetupStep(const std::string& step, const std::string& outcome);
    std::optional<StaffResponse> refuseSetupCode(Context& context,
        const std::function<StaffResponse(const std::string&, int, const std::vector<SetupFieldError>&)>& page);
    StaffResponse setupStep(Context& context);
    StaffResponse networkStepPage(Context& context, const std::string& notice, int status,
        const network::NetworkForm& form, const std::vector<SetupFieldError>& errors, const std::string& setupCode);
    StaffResponse networkStep(Context& context);
    StaffResponse certificateStepPage(Context& context, const std::string& notice, int status,
        const std::vector<SetupFieldError>& errors, const std::string& setupCode, const std::string& edge,
        const std::string& certificate);
    StaffResponse certificateStep(Context& context);
};

// Security event ids in the journal; stable across releases.
inline constexpr const char* kLoginFailedMessageId = "c4e2a8f61b3d4c7e9a5f0b2d4e6a8c1f";
inline constexpr const char* kAccountChangedMessageId = "7b9d1f3a5c7e4a2b8d0f2a4c6e8b0d3a";
inline constexpr const char* kRecoveryKeyCreatedMessageId = "5d7f9b1c3e5a4d6f8b0c2e4a6d8f0b47";
inline constexpr const char* kPartnerChangedMessageId = "3e5a7c9b1d2f4e6a8c0b2d4f6a8e1c35";

} // namespace meldpunt::staff
