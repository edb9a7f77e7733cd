#pragma once

#include "Database.h"
#include "Process.h"
#include "ReferralBuilder.h"

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace meldpunt::test {

// The referral test PKI made by tests/make-referral-pki, once per build
// tree (it takes seconds, mostly for the RSA key), in the test scratch
// area. Returns the folder with its .pem and .key files.
const std::filesystem::path& referralPki();
std::filesystem::path pkiFile(const std::string& name); // "hotline-ca.pem"
std::string pkiText(const std::string& name);

// The hotline's signing identity from the test PKI.
referral::HotlineSigner testSigner();

struct ReceiverOptions {
    std::string serverIdentity = "partner-server"; // .pem and .key of the TLS server
    std::string trustedClients = "hotline-ca.pem";
    std::string trustedSigners = "hotline-ca.pem";
};

// The real meldpunt-receive program, serving on a loopback port with its
// store in `storeFolder`. The constructor returns once the port accepts
// TCP connections; the destructor stops the program.
class Receiver {
public:
    Receiver(std::filesystem::path folder, ReceiverOptions options, unsigned short port = 0);
    ~Receiver();

    void start();
    void stop();
    unsigned short port() const { return port_; }
    const std::filesystem::path& configuration() const { return configuration_; }
    std::filesystem::path store() const { return folder_ / "store"; }
    // The referral folders in the store, without unfinished ones.
    std::vector<std::filesystem::path> storedReferrals() const;
    std::string log() const;

private:
    std::filesystem::path folder_;
    std::filesystem::path configuration_;
    unsigned short port_;
    std::unique_ptr<Process> process_;
};

struct PartnerOverrides {
    std::string endpointHost = "localhost";
    std::string serverTrust = "partner-ca.pem";
    std::string clientIdentity = "hotline-client"; // .pem and .key
    std::string receiptCertificate = "partner-receipt.pem";
    std::filesystem::path pemFolder; // empty: the files of referralPki()
    std::string kind = "police";
    std::string website;
};

// A hotline database in a scratch folder: migrated, with one report.
class HotlineDatabase {
public:
    explicit HotlineDatabase(const std::string& name);

    std::filesystem::path folder() const { return scratch_.path(); }
    storage::Database& database() { return *database_; }
    std::mutex& mutex() { return mutex_; }
    std::int64_t reportId() const { return reportId_; }

    // Writes a partner file for a receiver on `port` and imports it;
    // returns the partner's id.
    std::int64_t importPartner(
        const std::string& name, unsigned short port, PartnerOverrides overrides = {});

    // Closes and opens the database again with the same key, as a
    // restarted meldpuntd would.
    void reopen();

private:
    ScratchFolder scratch_;
    std::vector<std::uint8_t> key_;
    std::unique_ptr<storage::Database> database_;
    std::mutex mutex_;
    std::int64_t reportId_ = 0;
};

// Writes a partner file whose members name files of the test PKI.
std::filesystem::path writePartnerFile(const std::filesystem::path& folder, const std::string& name,
    unsigned short port, const PartnerOverrides& overrides);

} // namespace meldpunt::test
