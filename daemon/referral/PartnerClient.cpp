#include "PartnerClient.h"

#include "Tls.h"

#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/StringPartSource.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <sstream>

namespace meldpunt::referral {

namespace {

constexpr std::size_t kMaxReceiptBytes = 64 * 1024;
constexpr std::size_t kMaxReasonBytes = 300;

std::string readLimited(std::istream& in, std::size_t limit)
{
    std::string content(limit + 1, '\0');
    in.read(content.data(), static_cast<std::streamsize>(content.size()));
    content.resize(static_cast<std::size_t>(in.gcount()));
    return content;
}

PushResult exchange(Poco::Net::HTTPSClientSession& session, const Poco::URI& uri,
    const std::string& uuid, const std::vector<SealedFile>& files)
{
    Poco::Net::HTTPRequest request(
        Poco::Net::HTTPRequest::HTTP_POST, uri.getPathEtc(), Poco::Net::HTTPMessage::HTTP_1_1);
    request.set("Idempotency-Key", uuid);
    Poco::Net::HTMLForm form(Poco::Net::HTMLForm::ENCODING_MULTIPART);
    for (const auto& file : files)
        form.addPart(file.name,
            new Poco::Net::StringPartSource(std::string(file.content.begin(), file.content.end()),
                "application/pkcs7-mime", file.name));
    form.prepareSubmit(request);
    form.write(session.sendRequest(request));

    Poco::Net::HTTPResponse response;
    std::istream& body = session.receiveResponse(response);
    const int status = static_cast<int>(response.getStatus());
    const std::string content = readLimited(body, kMaxReceiptBytes);
    PushResult result;
    result.status = status;
    if ((status == 200 || status == 201) && content.size() <= kMaxReceiptBytes) {
        result.outcome = PushOutcome::Accepted;
        result.receipt.assign(content.begin(), content.end());
        return result;
    }
    // The partner's reason names files and checks, never report content,
    // but it is still cut short before it goes into the database.
    result.reason = "the partner responded with " + std::to_string(status) + ": "
        + content.substr(0, kMaxReasonBytes);
    while (!result.reason.empty() && (result.reason.back() == '\n' || result.reason.back() == '\r'))
        result.reason.pop_back();
    const bool permanent = status == 400 || status == 413;
    result.outcome = permanent ? PushOutcome::Rejected : PushOutcome::Failed;
    return result;
}

} // namespace

PushResult pushReferral(const Partner& partner, const std::string& uuid,
    const std::vector<SealedFile>& files, std::chrono::seconds timeout)
{
    PushResult failed;
    try {
        const Poco::URI uri(partner.endpoint);
        const auto trusted
            = certificatesFromPem(partner.serverTrustPem, "the partner's server trust");
        const auto certificate
            = Certificate::fromPem(partner.clientCertificatePem, "the client certificate");
        const auto key = PrivateKey::fromPem(partner.clientKeyPem, "the client key");
        auto context = makeClientContext(certificate, key, trusted, uri.getHost());
        Poco::Net::HTTPSClientSession session(uri.getHost(), uri.getPort(), context);
        session.setTimeout(Poco::Timespan(timeout.count(), 0));
        session.setKeepAlive(false);
        return exchange(session, uri, uuid, files);
    } catch (const Poco::Net::SSLException& error) {
        failed.reason = "the TLS handshake with the partner failed: " + error.displayText();
    } catch (const Poco::TimeoutException&) {
        failed.reason
            = "the partner did not answer within " + std::to_string(timeout.count()) + " s";
    } catch (const Poco::Net::NetException& error) {
        failed.reason = "connecting to the partner failed: " + error.displayText();
    } catch (const Poco::Exception& error) {
        failed.reason = "pushing to the partner failed: " + error.displayText();
    } catch (const std::exception& error) {
        failed.reason = std::string("pushing to the partner failed: ") + error.what();
    }
    return failed;
}

} // namespace meldpunt::referral
