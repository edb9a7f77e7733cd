// The admin's TLS certificate page: paste a PEM certificate and its key
// for the public or the staff edge. meldpunt-updated, which runs as root,
// checks the pair, installs it and restarts that edge; meldpuntd itself
// cannot write the edges' files. Every install and rejection lands in the
// audit log, with the certificate's fingerprint when there is one.

#include "StaffApp.h"
#include "StaffContext.h"

#include "Log.h"

namespace meldpunt::staff {

namespace {

// PEM is ASCII text. Anything else would not pass D-Bus as a string, and
// is a sign that a binary file (DER, PKCS#12) was pasted.
bool isPemText(const std::string& text)
{
    for (const unsigned char c : text)
        if (c > 0x7e || (c < 0x20 && c != '\n' && c != '\r' && c != '\t'))
            return false;
    return true;
}

} // namespace

StaffResponse StaffApp::certificatePage(
    Context& context, const std::string& notice, int status, const std::string& edge, const std::string& certificate)
{
    PageData data;
    data.set("edge_public", edge != "staff");
    data.set("edge_staff", edge == "staff");
    data.set("certificate", certificate);
    return render(context, "certificates", "TLS certificates", std::move(data), notice, status);
}

StaffApp::CertificateInstall StaffApp::installCertificateForEdge(Context& context, const std::string& where,
    const std::string& edge, const std::string& certificate, const std::string& key)
{
    CertificateInstall result;
    context.lock.unlock();
    try {
        result.installed = updater_.installCertificate(edge, certificate, key);
    } catch (const CertificateRejectedError& error) {
        result.failure = std::string("The certificate was not installed. ") + error.what();
    } catch (const EdgeRestartFailedError& error) {
        result.failure = error.what();
        result.failureStatus = 500;
    } catch (const UpdaterUnavailableError& error) {
        result.failure = std::string("The certificate was not installed, because the updater service did not answer: ")
            + error.what();
        result.failureStatus = 503;
    }
    context.lock.lock();

    if (!result.installed) {
        log::notice("A TLS certificate upload" + where + " for the " + edge + " edge failed: " + result.failure);
        audit(context, result.failureStatus == 500 ? "tls.restart_failed" : "tls.rejected", "edge", edge);
    } else {
        audit(context, "tls.installed", "edge", edge + " " + result.installed->sha256);
    }
    return result;
}

StaffResponse StaffApp::installCertificate(Context& context)
{
    const std::string edge = context.form.get("edge");
    const std::string certificate = context.form.get("certificate");
    const std::string key = context.form.get("key");
    if (edge != "public" && edge != "staff")
        return certificatePage(context, "Choose whether the certificate is for the public site or the staff site.", 400,
            "public", certificate);
    if (!isPemText(certificate))
        return certificatePage(context,
            "The certificate contains characters that a PEM file does not. Open the certificate file in a text "
            "editor and paste the text from -----BEGIN CERTIFICATE----- to the end.",
            400, edge, {});
    if (!isPemText(key))
        return certificatePage(context,
            "The private key contains characters that a PEM file does not. Open the key file in a text editor and "
            "paste the text from -----BEGIN PRIVATE KEY----- to the end.",
            400, edge, certificate);

    const auto [installed, failure, failureStatus] = installCertificateForEdge(context, "", edge, certificate, key);
    if (!installed) {
        // The key is never sent back into the page.
        return certificatePage(context, failure, failureStatus, edge, failureStatus == 500 ? std::string() : certificate);
    }
    PageData data;
    data.set("edge_public", edge != "staff");
    data.set("edge_staff", edge == "staff");
    PageData result;
    result.set("edge", edge);
    result.set("subject", installed->subject);
    result.set("names", installed->names);
    result.set("not_after", installed->notAfter);
    result.set("sha256", installed->sha256);
    data.set("installed", result);
    return render(context, "certificates", "TLS certificates", std::move(data));
}

} // namespace meldpunt::staff
