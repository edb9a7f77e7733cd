// The network and TLS certificate steps of the first setup, between the
// recovery key and the first admin. Each step takes the setup code
// (checked and rate-limited, not used up), so that a technician sets up
// a new box in the browser alone. meldpuntd cannot write the network
// files or the certificates: it checks what was typed, naming each
// field's problem, and hands it over D-Bus to meldpunt-updated, which
// checks it again, stores it on the data partition and applies it.

#include "StaffApp.h"
#include "StaffContext.h"

#include "Crypto.h"
#include "Log.h"

#include <cctype>

namespace meldpunt::staff {

namespace {

constexpr const char* kNetworkStep = "setup_network";
constexpr const char* kCertificateStep = "setup_certificate";

// A token for the setup cookie and the form's CSRF field.
std::string newToken()
{
    return crypto::toHex(crypto::randomBytes(32));
}

// PEM is ASCII text; anything else would not pass D-Bus as a string.
bool isPemText(const std::string& text)
{
    for (const unsigned char c : text)
        if (c > 0x7e || (c < 0x20 && c != '\n' && c != '\r' && c != '\t'))
            return false;
    return true;
}

// "AB:CD:…", as browsers show a certificate's SHA-256 fingerprint.
std::string browserFingerprint(const std::string& hex)
{
    std::string text;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        if (!text.empty())
            text += ':';
        text += static_cast<char>(std::toupper(static_cast<unsigned char>(hex[i])));
        text += static_cast<char>(std::toupper(static_cast<unsigned char>(hex[i + 1])));
    }
    return text;
}

network::NetworkForm networkFormOf(const FormData& form)
{
    return {form.get("addressing"), form.get("address"), form.get("prefix_length"), form.get("gateway"),
        form.get("dns"), form.get("staff_address"), form.get("staff_lan")};
}

} // namespace

// The next step of the first setup that is neither done nor skipped:
// "network", "certificate", or empty (the admin form, or no first setup).
std::string StaffApp::pendingSetupStep()
{
    if (!settings_.networkAndCertificateSteps || !accounts_.list().empty() || recoveryStepNeeded())
        return {};
    auto query = database_.prepare("SELECT key FROM site_settings WHERE key IN (?, ?)");
    query.bind(1, std::string(kNetworkStep));
    query.bind(2, std::string(kCertificateStep));
    bool network = false;
    bool certificate = false;
    while (query.step()) {
        network = network || query.columnText(0) == kNetworkStep;
        certificate = certificate || query.columnText(0) == kCertificateStep;
    }
    if (!network)
        return "network";
    if (!certificate)
        return "certificate";
    return {};
}

