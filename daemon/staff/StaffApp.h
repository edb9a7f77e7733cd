#pragma once

#include "Accounts.h"
#include "AuditLog.h"
#include "CaseQueries.h"
#include "Clock.h"
#include "LoginLimiter.h"
#include "Pages.h"
#include "Routes.h"
#include "Sessions.h"
#include "TriageDeadline.h"

#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

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

    // Makes a setup code when no account exists yet, and returns it, to
    // be shown once; empty when accounts exist. Old codes stop working.
    std::string prepareFirstSetup();

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
    StaffResponse intakePage(Context& context, const std::string& notice, int status);
    StaffResponse intake(Context& context);
    StaffResponse accountList(Context& context, const std::string& notice, int status, const std::string& username);
    StaffResponse accountChange(Context& context);
    StaffResponse auditPage(Context& context);
    StaffResponse auditExport(Context& context);
    StaffResponse statisticsPage(Context& context, const std::string& notice, int status, const std::string& text);
    StaffResponse statisticsText(Context& context);
    StaffResponse annualReportDownload(Context& context);

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
};

// Security event ids in the journal; stable across releases.
inline constexpr const char* kLoginFailedMessageId = "c4e2a8f61b3d4c7e9a5f0b2d4e6a8c1f";
inline constexpr const char* kAccountChangedMessageId = "7b9d1f3a5c7e4a2b8d0f2a4c6e8b0d3a";

} // namespace meldpunt::staff
