#include "StaffApp.h"
#include "StaffContext.h"

#include "FileSystem.h"
#include "FormData.h"
#include "Log.h"
#include "PasswordHash.h"
#include "QrCode.h"
#include "SiteSetup.h"
#include "Totp.h"

#include "Crypto.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <sstream>



namespace meldpunt::staff {


namespace {

constexpr std::size_t kMaxBodyBytes = 64 * 1024;
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'";

std::map<std::string, std::string> parseCookies(const std::string& header)
{
    std::map<std::string, std::string> cookies;
    std::size_t position = 0;
    while (position < header.size()) {
        const auto end = std::min(header.find(';', position), header.size());
        const std::string pair = header.substr(position, end - position);
        const auto equals = pair.find('=');
        if (equals != std::string::npos) {
            const auto nameStart = pair.find_first_not_of(' ');
            const std::string name = pair.substr(nameStart, equals - nameStart);
            // The first cookie of a name wins; browsers send the most
            // specific one first.
            cookies.emplace(name, pair.substr(equals + 1));
        }
        position = end + 1;
    }
    return cookies;
}

std::string sessionCookie(const std::string& value)
{
    return std::string(StaffApp::kSessionCookie) + "=" + value + "; Path=/; Secure; HttpOnly; SameSite=Strict";
}

std::string expiredCookie(const char* name)
{
    return std::string(name) + "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0";
}

constexpr const char* kWeekdayNames[] = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};

std::string randomToken()
{
    std::string text = crypto::toBase64(crypto::randomBytes(32));
    for (char& c : text) {
        if (c == '+')
            c = '-';
        else if (c == '/')
            c = '_';
    }
    std::erase(text, '=');
    return text;
}

} // namespace

std::string StaffRequest::header(const std::string& name) const
{
    const auto found = headers.find(name);
    return found == headers.end() ? std::string() : found->second;
}

StaffApp::StaffApp(storage::Database& database, std::mutex& databaseMutex, const Pages& pages, StaffSettings settings,
    Clock clock)
    : database_(database)
    , databaseMutex_(databaseMutex)
    , pages_(pages)
    , settings_(std::move(settings))
    , clock_(std::move(clock))
    , accounts_(database_, clock_)
    , sessions_(database_, clock_, settings_.sessions)
    , audit_(database_, clock_)
    , cases_(database_, clock_)
    , deadlines_(settings_.calendar, settings_.zoneInfoFolder)
    , limiter_(clock_, settings_.logins)
    // A login with an unknown name is checked against this hash, so that
    // it takes as long as one with a known name.
    , dummyHash_(hashPassword(randomToken()))
    , updater_(settings_.updaterBusAddress)
{
    // The calendar that the first admin set on the setup page takes
    // precedence over meldpuntd.ini's.
    try {
        const SiteDetails site = loadSiteDetails(database_, SiteDetails{{}, {}, settings_.calendar});
        deadlines_ = TriageDeadline(site.calendar, settings_.zoneInfoFolder);
        settings_.calendar = site.calendar;
    } catch (const std::exception& error) {
        log::error(std::string("Failed to use the calendar from the setup page, so meldpuntd.ini's applies: ")
            + error.what());
    }
    // A bundle uploaded before a restart lost its checked manifest with the
    // old process, and a partial upload is of no use, so the folder starts
    // empty.
    if (!settings_.updateFolder.empty()) {
        std::error_code error;
        for (const auto& entry : std::filesystem::directory_iterator(settings_.updateFolder, error))
            std::filesystem::remove(entry.path(), error);
    }
}

std::string StaffApp::prepareFirstSetup()
{
    std::lock_guard lock(databaseMutex_);
    if (!accounts_.list().empty())
        return {};
    database_.exec("DELETE FROM staff_setup_codes");
    const std::string code = accounts_.newSetupCode();
    if (!settings_.setupCodeFile.empty()) {
        const std::string text = code + "\n";
        fsutil::writeFileAtomically(settings_.setupCodeFile, crypto::asBytes(text), 0600);
    }
    return code;
}

StaffResponse StaffApp::handle(const StaffRequest& request)
{
    if (request.method == "POST" && request.path == kUploadPath) {
        std::istringstream body(request.body);
        return handleUpload(request, body);
    }
    std::unique_lock lock(databaseMutex_);
    Context context{request, lock, {}, parseCookies(request.header("cookie")), {}, {}, {}, {}, 0, {}};
    StaffResponse response;
    try {
        response = dispatch(context);
    } catch (const MalformedFormError&) {
        response = message(context, 400, "The form could not be read", "Go back, check what you typed and send it again.");
    } catch (const std::exception& error) {
        log::error(std::string("Failed to handle a staff request: ") + error.what());
        response = message(context, 500, "Something went wrong", "The request failed. Try again; if it fails again, tell an admin.");
    }
    return finish(context, std::move(response));
}

