#pragma once

#include "HttpsClient.h"
#include "Process.h"
#include "Swtpm.h"

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace meldpunt::test {

// The whole appliance on this machine, as the README's run command starts
// it: swtpm, meldpuntd, meldpunt-public and the two nginx edge instances
// on free loopback ports, with their folders in a scratch folder. Run as
// root, each process runs under its own numeric user (setpriv) with the
// folder modes of the systemd units; otherwise all run as the caller, and
// runsAsSeparateUsers() is false so that tests of permissions can skip.
class Appliance {
public:
    struct Options {
        std::string pcrs = "sha256:7";
        std::size_t maxReportBytes = 1024 * 1024;
        int ingestIntervalMs = 200;
        bool scheduledBackups = false; // meldpuntd writes backups into backupFolder()
        // The setup page makes the recovery key before the first admin. Off
        // by default, so that tests create their admin with the form alone.
        bool recoveryKeyOnSetupPage = false;
        // The setup page's network and certificate steps, which need
        // meldpunt-updated on [updates] bus_address. Off by default, too.
        bool networkAndCertificateSteps = false;
        // Reports one address may send at once; tests send many from one.
        unsigned reportBurst = 10000;
        // The site's languages, and the web files (templates, catalogs);
        // empty means the build's own webui folder.
        std::string languages = "nl,en,fr,de,es,ru";
        std::filesystem::path webui;
        // Appended to meldpuntd.ini as it is: more sections, or keys the
        // options above do not set.
        std::string extraDaemonConfig;
        // Attachments: per file, per report, files per report, and the
        // seconds an unsent form's files are kept.
        std::uint64_t maxFileBytes = 8 * 1024 * 1024;
        std::uint64_t maxUploadBytes = 16 * 1024 * 1024;
        unsigned maxFiles = 20;
        unsigned uploadHoldSeconds = 3600;
        // How long drafts are kept, and wrong resume codes one address may
        // type in a burst.
        unsigned draftLifetimeSeconds = 7 * 24 * 3600;
        unsigned resumeBurst = 10;
        unsigned receiptBurst = 10; // wrong receipt secrets one address may type in a burst
        // The loopback port of an SMTP relay for acknowledgement e-mails,
        // whose certificate comes from the test PKI; 0: no e-mails.
        unsigned short mailRelayPort = 0;
        // The staff edge's body maximum for the update page's bundle upload.
        std::uint64_t maxBundleBytes = 64 * 1024 * 1024;
        // Attempts at one acknowledgement e-mail before it is marked failed.
        unsigned mailMaxAttempts = 20;
    };

    // Ids used when running as root. They match no account on the host.
    static constexpr unsigned kPublicUid = 64501;
    static constexpr unsigned kDaemonUid = 64502;
    static constexpr unsigned kEdgePublicUid = 64503;
    static constexpr unsigned kEdgeStaffUid = 64504;
    static constexpr unsigned kSpoolGid = 64510;

    explicit Appliance(const std::string& name);
    Appliance(const std::string& name, Options options);
    ~Appliance();

    Appliance(const Appliance&) = delete;
    Appliance& operator=(const Appliance&) = delete;

    static bool runsAsSeparateUsers();

    // Starts everything and waits until the intake key is published.
    void startAll();

    enum class Wait { ForReady, No };
    // Starts meldpuntd and, with Wait::ForReady, waits for READY=1.
    void startDaemon(const std::vector<std::string>& environment = {}, Wait wait = Wait::ForReady);
    void stopDaemon();
    void killDaemon();
    // Waits for the daemon to exit by itself (after a fault point).
    bool waitForDaemonExit(std::chrono::milliseconds timeout);
    bool daemonRunning();

    void startPublic(const std::vector<std::string>& environment = {});
    void stopPublic();
    void killPublic();

    void startEdges();
    void stopEdges();

    // Waits until meldpuntd has published an intake key.
    bool waitForIntakeKey(std::chrono::milliseconds timeout = std::chrono::seconds(15));
    // Waits until the spool contains no committed entry.
    bool waitForEmptySpool(std::chrono::milliseconds timeout = std::chrono::seconds(15));

    HttpsClient publicClient(const std::string& sourceAddress = {}) const;
    HttpsClient staffClient(const std::string& sourceAddress = {}) const;

    std::string daemonLog() const;
    std::string publicLog() const;
    std::string edgeLog() const; // both nginx instances' error output
    // Every message the daemon sent to its NOTIFY_SOCKET since it last
    // started, in order.
    std::vector<std::string> daemonNotifications();
    // Waits until a notification since the last start contains `text`.
    bool waitForNotification(const std::string& text,
        std::chrono::milliseconds timeout = std::chrono::seconds(20));

    const std::filesystem::path& root() const { return scratch_.path(); }
    // The sockets live apart from root(), under socketScratchBase().
    std::filesystem::path staffSocket() const { return sockets_.path() / "staff" / "meldpuntd.sock"; }
    std::filesystem::path publicSocket() const { return sockets_.path() / "public" / "public.sock"; }
    std::filesystem::path formsSocket() const { return sockets_.path() / "public" / "forms.sock"; }
    std::filesystem::path notifySocket() const { return sockets_.path() / "notify.sock"; }
    std::filesystem::path stateFolder() const { return root() / "state"; }
    std::filesystem::path spoolFolder() const { return root() / "spool"; }
    std::filesystem::path quarantineFolder() const { return root() / "spool" / "quarantine"; }
    std::filesystem::path publishFolder() const { return root() / "publish"; }
    std::filesystem::path uploadsFolder() const { return root() / "spool" / "held"; }
    std::filesystem::path attachmentsFolder() const { return stateFolder() / "attachments"; }
    std::filesystem::path draftsFolder() const { return root() / "drafts"; }
    std::filesystem::path databaseFile() const { return stateFolder() / "meldpunt.db"; }
    std::filesystem::path sealedKeyFile() const { return stateFolder() / "sealed-key.json"; }
    // Where meldpuntd writes the first admin's setup code (mode 0600).
    std::filesystem::path setupCodeFile() const { return stateFolder() / "setup-code"; }
    std::filesystem::path caFile() const { return root() / "pki" / "ca.pem"; }
    // The TMPDIR both daemons get.
    std::filesystem::path temporaryFolder() const { return root() / "tmp"; }
    Swtpm& tpm() { return *swtpm_; }
    unsigned short publicPort() const { return publicPort_; }
    unsigned short staffPort() const { return staffPort_; }

    struct ToolResult {
        int exitStatus = -1;
        std::string output; // standard output and error together
    };
    // Runs meldpunt-keys COMMAND as meldpuntd's user, with `input` on its
    // standard input.
    ToolResult runKeysTool(const std::string& command, const std::string& input = {},
        const std::string& operand = {});
    // Starts meldpunt-keys COMMAND without waiting for it.
    std::unique_ptr<Process> startKeysTool(const std::string& command);
    // A folder meldpuntd's user may write, for backups.
    std::filesystem::path backupFolder() const { return root() / "backups"; }
    // Runs "meldpunt-keys init" and returns the recovery key it showed.
    std::string initializeKeys();

    // Overrides the TCTI that meldpuntd is configured with (to point it at
    // a TPM that is not there, say). Takes effect at the next start.
    void setDaemonTcti(const std::string& tcti);
    // Overrides the spool folder of meldpunt-public (a full tmpfs, say), and
    // its held-upload folder when `uploads` is not empty.
    void setPublicSpool(const std::filesystem::path& spool, const std::filesystem::path& uploads = {});
    // Replaces Options::extraDaemonConfig, the INI sections appended to
    // meldpuntd's configuration (a [referral] section, say). Takes effect
    // at the next start.
    void setDaemonExtraConfiguration(const std::string& sections);

private:
    std::filesystem::path webuiFolder() const;
    static std::string edgeLanguages(std::string languages);
    void makeFolders();
    void writeConfigurations();
    std::vector<std::string> runAs(unsigned uid, const std::vector<unsigned>& groups) const;
    void startEdge(const std::string& name, unsigned short port, const std::filesystem::path& socket,
        const std::filesystem::path& formsSocket, unsigned uid, std::unique_ptr<Process>& process);
    void receiveNotifications();
    bool hasNotification(const std::string& text);

    ScratchFolder scratch_;
    ScratchFolder sockets_;
    Options options_;
    std::unique_ptr<Swtpm> swtpm_;
    std::unique_ptr<Process> daemon_;
    std::unique_ptr<Process> public_;
    std::unique_ptr<Process> edgePublic_;
    std::unique_ptr<Process> edgeStaff_;
    unsigned short publicPort_;
    unsigned short staffPort_;
    std::string tcti_;
    std::filesystem::path publicSpool_;
    std::filesystem::path publicUploads_;

    int notifyFd_ = -1;
    std::atomic<bool> stopNotifications_{false};
    std::thread notifyThread_;
    std::mutex notifyMutex_;
    std::vector<std::string> notifications_;
};

} // namespace meldpunt::test
