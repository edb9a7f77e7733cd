#include "Routes.h"

#include <charconv>

namespace meldpunt::staff {

namespace {

// Case content is for the people who work cases. Admins run the box and
// auditors read the audit log; neither sees what a reporter wrote.
const std::set<Role> kCaseRoles = {Role::Caseworker, Role::Coordinator};
const std::set<Role> kAdmin = {Role::Admin};
// Coordinators keep the partner registry (where referrals may go) and set
// or release legal holds, which override the retention periods.
const std::set<Role> kCoordinator = {Role::Coordinator};
const std::set<Role> kAuditor = {Role::Auditor};
// The anonymised statistics hold no case content, so the auditor may
// check them too; only the coordinator writes the annual report's text.
const std::set<Role> kStatisticsReaders = {Role::Coordinator, Role::Auditor};
const std::set<Role> kEveryRole = {Role::Admin, Role::Coordinator, Role::Caseworker, Role::Auditor};

std::optional<std::int64_t> matchPattern(const std::string& pattern, const std::string& path)
{
    const auto slot = pattern.find("{id}");
    if (slot == std::string::npos)
        return pattern == path ? std::optional<std::int64_t>(0) : std::nullopt;
    const std::string prefix = pattern.substr(0, slot);
    const std::string suffix = pattern.substr(slot + 4);
    if (path.size() <= prefix.size() + suffix.size() || !path.starts_with(prefix) || !path.ends_with(suffix))
        return std::nullopt;
    const std::string digits = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
    if (digits.empty() || digits.size() > 15 || digits.front() == '0')
        return std::nullopt;
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error != std::errc() || end != digits.data() + digits.size())
        return std::nullopt;
    return value;
}

} // namespace