StaffResponse StaffApp::handleUpload(const StaffRequest& request, std::istream& body)
{
    std::unique_lock lock(databaseMutex_);
    Context context{request, lock, {}, parseCookies(request.header("cookie")), {}, {}, {}, {}, 0, {}};
    StaffResponse response;
    try {
        const RouteLookup lookup = findRoute(request.method, request.path);
        if (!lookup.match || lookup.match->route->id != RouteId::UpdateUpload)
            return finish(context, message(context, 404, "Page not found", "This page does not exist."));
        context.match = *lookup.match;
        if (auto refused = requireRole(context))
            response = std::move(*refused);
        else
            response = uploadBundle(context, body);
    } catch (const std::exception& error) {
        if (!context.lock.owns_lock())
            context.lock.lock();
        log::error(std::string("Failed to handle a bundle upload: ") + error.what());
        response = message(context, 500, "Something went wrong", "The upload failed. Try again; if it fails again, tell an admin.");
    }
    return finish(context, std::move(response));
}

StaffResponse StaffApp::finish(Context& context, StaffResponse response)
{
    for (auto& header : context.extraHeaders)
        response.headers.push_back(std::move(header));
    response.headers.emplace_back("Cache-Control", "no-store");
    // An attachment brings its own, stricter policy.
    const bool ownPolicy = std::any_of(response.headers.begin(), response.headers.end(),
        [](const auto& header) { return header.first == "Content-Security-Policy"; });
    if (!ownPolicy)
        response.headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
    response.headers.emplace_back("X-Frame-Options", "DENY");
    response.headers.emplace_back("X-Content-Type-Options", "nosniff");
    response.headers.emplace_back("Referrer-Policy", "no-referrer");
    return response;
}

