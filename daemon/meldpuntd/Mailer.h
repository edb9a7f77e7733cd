#pragma once

#include "Catalog.h"
#include "Pages.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace Poco::Net {
class MailMessage;
}

namespace meldpunt::daemon {

struct MailSettings {
    std::string relayHost; // empty: no acknowledgement e-mails
    unsigned short relayPort = 587;
    std::string sender;
    std::string heloName = "localhost";
    // The CA certificates that the relay's certificate must chain to; the
    // relay's name must match relayHost.
    std::filesystem::path caFile;
    std::chrono::seconds timeout{30};
    std::chrono::seconds firstRetry{60}; // doubled after every failed attempt
    int maxAttempts = 8;
    std::filesystem::path webui;
    std::vector<std::string> languages;
};

// A mail the relay did not take: its message names the step and the
// cause, never the recipient.
class MailError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Sends acknowledgement e-mails through the configured relay over SMTP
// with STARTTLS (TLS 1.2 or newer, the relay's certificate verified
// against caFile and relayHost). A relay without STARTTLS gets nothing.
// The text comes from webui/templates/email-acknowledgement*.mustache in
// the reporter's language and holds only the reference. Thread-safe: each
// send uses its own connection.
class Mailer {
public:
    explicit Mailer(MailSettings settings);
    ~Mailer();

    const MailSettings& settings() const { return settings_; }

    // Sends the acknowledgement of `reference` to `recipient`. Throws
    // MailError.
    void sendAcknowledgement(const std::string& recipient, const std::string& language,
        const std::string& reference) const;

    // Tells a coordinator that a referral is still not delivered. The
    // mail holds the referral's number, the partner's name and the
    // outbox's reason, never report content. Throws MailError.
    void sendReferralAlert(const std::string& recipient, std::int64_t referralId, const std::string& partnerName,
        const std::string& detail) const;

    // Sends a staff notice or a health alert whose text the caller made
    // (counts, conditions and a link, never case content). Throws
    // MailError.
    void sendNotice(const std::string& recipient, const std::string& subject, const std::string& body) const;

private:
    void send(const Poco::Net::MailMessage& message, const std::string& recipient) const;

    MailSettings settings_;
    std::unique_ptr<Catalog> catalog_;
    std::unique_ptr<Pages> pages_;
};

} // namespace meldpunt::daemon