void StaffApp::markSetupStep(const std::string& step, const std::string& outcome)
{
    database_.prepare("INSERT INTO site_settings (key, value) VALUES (?, ?) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(1, step)
        .bind(2, outcome)
        .run();
}

// Checks the setup code of a step's form, as the recovery key step does:
// rate-limited per address, and not used up. Returns the page to send
// when the code may not be used, and nothing when it is valid.
std::optional<StaffResponse> StaffApp::refuseSetupCode(Context& context,
    const std::function<StaffResponse(const std::string&, int, const std::vector<SetupFieldError>&)>& page)
{
    const std::string address = context.request.address;
    if (const auto wait = limiter_.waitFor("setup", address)) {
        context.extraHeaders.emplace_back("Retry-After", std::to_string(wait->count()));
        return page("Too many wrong setup codes. Try again in " + std::to_string(wait->count()) + " seconds.", 429, {});
    }
    const std::string code = context.form.get("setup_code");
    if (code.find_first_not_of(" \t-") == std::string::npos) {
        const std::string missing = "Type the setup code shown on the console of this box.";
        return page(missing, 400, {{"setup_code", missing}});
    }
    if (!accounts_.isSetupCode(code)) {
        limiter_.recordFailure("setup", address);
        audit(context, "setup.failed", "setup_code", "");
        const std::string wrongCode = "The setup code is wrong or was used already. Type it again, or make a new one "
                                      "with meldpunt-keys new-admin-code on the console.";
        return page(wrongCode, 403, {{"setup_code", wrongCode}});
    }
    return std::nullopt;
}

StaffResponse StaffApp::setupStep(Context& context)
{
    const std::string step = context.form.get("step");
    const std::string pending = pendingSetupStep();
    if (pending.empty())
        return setupPage(context, "That setup step is done already. Continue with the form below.", 409, {});
    if ((pending == "network") != (step == "network" || step == "network_skip"))
        return setupPage(context, "That setup step is not the current one. Continue with the step on this page.",
            409, {});
    return pending == "network" ? networkStep(context) : certificateStep(context);
}

StaffResponse StaffApp::networkStepPage(Context& context, const std::string& notice, int status,
    const network::NetworkForm& form, const std::vector<SetupFieldError>& errors, const std::string& setupCode)
{
    const std::string token = newToken();
    context.extraHeaders.emplace_back("Set-Cookie",
        std::string(kLoginCookie) + "=" + token + "; Path=/; Secure; HttpOnly; SameSite=Strict");
    PageData data;
    data.set("csrf", token);
    data.set("setup_code", setupCode);
    data.set("addressing_static", form.addressing == "static");
    data.set("addressing_dhcp", form.addressing != "static");
    data.set("address", form.address);
    data.set("prefix_length", form.prefixLength);
    data.set("gateway", form.gateway);
    data.set("dns", form.dnsServers);
    data.set("staff_address", form.staffAddress);
    data.set("staff_lan", form.staffLan);
    setFieldErrors(data, errors);
    context.session.reset();
    context.account.reset();
    return render(context, "setup-network", "Set up this box: network", std::move(data), notice, status);
}

StaffResponse StaffApp::networkStep(Context& context)
{
    const network::NetworkForm form = networkFormOf(context.form);
    const bool skip = context.form.get("step") == "network_skip";
    const auto page = [&](const std::string& notice, int status, const std::vector<SetupFieldError>& errors) {
        return networkStepPage(context, notice, status, form, errors, {});
    };
    if (skip) {
        if (auto refused = refuseSetupCode(context, page))
            return *refused;
        markSetupStep(kNetworkStep, "skipped");
        audit(context, "setup.network_skipped", "network", "");
        return certificateStepPage(context,
            "The network stays as it is: DHCP on every Ethernet port, and the staff address and office networks "
            "of the box's files.",
            200, {}, context.form.get("setup_code"), "staff", {});
    }

    // Every field is checked before the code is looked at.
    network::NetworkSettings settings;
    std::vector<SetupFieldError> errors;
    for (auto& error : network::checkNetworkForm(form, settings_.isLocalAddress, settings))
        errors.push_back({error.field, error.message});
    if (!errors.empty())
        return page("Some fields need a change; each is marked below. Nothing was stored.", 400, errors);
    if (auto refused = refuseSetupCode(context, page))
        return *refused;

    context.lock.unlock();
    std::string failure;
    int failureStatus = 0;
    try {
        updater_.applyNetwork(form);
    } catch (const NetworkRejectedError& error) {
        failure = error.what();
        failureStatus = 422;
    } catch (const NetworkApplyFailedError& error) {
        failure = error.what();
        failureStatus = 500;
    } catch (const UpdaterUnavailableError& error) {
        failure = std::string("The network settings were not stored, because the updater service did not answer: ")
            + error.what() + " You may skip this step and set the network later on the console.";
        failureStatus = 503;
    }
    context.lock.lock();

    if (failureStatus != 0 && failureStatus != 500) {
        log::notice("The setup page's network settings were not stored: " + failure);
        audit(context, "setup.network_rejected", "network", "");
        return networkStepPage(context, failure, failureStatus, form, {}, context.form.get("setup_code"));
    }
    // Stored: at the latest the next boot applies them, so the step is done.
    markSetupStep(kNetworkStep, failureStatus == 500 ? "stored" : "applied");
    audit(context, "setup.network_applied", "network", settings.staffAddress);
    const std::string staffUrl = settings.staffAddress.find(':') == std::string::npos
        ? settings.staffAddress
        : "[" + settings.staffAddress + "]";
    const std::string notice = failureStatus == 500
        ? failure
        : "The network settings are stored and applied. The staff page now listens on " + settings.staffAddress
            + " only. If this page was opened at another address, open https://" + staffUrl
            + ":8444/setup (or the staff port of this box) and type the setup code there.";
    return certificateStepPage(context, notice, 200, {}, context.form.get("setup_code"), "staff", {});
}

StaffResponse StaffApp::certificateStepPage(Context& context, const std::string& notice, int status,
    const std::vector<SetupFieldError>& errors, const std::string& setupCode, const std::string& edge,
    const std::string& certificate)
{
    // The updater is called without the database's lock.
    PageData list {PageData::type::list};
    std::string unavailable;
    context.lock.unlock();
    for (const char* name : {"staff", "public"}) {
        try {
            const InstalledCertificate installed = updater_.describeCertificate(name);
            PageData item;
            item.set("edge_staff", std::string(name) == "staff");
            item.set("names", installed.names);
            item.set("not_after", installed.notAfter);
            item.set("sha256", browserFingerprint(installed.sha256));
            list.push_back(item);
        } catch (const std::exception& error) {
            unavailable = error.what();
        }
    }
    context.lock.lock();

    const std::string token = newToken();
    context.extraHeaders.emplace_back("Set-Cookie",
        std::string(kLoginCookie) + "=" + token + "; Path=/; Secure; HttpOnly; SameSite=Strict");
    PageData data;
    data.set("csrf", token);
    data.set("setup_code", setupCode);
    data.set("certificates", list);
    data.set("has_certificates", !list.is_empty_list());
    data.set("certificates_unavailable", unavailable);
    data.set("edge_public", edge == "public");
    data.set("edge_staff", edge != "public");
    data.set("certificate", certificate);
    setFieldErrors(data, errors);
    context.session.reset();
    context.account.reset();
    return render(context, "setup-certificate", "Set up this box: TLS certificate", std::move(data), notice, status);
}

StaffResponse StaffApp::certificateStep(Context& context)
{
    const std::string edge = context.form.get("edge") == "public" ? "public" : "staff";
    const std::string certificate = context.form.get("certificate");
    const std::string key = context.form.get("key");
    const auto page = [&](const std::string& notice, int status, const std::vector<SetupFieldError>& errors) {
        return certificateStepPage(context, notice, status, errors, {}, edge, isPemText(certificate) ? certificate : "");
    };
    if (context.form.get("step") == "certificate_keep") {
        if (auto refused = refuseSetupCode(context, page))
            return *refused;
        markSetupStep(kCertificateStep, "kept");
        audit(context, "setup.certificate_kept", "edge", "");
        return setupPage(context, "The certificates stay as shown. Now set up the organisation and the first admin; "
                                  "the setup code works once more for that.",
            200, {});
    }

    std::vector<SetupFieldError> errors;
    const std::string sentEdge = context.form.get("edge");
    if (sentEdge != "public" && sentEdge != "staff")
        errors.push_back({"edge", "Choose whether the certificate is for the staff site or the public site."});
    if (certificate.find_first_not_of(" \t\r\n") == std::string::npos)
        errors.push_back({"certificate", "Paste the certificate: the PEM text that starts with -----BEGIN "
                                         "CERTIFICATE-----. To keep the certificate shown above, choose Continue "
                                         "with these certificates instead."});
    else if (!isPemText(certificate))
        errors.push_back({"certificate", "The certificate contains characters that a PEM file does not. Open the "
                                         "certificate file in a text editor and paste the text from -----BEGIN "
                                         "CERTIFICATE----- to the end."});
    if (key.find_first_not_of(" \t\r\n") == std::string::npos)
        errors.push_back({"key", "Paste the private key: the PEM text that starts with -----BEGIN PRIVATE KEY-----."});
    else if (!isPemText(key))
        errors.push_back({"key", "The private key contains characters that a PEM file does not. Open the key file in "
                                 "a text editor and paste the text from -----BEGIN PRIVATE KEY----- to the end."});
    if (!errors.empty())
        return page("Some fields need a change; each is marked below. Nothing was installed.", 400, errors);
    if (auto refused = refuseSetupCode(context, page))
        return *refused;

    const auto [installed, failure, failureStatus]
        = installCertificateForEdge(context, " on the setup page", edge, certificate, key);
    const std::string code = context.form.get("setup_code");
    if (!installed) {
        // The key is never sent back into the page.
        return certificateStepPage(context, failure, failureStatus, {{"certificate", failure}}, code, edge,
            failureStatus == 500 ? std::string() : certificate);
    }
    return certificateStepPage(context,
        "The certificate is installed for the " + edge + " site (SHA-256 " + browserFingerprint(installed->sha256)
            + "). Install one for the other site too, or continue with these certificates.",
        200, {}, code, edge == "staff" ? "public" : "staff", {});
}

} // namespace meldpunt::staff