StaffResponse StaffApp::dispatch(Context& context)
{
    const StaffRequest& request = context.request;
    const RouteLookup lookup = findRoute(request.method, request.path);
    if (!lookup.match) {
        if (lookup.pathExists)
            return message(context, 405, "Method not allowed", "This page cannot be used this way.");
        return message(context, 404, "Page not found", "This page does not exist.");
    }
    context.match = *lookup.match;
    const Route& route = *context.match.route;
    const bool isPost = request.method == "POST";
    if (isPost) {
        if (request.body.size() > kMaxBodyBytes)
            return message(context, 413, "The form is too large", "Shorten what you typed and send it again.");
        context.form = parseUrlEncoded(request.body);
    }
    context.session = sessions_.find(context.cookies[kSessionCookie]);
    if (context.session)
        context.account = accounts_.find(context.session->accountId);

    if (route.access == Access::Anyone) {
        if (isPost && !sameToken(context.cookies[kLoginCookie], context.form.get("csrf")))
            return message(context, 403, "The form has expired", "Open the page again and send the form from there.");
    } else if (route.access == Access::PendingLogin) {
        const bool enrolRoute = route.pattern.starts_with("/enrol");
        const SessionStage expected = enrolRoute ? SessionStage::Enrol : SessionStage::SecondFactor;
        if (!context.session || context.session->stage != expected)
            return isPost ? message(context, 403, "Log in first", "Your login has expired. Log in again.")
                          : redirect("/login");
        if (isPost && !sameToken(context.session->csrfToken, context.form.get("csrf")))
            return message(context, 403, "The form has expired", "Open the page again and send the form from there.");
    } else {
        if (auto refused = requireRole(context))
            return std::move(*refused);
        if (isPost && !sameToken(context.session->csrfToken, context.form.get("csrf")))
            return message(context, 403, "The form has expired", "Open the page again and send the form from there.");
    }

    switch (route.id) {
    case RouteId::Home:
        // The start page is the login page until a login is complete.
        if (!context.session || context.session->stage != SessionStage::Full || !context.account)
            return loginPage(context, {}, 200, {});
        if (context.account->role == Role::Admin)
            return redirect("/accounts");
        if (context.account->role == Role::Auditor)
            return redirect("/audit");
        return redirect("/inbox");
    case RouteId::LoginPage:
        return loginPage(context, {}, 200, {});
    case RouteId::Login:
        return login(context);
    case RouteId::SetupPage:
        return setupPage(context, {}, 200, {});
    case RouteId::Setup:
        return setup(context);
    case RouteId::SecondFactorPage:
        return secondFactorPage(context, {}, 200);
    case RouteId::SecondFactor:
        return secondFactor(context);
    case RouteId::EnrolPage:
        return enrolPage(context, {}, 200);
    case RouteId::EnrolQrCode:
        return enrolQrCode(context);
    case RouteId::Enrol:
        return enrol(context);
    case RouteId::Logout:
        return logout(context, false);
    case RouteId::LogoutEverywhere:
        return logout(context, true);
    case RouteId::OwnAccount:
        return ownAccount(context, {});
    case RouteId::NewRecoveryCodes:
        return newRecoveryCodes(context);
    case RouteId::Inbox:
        return inbox(context);
    case RouteId::CasePage:
        return casePage(context, false, {}, 200);
    case RouteId::IntakePage:
        return intakePage(context, {}, 200);
    case RouteId::Intake:
        return intake(context);
    case RouteId::CaseStatus:
    case RouteId::CaseAssign:
    case RouteId::CaseNote:
    case RouteId::CaseReveal:
    case RouteId::CaseLegalHold:
        return caseChange(context);
    case RouteId::AccountList:
        return accountList(context, {}, 200, {});
    case RouteId::AccountCreate:
    case RouteId::AccountDisable:
    case RouteId::AccountEnable:
    case RouteId::AccountResetSecondFactor:
        return accountChange(context);
    case RouteId::AccountNoticeEmail:
        return accountNoticeEmail(context);
    case RouteId::AuditPage:
        return auditPage(context);
    case RouteId::AuditExport:
        return auditExport(context);
    case RouteId::UpdatesPage:
        return updatesPage(context, {}, 200);
    case RouteId::UpdateUpload:
        // handle() passes uploads to handleUpload() before dispatching.
        return message(context, 400, "The upload could not be read", "Upload the bundle with the form on the updates page.");
    case RouteId::UpdateInstall:
        return installBundle(context);
    case RouteId::UpdateDiscard:
        return discardBundle(context);
    case RouteId::CaseRefer:
        return caseRefer(context);
    case RouteId::CaseRetract:
        return caseRetract(context);
    case RouteId::PartnerList:
        return partnerList(context, {}, 200);
    case RouteId::PartnerNew:
        return partnerPage(context, 0, {}, 200, {});
    case RouteId::PartnerPage:
        return partnerPage(context, context.match.id, {}, 200, {});
    case RouteId::PartnerCreate:
    case RouteId::PartnerUpdate:
        return partnerSave(context);
    case RouteId::PartnerDisable:
        return partnerEnable(context, false);
    case RouteId::PartnerEnable:
        return partnerEnable(context, true);
    case RouteId::StatisticsPage:
        return statisticsPage(context, {}, 200, {});
    case RouteId::StatisticsText:
        return statisticsText(context);
    case RouteId::AnnualReportPdf:
    case RouteId::AnnualReportCsv:
        return annualReportDownload(context);
    case RouteId::AttachmentDownload:
    case RouteId::AttachmentImage:
        return attachmentFile(context);
    case RouteId::CaseAttachmentReveal:
        return attachmentReveal(context);
    case RouteId::CaseReply:
        return caseReply(context);
    case RouteId::CertificatesPage:
        return certificatePage(context, {}, 200, "public", {});
    case RouteId::CertificateInstall:
        return installCertificate(context);
    case RouteId::SiteTexts:
    case RouteId::SiteTextPage:
    case RouteId::SiteTextSave:
    case RouteId::SiteTextRestore:
    case RouteId::CategoryList:
    case RouteId::CategoryCreate:
    case RouteId::CategoryPage:
    case RouteId::CategoryUpdate:
    case RouteId::CategoryDisable:
    case RouteId::CategoryEnable:
    case RouteId::ProtocolStepAdd:
    case RouteId::ProtocolStepRemove:
    case RouteId::CaseProtocol:
        return siteContentRoute(context);
    case RouteId::CaseLink:
    case RouteId::CaseUnlink:
    case RouteId::CaseMerge:
        return caseRelationChange(context);
    }
    return message(context, 404, "Page not found", "This page does not exist.");
}

std::optional<StaffResponse> StaffApp::requireRole(Context& context)
{
    const Route& route = *context.match.route;
    const bool isPost = context.request.method == "POST";
    context.session = sessions_.find(context.cookies[kSessionCookie]);
    if (context.session)
        context.account = accounts_.find(context.session->accountId);
    if (!context.session || context.session->stage != SessionStage::Full || !context.account)
        return isPost ? message(context, 403, "Log in first", "Your session has ended. Log in again.")
                      : redirect("/login");
    if (!roleMay(route, context.account->role)) {
        audit(context, "access.denied", "route", route.pattern);
        return message(context, 403, "Not allowed", "Your role does not give access to this page.");
    }
    return std::nullopt;
}

Actor StaffApp::actorFor(const Context& context) const
{
    Actor actor;
    actor.address = context.request.address.empty() ? "unknown" : context.request.address;
    if (context.account) {
        actor.accountId = context.account->id;
        actor.username = context.account->username;
    } else {
        actor.username = "(not logged in)";
    }
    return actor;
}

