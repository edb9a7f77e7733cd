// Runs the whole appliance for a test written in another language (the
// browser tests): prints one line "PORT CA_FILE" when it serves, then
// answers each line read from standard input:
//   reports      waits until the spool is empty, prints the stored count
//   field NAME   the newest stored report's NAME (a column or form field)
//   staff        prints "STAFF_PORT SETUP_CODE": the staff edge's port and
//                the first admin's one-time setup code
//   attachments  waits like reports, prints the count of stored
//                attachments and the SHA-256 (hex) of each one's bytes
//   reply REFERENCE TEXT
//             stores a staff message to the reporter while meldpuntd is
//             stopped, starts it again, prints "ok" once it is published
//   messages REFERENCE
//             waits until the spool is empty, prints the number of
//             messages from the reporter
//   outcome OUTCOME
//             posts OUTCOME for the newest referral the partner's
//             receiver stored to meldpuntd, with the partner's outcome
//             certificate as the partner edge passes it; prints the
//             HTTP status
// and stops everything at end of input.
//
// MELDPUNT_HARNESS_LANGUAGES and MELDPUNT_HARNESS_WEBUI override the site's
// languages and web files. MELDPUNT_HARNESS_MAIL_PORT names the loopback
// port of an SMTP relay for acknowledgement e-mails (its certificate is
// pki/server.pem beside CA_FILE), MELDPUNT_HARNESS_DRAFT_SECONDS the
// lifetime of drafts, and MELDPUNT_HARNESS_MAX_FILE_BYTES the largest
// attachment. MELDPUNT_HARNESS_REFERRALS=1 also runs the real
// meldpunt-receive on loopback as the partner "Politie" (certificates from
// tests/make-referral-pki) and configures meldpuntd's outbox for it.

#include "Appliance.h"
#include "ReferralFixture.h"
#include "StoredReports.h"

#include "Crypto.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

namespace {

// The newest stored report's `name`, with line breaks written as "\n" so
// that the answer is one line; "(none)" when there is no such report or
// field.
std::string newestField(meldpunt::test::Appliance& appliance, const std::string& name)
{
    appliance.waitForEmptySpool();
    const auto reports = meldpunt::test::readStoredReports(appliance.stateFolder(), appliance.tpm().tcti());
    if (reports.empty() || !reports.back().contains(name))
        return "(none)";
    std::string line;
    for (char c : reports.back().at(name))
        line += c == '\n' ? std::string("\\n") : std::string(1, c);
    return line;
}

namespace fs = std::filesystem;

// Copies the hotline's signing identity and a partner file into a folder
// that meldpuntd's user may read, and configures meldpuntd to use them.
void configureReferrals(meldpunt::test::Appliance& appliance, unsigned short receiverPort)
{
    using namespace meldpunt::test;
    const fs::path folder = appliance.root() / "referral";
    fs::create_directories(folder);
    for (const auto& name :
        {"hotline-sign.pem", "hotline-sign.key", "hotline-client.pem", "hotline-client.key",
            "partner-ca.pem", "partner-encrypt.pem", "partner-receipt.pem", "partner-client.pem"})
        fs::copy_file(pkiFile(name), folder / name, fs::copy_options::overwrite_existing);
    PartnerOverrides overrides;
    overrides.pemFolder = folder;
    const auto partners = writePartnerFile(folder, "Politie", receiverPort, overrides);
    if (Appliance::runsAsSeparateUsers()) {
        if (::chown(folder.c_str(), Appliance::kDaemonUid, Appliance::kDaemonUid) != 0)
            throw std::runtime_error("cannot give the referral folder to meldpuntd");
        for (const auto& item : fs::directory_iterator(folder))
            if (::chown(item.path().c_str(), Appliance::kDaemonUid, Appliance::kDaemonUid) != 0)
                throw std::runtime_error("cannot give the referral files to meldpuntd");
    }
    appliance.setDaemonExtraConfiguration("[referral]\nsigning_certificate = "
        + (folder / "hotline-sign.pem").string() + "\nsigning_key = "
        + (folder / "hotline-sign.key").string() + "\npartners = " + partners.string()
        + "\norganisation = Meldpunt test\ninterval_ms = 200\nfirst_retry_seconds = 1\n");
}

// Percent-encodes every byte but letters and digits, as nginx's
// $ssl_client_escaped_cert encodes the certificate.
std::string escaped(const std::string& text)
{
    static const char* digits = "0123456789ABCDEF";
    std::string out;
    for (const unsigned char c : text) {
        if (std::isalnum(c)) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += digits[c >> 4];
            out += digits[c & 0x0f];
        }
    }
    return out;
}

