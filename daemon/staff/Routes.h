#pragma once

#include "Accounts.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace meldpunt::staff {

// Who may use a route: anyone (the login and setup pages), a login that
// still needs its second factor, or a logged-in staff member with one of
// the listed roles.
enum class Access { Anyone, PendingLogin, Roles };

enum class RouteId {
    Home,
    LoginPage,
    Login,
    SetupPage,
    Setup,
    SecondFactorPage,
    SecondFactor,
    EnrolPage,
    EnrolQrCode,
    Enrol,
    Logout,
    LogoutEverywhere,
    OwnAccount,
    NewRecoveryCodes,
    Inbox,
    CasePage,
    IntakePage,
    Intake,
    CaseStatus,
    CaseAssign,
    CaseNote,
    CaseReveal,
    CaseRefer,
    CaseRetract,
    PartnerList,
    PartnerCreate,
    PartnerNew,
    PartnerPage,
    PartnerUpdate,
    PartnerDisable,
    PartnerEnable,
    CaseLegalHold,
    AccountList,
    AccountCreate,
    AccountDisable,
    AccountEnable,
    AccountResetSecondFactor,
    AccountNoticeEmail,
    AuditPage,
    AuditExport,
    UpdatesPage,
    UpdateUpload,
    UpdateInstall,
    UpdateDiscard,
    StatisticsPage,
    StatisticsText,
    AnnualReportPdf,
    AnnualReportCsv,
    AttachmentDownload,
    AttachmentImage,
    CaseAttachmentReveal,
    CaseReply,
    CertificatesPage,
    CertificateInstall,
    SiteTexts,
    SiteTextPage,
    SiteTextSave,
    SiteTextRestore,
    CategoryList,
    CategoryCreate,
    CategoryPage,
    CategoryUpdate,
    CategoryDisable,
    CategoryEnable,
    ProtocolStepAdd,
    ProtocolStepRemove,
    CaseProtocol,
    CaseLink,
    CaseUnlink,
    CaseMerge,
};

struct Route {
    RouteId id;
    std::string method;  // "GET" or "POST"
    std::string pattern; // "/cases/{id}": {id} matches a positive decimal number
    Access access;
    std::set<Role> roles; // for Access::Roles
};

// The one table of the staff listener's routes and the roles that may use
// each. The server checks every request against it before any handler
// runs; a route not in the table does not exist.
const std::vector<Route>& routeTable();

struct RouteMatch {
    const Route* route = nullptr;
    std::int64_t id = 0; // the {id} in the path, 0 when there is none
};

// The route for a method and path (without the query). pathExists is
// true without a match when the path has routes for other methods only,
// which is a 405 rather than a 404.
struct RouteLookup {
    std::optional<RouteMatch> match;
    bool pathExists = false;
};
RouteLookup findRoute(const std::string& method, const std::string& path);

bool roleMay(const Route& route, Role role);

} // namespace meldpunt::staff