void StaffApp::audit(const Context& context, const std::string& action, const std::string& objectType,
    const std::string& objectId)
{
    audit_.record(actorFor(context), action, objectType, objectId);
}

bool StaffApp::passwordMatches(Context& context, const std::string& password, const std::string& hash)
{
    // The database is free for other requests while Argon2id runs.
    context.lock.unlock();
    bool matches = false;
    {
        std::lock_guard hashing(hashingMutex_);
        matches = verifyPassword(password, hash.empty() ? dummyHash_ : hash);
    }
    context.lock.lock();
    return matches;
}

StaffResponse StaffApp::render(Context& context, const std::string& page, const std::string& title, PageData data,
    const std::string& notice, int status)
{
    const std::string language = "en";
    data.set("title", pages_.catalog().translate(language, title));
    if (!notice.empty())
        data.set("notice", pages_.catalog().translate(language, notice));
    const bool signedIn = context.session && context.session->stage == SessionStage::Full && context.account;
    if (signedIn) {
        data.set("signed_in", true);
        data.set("username", context.account->username);
        data.set("role", std::string(roleName(context.account->role)));
        data.set("csrf", context.session->csrfToken);
        const Role role = context.account->role;
        data.set("may_cases", role == Role::Caseworker || role == Role::Coordinator);
        data.set("may_accounts", role == Role::Admin);
        data.set("may_audit", role == Role::Auditor);
        data.set("may_partners", role == Role::Coordinator);
        data.set("may_site", role == Role::Coordinator);
        // Coordinators see undelivered referrals on every page until
        // they are delivered, retracted or given up.
        if (role == Role::Coordinator) {
            PageData alerts = referralAlerts();
            data.set("has_referral_alerts", !alerts.is_empty_list());
            data.set("referral_alerts", alerts);
        }
        data.set("may_statistics", role == Role::Coordinator || role == Role::Auditor);
        addNotices(context, data);
    }
    StaffResponse response;
    response.status = status;
    response.body = pages_.render(page, language, std::move(data));
    return response;
}

StaffResponse StaffApp::message(Context& context, int status, const std::string& heading, const std::string& text)
{
    PageData data;
    data.set("heading", pages_.catalog().translate("en", heading));
    data.set("message", pages_.catalog().translate("en", text));
    if (status == 403 || status == 404) {
        data.set("link", "/");
        data.set("link_text", pages_.catalog().translate("en", "Go to the start page"));
    }
    return render(context, "message", heading, std::move(data), {}, status);
}

StaffResponse StaffApp::loginPage(Context& context, const std::string& notice, int status, const std::string& username)
{
    const std::string token = randomToken();
    context.extraHeaders.emplace_back("Set-Cookie",
        std::string(kLoginCookie) + "=" + token + "; Path=/; Secure; HttpOnly; SameSite=Strict");
    PageData data;
    data.set("csrf", token);
    data.set("username", username);
    data.set("no_accounts", accounts_.list().empty());
    context.session.reset();
    context.account.reset();
    return render(context, "login", "Log in", std::move(data), notice, status);
}

StaffResponse StaffApp::login(Context& context)
{
    const std::string username = context.form.get("username");
    const std::string password = context.form.get("password");
    const std::string address = context.request.address;
    if (const auto wait = limiter_.waitFor("account:" + username, address)) {
        context.extraHeaders.emplace_back("Retry-After", std::to_string(wait->count()));
        return loginPage(context, "Too many failed logins. Try again in " + std::to_string(wait->count()) + " seconds.",
            429, username);
    }
    const auto account = accounts_.findByName(username);
    const bool matches = passwordMatches(context, password, account ? account->passwordHash : std::string());
    if (!account || !matches || account->disabled) {
        limiter_.recordFailure("account:" + username, address);
        // A name that is not an account may be a password typed into the
        // wrong field, so only a known account's id is recorded.
        context.account = account;
        audit(context, "login.failed", "account", account ? std::to_string(account->id) : "");
        log::securityEvent(kLoginFailedMessageId,
            account ? "Rejected a staff login for account " + std::to_string(account->id)
                    : std::string("Rejected a staff login for an unknown user name"));
        context.account.reset();
        return loginPage(context, "The user name or the password is wrong, or the account is disabled.", 403, username);
    }
    if (context.session)
        sessions_.end(context.session->cookieValue);
    // Expired sessions are swept at each login, so the table stays small
    // without a timer of its own.
    sessions_.removeExpired();
    const SessionStage stage = account->totpConfirmed ? SessionStage::SecondFactor : SessionStage::Enrol;
    const Session pending = sessions_.create(account->id, stage);
    context.account = account;
    audit(context, "login.password_accepted", "account", std::to_string(account->id));
    context.extraHeaders.emplace_back("Set-Cookie", sessionCookie(pending.cookieValue));
    context.extraHeaders.emplace_back("Set-Cookie", expiredCookie(kLoginCookie));
    return redirect(stage == SessionStage::Enrol ? "/enrol" : "/second-factor");
}