// Posts an outcome to meldpuntd's socket as the partner edge does after
// it verified the partner's client certificate; returns the HTTP status.
std::string postOutcome(meldpunt::test::Appliance& appliance,
    const meldpunt::test::Receiver& receiver, const std::string& outcome)
{
    const auto stored = receiver.storedReferrals();
    if (stored.empty())
        return "no referral stored";
    const std::string uuid = stored.back().filename().string();
    const auto certificate = meldpunt::test::pkiText("partner-client.pem");
    const fs::path socket = appliance.staffSocket();
    const fs::path body = appliance.root() / "outcome.json";
    std::ofstream(body) << "{\"referral\": \"" << uuid << "\", \"outcome\": \"" << outcome << "\"}";
    const std::string command
        = "curl --silent --max-time 10 --output /dev/null --write-out '%{http_code}' "
          "--unix-socket '"
        + socket.string()
        + "' -H 'Content-Type: application/json' "
          "-H 'X-Partner-Certificate: "
        + escaped(certificate) + "' --data-binary '@" + body.string()
        + "' http://localhost/partner/v1/outcomes";
    std::string status;
    if (FILE* pipe = ::popen(command.c_str(), "r")) {
        char buffer[64];
        while (const std::size_t count = std::fread(buffer, 1, sizeof buffer, pipe))
            status.append(buffer, count);
        ::pclose(pipe);
    }
    return status;
}

} // namespace

int main()
{
    try {
        meldpunt::test::Appliance::Options options;
        if (const char* languages = std::getenv("MELDPUNT_HARNESS_LANGUAGES"))
            options.languages = languages;
        if (const char* webui = std::getenv("MELDPUNT_HARNESS_WEBUI"))
            options.webui = webui;
        if (const char* port = std::getenv("MELDPUNT_HARNESS_MAIL_PORT"))
            options.mailRelayPort = static_cast<unsigned short>(std::stoul(port));
        if (const char* seconds = std::getenv("MELDPUNT_HARNESS_DRAFT_SECONDS"))
            options.draftLifetimeSeconds = static_cast<unsigned>(std::stoul(seconds));
        if (const char* bytes = std::getenv("MELDPUNT_HARNESS_MAX_FILE_BYTES"))
            options.maxFileBytes = std::stoull(bytes);
        meldpunt::test::Appliance appliance("harness", options);
        std::unique_ptr<meldpunt::test::Receiver> receiver;
        const char* referrals = std::getenv("MELDPUNT_HARNESS_REFERRALS");
        if (referrals != nullptr && std::string(referrals) == "1") {
            receiver = std::make_unique<meldpunt::test::Receiver>(
                appliance.root() / "partner", meldpunt::test::ReceiverOptions {});
            configureReferrals(appliance, receiver->port());
        }
        appliance.startAll();
        std::cout << appliance.publicPort() << ' ' << appliance.caFile().string() << std::endl;
        std::string command;
        while (std::getline(std::cin, command)) {
            if (command == "reports") {
                appliance.waitForEmptySpool();
                const auto reports = meldpunt::test::readStoredReports(appliance.stateFolder(), appliance.tpm().tcti());
                std::cout << reports.size() << std::endl;
            } else if (command.starts_with("field ")) {
                std::cout << newestField(appliance, command.substr(6)) << std::endl;
            } else if (command == "staff") {
                std::string code = meldpunt::test::readFile(appliance.setupCodeFile());
                while (!code.empty() && code.back() == '\n')
                    code.pop_back();
                std::cout << appliance.staffPort() << ' ' << code << std::endl;
            } else if (command == "attachments") {
                appliance.waitForEmptySpool();
                const auto attachments =
                    meldpunt::test::readStoredAttachments(appliance.stateFolder(), appliance.tpm().tcti());
                std::cout << attachments.size();
                for (const auto& attachment : attachments) {
                    meldpunt::crypto::Sha256 hash;
                    hash.update(meldpunt::crypto::asBytes(attachment.content));
                    std::cout << ' ' << meldpunt::crypto::toHex(hash.finish());
                }
                std::cout << std::endl;
            } else if (command.starts_with("reply ")) {
                const std::string rest = command.substr(6);
                const std::string reference = rest.substr(0, rest.find(' '));
                appliance.stopDaemon();
                meldpunt::test::addStaffMessage(appliance.stateFolder(), appliance.tpm().tcti(), reference,
                    rest.substr(reference.size() + 1));
                appliance.startDaemon();
                // meldpuntd publishes changed receipts after its first
                // ingest pass.
                appliance.waitForEmptySpool();
                std::this_thread::sleep_for(std::chrono::seconds(1));
                std::cout << "ok" << std::endl;
            } else if (command.starts_with("messages ")) {
                appliance.waitForEmptySpool();
                const auto messages = meldpunt::test::readReporterMessages(appliance.stateFolder(),
                    appliance.tpm().tcti(), command.substr(9));
                const auto fromReporter = std::count_if(messages.begin(), messages.end(),
                    [](const auto& message) { return message.first == "from_reporter"; });
                std::cout << fromReporter << std::endl;
            } else if (command.starts_with("outcome ") && receiver) {
                std::cout << postOutcome(appliance, *receiver, command.substr(8)) << std::endl;
            } else {
                std::cout << "unknown command" << std::endl;
            }
        }
    } catch (const std::exception& error) {
        std::cerr << "appliance-harness: " << error.what() << '\n';
        return 1;
    }
    return 0;
}