const std::vector<Route>& routeTable()
{
    static const std::vector<Route> table = {
        {RouteId::Home, "GET", "/", Access::Anyone, {}},
        {RouteId::LoginPage, "GET", "/login", Access::Anyone, {}},
        {RouteId::Login, "POST", "/login", Access::Anyone, {}},
        {RouteId::SetupPage, "GET", "/setup", Access::Anyone, {}},
        {RouteId::Setup, "POST", "/setup", Access::Anyone, {}},
        {RouteId::SecondFactorPage, "GET", "/second-factor", Access::PendingLogin, {}},
        {RouteId::SecondFactor, "POST", "/second-factor", Access::PendingLogin, {}},
        {RouteId::EnrolPage, "GET", "/enrol", Access::PendingLogin, {}},
        {RouteId::EnrolQrCode, "GET", "/enrol/qr.svg", Access::PendingLogin, {}},
        {RouteId::Enrol, "POST", "/enrol", Access::PendingLogin, {}},
        {RouteId::Logout, "POST", "/logout", Access::Roles, kEveryRole},
        {RouteId::LogoutEverywhere, "POST", "/logout-everywhere", Access::Roles, kEveryRole},
        {RouteId::OwnAccount, "GET", "/account", Access::Roles, kEveryRole},
        {RouteId::NewRecoveryCodes, "POST", "/account/recovery-codes", Access::Roles, kEveryRole},
        {RouteId::Inbox, "GET", "/inbox", Access::Roles, kCaseRoles},
        {RouteId::IntakePage, "GET", "/intake", Access::Roles, kCaseRoles},
        {RouteId::Intake, "POST", "/intake", Access::Roles, kCaseRoles},
        {RouteId::CasePage, "GET", "/cases/{id}", Access::Roles, kCaseRoles},
        {RouteId::CaseStatus, "POST", "/cases/{id}/status", Access::Roles, kCaseRoles},
        {RouteId::CaseAssign, "POST", "/cases/{id}/assign", Access::Roles, kCaseRoles},
        {RouteId::CaseNote, "POST", "/cases/{id}/notes", Access::Roles, kCaseRoles},
        {RouteId::CaseReveal, "POST", "/cases/{id}/reveal", Access::Roles, kCaseRoles},
        {RouteId::CaseRefer, "POST", "/cases/{id}/referrals", Access::Roles, kCaseRoles},
        {RouteId::CaseRetract, "POST", "/cases/{id}/retract", Access::Roles, kCaseRoles},
        {RouteId::CaseAttachmentReveal, "POST", "/cases/{id}/attachments/reveal", Access::Roles, kCaseRoles},
        {RouteId::CaseReply, "POST", "/cases/{id}/replies", Access::Roles, kCaseRoles},
        // {id} is the attachment's own id (attachments.id).
        {RouteId::AttachmentDownload, "GET", "/attachments/{id}", Access::Roles, kCaseRoles},
        {RouteId::AttachmentImage, "GET", "/attachments/{id}/image", Access::Roles, kCaseRoles},
        {RouteId::PartnerList, "GET", "/partners", Access::Roles, kCoordinator},
        {RouteId::PartnerCreate, "POST", "/partners", Access::Roles, kCoordinator},
        {RouteId::PartnerNew, "GET", "/partners/new", Access::Roles, kCoordinator},
        {RouteId::PartnerPage, "GET", "/partners/{id}", Access::Roles, kCoordinator},
        {RouteId::PartnerUpdate, "POST", "/partners/{id}", Access::Roles, kCoordinator},
        {RouteId::PartnerDisable, "POST", "/partners/{id}/disable", Access::Roles, kCoordinator},
        {RouteId::PartnerEnable, "POST", "/partners/{id}/enable", Access::Roles, kCoordinator},
        {RouteId::CaseLegalHold, "POST", "/cases/{id}/legal-hold", Access::Roles, kCoordinator},
        {RouteId::AccountList, "GET", "/accounts", Access::Roles, kAdmin},
        {RouteId::AccountCreate, "POST", "/accounts", Access::Roles, kAdmin},
        {RouteId::AccountDisable, "POST", "/accounts/{id}/disable", Access::Roles, kAdmin},
        {RouteId::AccountEnable, "POST", "/accounts/{id}/enable", Access::Roles, kAdmin},
        {RouteId::AccountResetSecondFactor, "POST", "/accounts/{id}/reset-second-factor", Access::Roles, kAdmin},
        {RouteId::AccountNoticeEmail, "POST", "/accounts/{id}/notice-email", Access::Roles, kAdmin},
        {RouteId::AuditPage, "GET", "/audit", Access::Roles, kAuditor},
        {RouteId::AuditExport, "GET", "/audit/export", Access::Roles, kAuditor},
        // Updates are the technician's work, which is the admin role.
        {RouteId::UpdatesPage, "GET", "/updates", Access::Roles, kAdmin},
        {RouteId::UpdateUpload, "POST", "/updates/upload", Access::Roles, kAdmin},
        {RouteId::UpdateInstall, "POST", "/updates/install", Access::Roles, kAdmin},
        {RouteId::UpdateDiscard, "POST", "/updates/discard", Access::Roles, kAdmin},
        {RouteId::StatisticsPage, "GET", "/statistics", Access::Roles, kStatisticsReaders},
        {RouteId::StatisticsText, "POST", "/statistics/text", Access::Roles, kCoordinator},
        {RouteId::AnnualReportPdf, "GET", "/statistics/annual-report.pdf", Access::Roles, kStatisticsReaders},
        {RouteId::AnnualReportCsv, "GET", "/statistics/annual-report.csv", Access::Roles, kStatisticsReaders},
        // The box's TLS certificates are the technician's work, as updates.
        {RouteId::CertificatesPage, "GET", "/certificates", Access::Roles, kAdmin},
        {RouteId::CertificateInstall, "POST", "/certificates", Access::Roles, kAdmin},
        // The public site's texts, the form's categories and their
        // protocol checklists are the coordinators' to keep; caseworkers
        // tick the checklist on their cases.
        {RouteId::SiteTexts, "GET", "/site", Access::Roles, kCoordinator},
        {RouteId::SiteTextPage, "GET", "/site/text", Access::Roles, kCoordinator},
        {RouteId::SiteTextSave, "POST", "/site/text", Access::Roles, kCoordinator},
        {RouteId::SiteTextRestore, "POST", "/site/text/restore", Access::Roles, kCoordinator},
        {RouteId::CategoryList, "GET", "/categories", Access::Roles, kCoordinator},
        {RouteId::CategoryCreate, "POST", "/categories", Access::Roles, kCoordinator},
        {RouteId::CategoryPage, "GET", "/categories/{id}", Access::Roles, kCoordinator},
        {RouteId::CategoryUpdate, "POST", "/categories/{id}", Access::Roles, kCoordinator},
        {RouteId::CategoryDisable, "POST", "/categories/{id}/disable", Access::Roles, kCoordinator},
        {RouteId::CategoryEnable, "POST", "/categories/{id}/enable", Access::Roles, kCoordinator},
        {RouteId::ProtocolStepAdd, "POST", "/categories/{id}/steps", Access::Roles, kCoordinator},
        {RouteId::ProtocolStepRemove, "POST", "/categories/{id}/steps/remove", Access::Roles, kCoordinator},
        {RouteId::CaseProtocol, "POST", "/cases/{id}/protocol", Access::Roles, kCaseRoles},
        {RouteId::CaseLink, "POST", "/cases/{id}/links", Access::Roles, kCaseRoles},
        {RouteId::CaseUnlink, "POST", "/cases/{id}/unlink", Access::Roles, kCaseRoles},
        {RouteId::CaseMerge, "POST", "/cases/{id}/merge", Access::Roles, kCaseRoles},
    };
    return table;
}

RouteLookup findRoute(const std::string& method, const std::string& path)
{
    RouteLookup lookup;
    for (const auto& route : routeTable()) {
        const auto id = matchPattern(route.pattern, path);
        if (!id)
            continue;
        lookup.pathExists = true;
        // HEAD is answered as GET, as HTTP requires.
        if (route.method == method || (method == "HEAD" && route.method == "GET")) {
            lookup.match = RouteMatch{&route, *id};
            return lookup;
        }
    }
    return lookup;
}

bool roleMay(const Route& route, Role role)
{
    return route.access != Access::Roles || route.roles.contains(role);
}

} // namespace meldpunt::staff