// Puts each field's message beside its field as <field>_error, and the
// list of all of them, which links to the fields, at the top of the page.
void StaffApp::setFieldErrors(PageData& data, const std::vector<SetupFieldError>& errors)
{
    PageData list {PageData::type::list};
    for (const auto& error : errors) {
        const std::string message = pages_.catalog().translate("en", error.message);
        data.set(error.field + "_error", message);
        PageData item;
        item.set("field", error.field);
        item.set("message", message);
        list.push_back(item);
    }
    data.set("has_errors", !errors.empty());
    data.set("errors", list);
}

StaffResponse StaffApp::setupPage(Context& context, const std::string& notice, int status, const std::string& username)
{
    // The network and certificate steps come after the recovery key and
    // before the admin, each on a page of its own.
    if (const std::string step = pendingSetupStep(); step == "network")
        return networkStepPage(context, notice, status, {"dhcp", {}, {}, {}, {}, {}, {}}, {}, {});
    else if (step == "certificate")
        return certificateStepPage(context, notice, status, {}, {}, "staff", {});
    return setupForm(context, notice, status, username, loadSiteDetails(database_, SiteDetails{{}, {}, settings_.calendar}), {});
}

// The setup form with the organisation's details and calendar, and a
// message beside each field that needs a change.
StaffResponse StaffApp::setupForm(Context& context, const std::string& notice, int status, const std::string& username,
    const SiteDetails& site, const std::vector<SetupFieldError>& errors)
{
    const std::string token = randomToken();
    context.extraHeaders.emplace_back("Set-Cookie",
        std::string(kLoginCookie) + "=" + token + "; Path=/; Secure; HttpOnly; SameSite=Strict");
    PageData data;
    data.set("csrf", token);
    data.set("username", username);
    // Once an admin exists, the page serves only to make another admin
    // with a code from meldpunt-keys new-admin-code. It then neither shows
    // the stored details to whoever opens it nor changes them.
    const bool firstSetup = accounts_.list().empty();
    data.set("first_setup", firstSetup);
    // The recovery key comes before the admin, so that no box takes
    // reports without one. A key made on the console skips the step.
    const bool recoveryStep = recoveryStepNeeded();
    data.set("recovery_step", recoveryStep);
    data.set("recovery_key_exists", firstSetup && !recoveryStep && settings_.recoveryKeyExists
        && settings_.storeRecoveryKey && settings_.recoveryKeyExists());
    data.set("organisation", site.organisationName);
    data.set("contact_email", site.contactEmail);
    data.set("time_zone", site.calendar.timeZone);
    data.set("end_of_day", formatClock(site.calendar.endOfDayMinutes));
    PageData days {PageData::type::list};
    for (int day = 1; day <= 7; ++day) {
        PageData item;
        item.set("number", std::to_string(day));
        item.set("name", pages_.catalog().translate("en", kWeekdayNames[day - 1]));
        item.set("checked", site.calendar.workingDays.contains(day));
        days.push_back(item);
    }
    data.set("days", days);
    setFieldErrors(data, errors);
    context.session.reset();
    context.account.reset();
    return render(context, "setup", "Set up this box", std::move(data), notice, status);
}

