#include "Mailer.h"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/MailMessage.h>
#include <Poco/Net/MailRecipient.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SMTPClientSession.h>
#include <Poco/Net/SecureStreamSocket.h>

#include <mutex>

namespace meldpunt::daemon {

namespace {

using Poco::Net::Context;

void initializeTls()
{
    static std::once_flag once;
    std::call_once(once, [] { Poco::Net::initializeSSL(); });
}

Context::Ptr clientContext(const MailSettings& settings)
{
    Context::Params params;
    params.caLocation = settings.caFile.string();
    params.verificationMode = Context::VERIFY_STRICT;
    params.loadDefaultCAs = settings.caFile.empty();
    Context::Ptr context = new Context(Context::TLS_CLIENT_USE, params);
    context->requireMinimumProtocol(Context::PROTO_TLSV1_2);
    return context;
}

// An SMTP session that upgrades to TLS with the relay's name for the
// certificate check. Poco's SecureSMTPClientSession (1.11) attaches TLS
// without a name, so the upgrade is done here.
class RelaySession : public Poco::Net::SMTPClientSession {
public:
    using SMTPClientSession::SMTPClientSession;

    void startTls(const MailSettings& settings)
    {
        std::string response;
        const int status = sendCommand("STARTTLS", response);
        if (status / 100 != 2)
            throw MailError("STARTTLS failed: the relay replied " + std::to_string(status)
                + ", so nothing was sent. Configure a relay that offers STARTTLS");
        socket() = Poco::Net::SecureStreamSocket::attach(socket(), settings.relayHost, clientContext(settings));
    }
};

std::string firstLine(const std::string& text)
{
    return text.substr(0, text.find('\n'));
}

} // namespace

Mailer::Mailer(MailSettings settings)
    : settings_(std::move(settings))
{
    initializeTls();
    catalog_ = std::make_unique<Catalog>(settings_.webui / "locale", "/usr/share/iso-codes/json/iso_3166-1.json",
        "/usr/share/locale", settings_.languages);
    pages_ = std::make_unique<Pages>(settings_.webui / "templates", *catalog_);
}

Mailer::~Mailer() = default;

void Mailer::sendAcknowledgement(const std::string& recipient, const std::string& language,
    const std::string& reference) const
{
    PageData data;
    data.set("reference", reference);
    const std::string lang = catalog_->hasLanguage(language) ? language : catalog_->defaultLanguage();
    Poco::Net::MailMessage message;
    message.setSender(settings_.sender);
    message.addRecipient(Poco::Net::MailRecipient(Poco::Net::MailRecipient::PRIMARY_RECIPIENT, recipient));
    message.setSubject(Poco::Net::MailMessage::encodeWord(
        firstLine(pages_->renderPlain("email-acknowledgement-subject", lang, data)) + " " + reference));
    message.set("Content-Language", lang);
    message.setContentType("text/plain; charset=utf-8");
    message.setContent(pages_->renderPlain("email-acknowledgement", lang, data),
        Poco::Net::MailMessage::ENCODING_QUOTED_PRINTABLE);
    send(message, recipient);
}

void Mailer::sendReferralAlert(const std::string& recipient, std::int64_t referralId, const std::string& partnerName,
    const std::string& detail) const
{
    // Staff read this; it names the referral and the partner, never what
    // the report says.
    Poco::Net::MailMessage message;
    message.setSender(settings_.sender);
    message.addRecipient(Poco::Net::MailRecipient(Poco::Net::MailRecipient::PRIMARY_RECIPIENT, recipient));
    message.setSubject(Poco::Net::MailMessage::encodeWord(
        "Meldpunt: referral " + std::to_string(referralId) + " not delivered"));
    message.set("Content-Language", "en");
    message.setContentType("text/plain; charset=utf-8");
    message.setContent("Referral " + std::to_string(referralId) + " to the partner '" + partnerName
            + "' has not been delivered in the configured time (" + detail
            + ").\n\nLog in to the staff interface to see why and what to do. Check the partner's endpoint and "
              "certificates under Partners, or call the partner.\n",
        Poco::Net::MailMessage::ENCODING_QUOTED_PRINTABLE);
    send(message, recipient);
}

void Mailer::sendNotice(const std::string& recipient, const std::string& subject, const std::string& body) const
{
    Poco::Net::MailMessage message;
    message.setSender(settings_.sender);
    message.addRecipient(Poco::Net::MailRecipient(Poco::Net::MailRecipient::PRIMARY_RECIPIENT, recipient));
    message.setSubject(Poco::Net::MailMessage::encodeWord(subject));
    message.set("Content-Language", "en");
    message.setContentType("text/plain; charset=utf-8");
    message.setContent(body, Poco::Net::MailMessage::ENCODING_QUOTED_PRINTABLE);
    send(message, recipient);
}

void Mailer::send(const Poco::Net::MailMessage& message, const std::string& recipient) const
{
    try {
        RelaySession session(settings_.relayHost, settings_.relayPort);
        session.setTimeout(Poco::Timespan(settings_.timeout.count(), 0));
        session.login(settings_.heloName);
        session.startTls(settings_);
        session.login(settings_.heloName);
        session.sendMessage(message);
        session.close();
    } catch (const MailError&) {
        throw;
    } catch (const Poco::Exception& error) {
        // A refused RCPT's reply may quote the address, which no log may
        // hold, so it is replaced.
        std::string cause = firstLine(error.displayText());
        for (auto at = cause.find(recipient); !recipient.empty() && at != std::string::npos; at = cause.find(recipient))
            cause.replace(at, recipient.size(), "(the recipient)");
        throw MailError(cause);
    }
}

} // namespace meldpunt::daemon