StaffResponse StaffApp::setup(Context& context)
{
    const std::string step = context.form.get("step");
    if (step == "recovery_key" || step == "recovery_confirm")
        return recoveryKeyStep(context);
    if (step == "network" || step == "network_skip" || step == "certificate" || step == "certificate_keep")
        return setupStep(context);
    const std::string username = context.form.get("username");
    const std::string password = context.form.get("password");
    const std::string address = context.request.address;
    if (recoveryStepNeeded())
        return setupPage(context, "Make the recovery key first: type the setup code and choose Make the recovery key.",
            409, {});
    if (!pendingSetupStep().empty())
        return setupPage(context, "Finish the step on this page first; the first admin comes after it.", 409, {});
    if (const auto wait = limiter_.waitFor("setup", address)) {
        context.extraHeaders.emplace_back("Retry-After", std::to_string(wait->count()));
        return setupPage(context, "Too many wrong setup codes. Try again in " + std::to_string(wait->count()) + " seconds.",
            429, username);
    }
    // Every field is checked before the code is looked at, and each
    // problem is named next to its field.
    SiteDetails site = loadSiteDetails(database_, SiteDetails{{}, {}, settings_.calendar});
    const bool firstSetup = accounts_.list().empty();
    std::vector<SetupFieldError> errors;
    if (firstSetup)
        errors = readSiteForm(context.form, settings_.zoneInfoFolder, site);
    if (password != context.form.get("password_again"))
        errors.push_back({"password_again", "The two passwords differ. Type the same password twice."});
    if (!errors.empty())
        return setupForm(context, "Some fields need a change; each is marked below.", 400, username, site, errors);
    std::int64_t id = 0;
    bool codeAccepted = false;
    try {
        // The code is used up only together with the new account and the
        // organisation's details: a rejected user name or password leaves
        // it valid.
        database_.transaction([&] {
            codeAccepted = accounts_.useSetupCode(context.form.get("setup_code"));
            if (codeAccepted) {
                id = accounts_.create(username, Role::Admin, password);
                if (firstSetup)
                    storeSiteDetails(database_, site);
            }
        });
    } catch (const AccountError& error) {
        const std::string field = std::string(error.what()).find("assword") != std::string::npos ? "password" : "username";
        return setupForm(context, error.what(), 400, username, site, {{field, error.what()}});
    }
    if (!codeAccepted) {
        limiter_.recordFailure("setup", address);
        audit(context, "setup.failed", "setup_code", "");
        const std::string wrongCode = "The setup code is wrong or was used already. Type it again, or make a new one "
                                      "with meldpunt-keys new-admin-code on the console.";
        return setupForm(context, wrongCode, 403, username, site, {{"setup_code", wrongCode}});
    }
    if (!settings_.setupCodeFile.empty()) {
        std::error_code ignored;
        std::filesystem::remove(settings_.setupCodeFile, ignored);
    }
    context.account = accounts_.find(id);
    if (firstSetup) {
        deadlines_ = TriageDeadline(site.calendar, settings_.zoneInfoFolder);
        settings_.calendar = site.calendar;
        audit(context, "setup.site_details", "site", site.calendar.timeZone);
    }
    audit(context, "account.created_with_setup_code", "account", std::to_string(id));
    log::securityEvent(kAccountChangedMessageId, "Created admin account " + std::to_string(id) + " with a setup code");
    context.account.reset();
    return loginPage(context, "The admin account exists. Log in to set up its second factor.", 200, username);
}

bool StaffApp::recoveryStepNeeded()
{
    return settings_.recoveryKeyExists && settings_.storeRecoveryKey && accounts_.list().empty()
        && !settings_.recoveryKeyExists();
}

namespace {

// A group as typed back: upper case, without spaces and hyphens, with I
// and L read as 1 and O as 0, as RecoveryKey::parse reads them.
std::string normaliseGroup(const std::string& typed)
{
    std::string group;
    for (const unsigned char c : typed) {
        if (c == ' ' || c == '-' || c == '\t')
            continue;
        char upper = static_cast<char>(std::toupper(c));
        if (upper == 'I' || upper == 'L')
            upper = '1';
        else if (upper == 'O')
            upper = '0';
        group += upper;
    }
    return group;
}

std::string keyGroup(const std::string& key, int group)
{
    return key.substr(static_cast<std::size_t>(group) * 6, 5);
}

} // namespace

// The recovery key step of the first setup. The setup code (checked, and
// kept for the admin form) starts it: a new key is made and shown, and
// kept only in this process's memory. It is stored, and so put to use,
// only when two of its groups are typed back correctly, so that the box
// never depends on a key nobody wrote down. A restart before that
// forgets it, and the step starts again with a new key.
StaffResponse StaffApp::recoveryKeyStep(Context& context)
{
    if (!recoveryStepNeeded()) {
        pendingRecoveryKey_.reset();
        return setupPage(context, "This box has a recovery key already, so that step is skipped. Fill in the form below.",
            409, {});
    }
    const std::string address = context.request.address;
    if (const auto wait = limiter_.waitFor("setup", address)) {
        context.extraHeaders.emplace_back("Retry-After", std::to_string(wait->count()));
        return setupPage(context, "Too many wrong setup codes. Try again in " + std::to_string(wait->count()) + " seconds.",
            429, {});
    }
    const SiteDetails site = loadSiteDetails(database_, SiteDetails{{}, {}, settings_.calendar});
    if (context.form.get("step") == "recovery_key") {
        const std::string code = context.form.get("setup_code");
        if (code.find_first_not_of(" \t-") == std::string::npos) {
            const std::string missing = "Type the setup code shown on the console of this box.";
            return setupForm(context, missing, 400, {}, site, {{"setup_code", missing}});
        }
        if (!accounts_.isSetupCode(code)) {
            limiter_.recordFailure("setup", address);
            audit(context, "setup.failed", "setup_code", "");
            const std::string wrongCode = "The setup code is wrong or was used already. Type it again, or make a new "
                                          "one with meldpunt-keys new-admin-code on the console.";
            return setupForm(context, wrongCode, 403, {}, site, {{"setup_code", wrongCode}});
        }
        const auto random = crypto::randomBytes(2);
        const int first = random[0] % 8;
        const int second = (first + 1 + random[1] % 7) % 8;
        pendingRecoveryKey_.emplace(PendingRecoveryKey{keys::RecoveryKey::generate(), randomToken(),
            std::min(first, second), std::max(first, second)});
        return recoveryKeyPage(context, {}, 200, {});
    }

    if (!pendingRecoveryKey_ || !sameToken(pendingRecoveryKey_->token, context.form.get("recovery_token")))
        return setupPage(context,
            "This recovery key is no longer waiting for confirmation: meldpuntd restarted, or the step was started "
            "again elsewhere. Nothing was stored. Discard what you wrote down, type the setup code and make a new key.",
            409, {});
    const std::string key = pendingRecoveryKey_->key.toString();
    std::vector<SetupFieldError> errors;
    const std::pair<const char*, int> fields[] = {
        {"first_group", pendingRecoveryKey_->firstGroup}, {"second_group", pendingRecoveryKey_->secondGroup}};
    for (const auto& [field, group] : fields) {
        const std::string typed = normaliseGroup(context.form.get(field));
        const std::string number = std::to_string(group + 1);
        if (typed.empty())
            errors.push_back({field, "Type group " + number + " of the recovery key as you wrote it down."});
        else if (typed.size() != 5)
            errors.push_back({field, "Group " + number + " has 5 characters, and you typed " + std::to_string(typed.size())
                    + ". Type the five characters of that group only."});
        else if (CRYPTO_memcmp(typed.data(), keyGroup(key, group).data(), 5) != 0)
            errors.push_back({field, "Group " + number + " does not match the recovery key above. Compare what you "
                    "wrote down with the key, character by character, correct it and type the group again."});
    }
    if (!errors.empty())
        return recoveryKeyPage(context,
            "The recovery key is not stored yet: the groups you typed back do not match it. The key above is the "
            "same; check what you wrote down and type the groups again.",
            400, errors);
    try {
        settings_.storeRecoveryKey(pendingRecoveryKey_->key);
    } catch (const std::exception& error) {
        pendingRecoveryKey_.reset();
        log::error(std::string("Failed to store the recovery key made on the setup page: ") + error.what());
        return setupPage(context,
            "The recovery key could not be stored, so it is not in use; the journal names the cause. Discard what you "
            "wrote down and make a new key. If it fails again, run meldpunt-keys new-recovery-key on the console.",
            500, {});
    }
    pendingRecoveryKey_.reset();
    audit(context, "recovery_key.created", "recovery_key", "");
    log::securityEvent(kRecoveryKeyCreatedMessageId, "Created a recovery key on the setup page");
    if (!pendingSetupStep().empty())
        return setupPage(context,
            "The recovery key is stored. Keep what you wrote down away from the box. Now set up the network; the "
            "setup code works for each step until the first admin exists.",
            200, {});
    return setupPage(context,
        "The recovery key is stored. Keep what you wrote down away from the box. Now set up the organisation and "
        "the first admin; the setup code works once more for that.",
        200, {});
}

// Shows the pending recovery key and asks for two of its groups.
StaffResponse StaffApp::recoveryKeyPage(Context& context, const std::string& notice, int status,
    const std::vector<SetupFieldError>& errors)
{
    const std::string token = randomToken();
    context.extraHeaders.emplace_back("Set-Cookie",
        std::string(kLoginCookie) + "=" + token + "; Path=/; Secure; HttpOnly; SameSite=Strict");
    PageData data;
    data.set("csrf", token);
    data.set("recovery_token", pendingRecoveryKey_->token);
    data.set("recovery_key", pendingRecoveryKey_->key.toString());
    data.set("first_group", std::to_string(pendingRecoveryKey_->firstGroup + 1));
    data.set("second_group", std::to_string(pendingRecoveryKey_->secondGroup + 1));
    setFieldErrors(data, errors);
    context.session.reset();
    context.account.reset();
    return render(context, "setup-recovery", "Recovery key", std::move(data), notice, status);
}

StaffResponse StaffApp::secondFactorPage(Context& context, const std::string& notice, int status)
{
    PageData data;
    data.set("csrf", context.session->csrfToken);
    return render(context, "second-factor", "Second factor", std::move(data), notice, status);
}

StaffResponse StaffApp::secondFactor(Context& context)
{
    const std::string code = context.form.get("code");
    const std::string key = "account:" + (context.account ? context.account->username : std::string());
    if (const auto wait = limiter_.waitFor(key, context.request.address)) {
        context.extraHeaders.emplace_back("Retry-After", std::to_string(wait->count()));
        return secondFactorPage(context, "Too many wrong codes. Try again in " + std::to_string(wait->count()) + " seconds.", 429);
    }
    const std::int64_t id = context.session->accountId;
    const bool byTotp = accounts_.checkTotp(id, code, clock_());
    const bool byRecoveryCode = !byTotp && code.size() > totp::kDigits && accounts_.useRecoveryCode(id, code);
    if (!byTotp && !byRecoveryCode) {
        limiter_.recordFailure(key, context.request.address);
        audit(context, "login.second_factor_failed", "account", std::to_string(id));
        log::securityEvent(kLoginFailedMessageId, "Rejected a second factor for staff account " + std::to_string(id));
        return secondFactorPage(context, "The code is wrong or was used already. Type the current code from the app.", 403);
    }
    limiter_.recordSuccess(key);
    if (byRecoveryCode)
        audit(context, "login.recovery_code_used", "account", std::to_string(id));
    return completeLogin(context, {});
}

StaffResponse StaffApp::completeLogin(Context& context, const std::vector<std::string>& recoveryCodes)
{
    // The session gets a new id now that it is fully logged in.
    sessions_.end(context.session->cookieValue);
    context.session = sessions_.create(context.session->accountId, SessionStage::Full);
    audit(context, "login", "account", std::to_string(context.session->accountId));
    context.extraHeaders.emplace_back("Set-Cookie", sessionCookie(context.session->cookieValue));
    if (recoveryCodes.empty())
        return redirect("/");
    PageData data;
    PageData list{PageData::type::list};
    for (const auto& code : recoveryCodes)
        list.push_back(PageData(code));
    data.set("codes", list);
    return render(context, "recovery-codes", "Your recovery codes", std::move(data));
}

StaffResponse StaffApp::enrolPage(Context& context, const std::string& notice, int status)
{
    auto account = accounts_.find(context.session->accountId);
    if (account->totpSecret.empty()) {
        accounts_.startEnrolment(account->id, totp::newSecret());
        account = accounts_.find(account->id);
    }
    PageData data;
    data.set("csrf", context.session->csrfToken);
    data.set("secret", totp::base32(account->totpSecret));
    return render(context, "enrol", "Set up your second factor", std::move(data), notice, status);
}

StaffResponse StaffApp::enrolQrCode(Context& context)
{
    const auto account = accounts_.find(context.session->accountId);
    if (!account || account->totpSecret.empty())
        return message(context, 404, "Page not found", "Open the set-up page first.");
    StaffResponse response;
    response.contentType = "image/svg+xml";
    response.body = qrCodeSvg(totp::provisioningUri(account->totpSecret, settings_.totpIssuer, account->username));
    return response;
}

StaffResponse StaffApp::enrol(Context& context)
{
    const std::int64_t id = context.session->accountId;
    if (!accounts_.checkTotp(id, context.form.get("code"), clock_())) {
        audit(context, "second_factor.enrolment_failed", "account", std::to_string(id));
        return enrolPage(context, "The code is wrong. Check that the app shows this box's key and type its current code.", 403);
    }
    audit(context, "second_factor.enrolled", "account", std::to_string(id));
    return completeLogin(context, accounts_.newRecoveryCodes(id));
}

StaffResponse StaffApp::logout(Context& context, bool everywhere)
{
    if (everywhere) {
        sessions_.endAll(context.account->id);
        audit(context, "logout.everywhere", "account", std::to_string(context.account->id));
    } else {
        sessions_.end(context.session->cookieValue);
        audit(context, "logout", "account", std::to_string(context.account->id));
    }
    context.extraHeaders.emplace_back("Set-Cookie", expiredCookie(kSessionCookie));
    return redirect("/login");
}

StaffResponse StaffApp::ownAccount(Context& context, const std::string& notice)
{
    audit(context, "account.view_own", "account", std::to_string(context.account->id));
    PageData data;
    data.set("codes_left", std::to_string(accounts_.recoveryCodesLeft(context.account->id)));
    return render(context, "account", "My account", std::move(data), notice);
}

StaffResponse StaffApp::newRecoveryCodes(Context& context)
{
    audit(context, "recovery_codes.replaced", "account", std::to_string(context.account->id));
    PageData data;
    PageData list{PageData::type::list};
    for (const auto& code : accounts_.newRecoveryCodes(context.account->id))
        list.push_back(PageData(code));
    data.set("codes", list);
    return render(context, "recovery-codes", "Your recovery codes", std::move(data));
}

} // namespace meldpunt::staff
