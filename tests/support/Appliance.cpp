#include "Appliance.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <stdexcept>

namespace meldpunt::test {

namespace fs = std::filesystem;

namespace {

fs::path sourceDir()
{
    return MELDPUNT_SOURCE_DIR;
}

fs::path binaryDir()
{
    return MELDPUNT_BINARY_DIR;
}

void chownTree(const fs::path& path, unsigned uid, unsigned gid)
{
    if (::chown(path.c_str(), uid, gid) != 0)
        throw std::runtime_error("chown " + path.string() + " failed");
    if (!fs::is_directory(path))
        return;
    for (const auto& item : fs::recursive_directory_iterator(path)) {
        if (::lchown(item.path().c_str(), uid, gid) != 0)
            throw std::runtime_error("chown " + item.path().string() + " failed");
    }
}

void setMode(const fs::path& path, unsigned mode)
{
    if (::chmod(path.c_str(), mode) != 0)
        throw std::runtime_error("chmod " + path.string() + " failed");
}

// Returns true when something accepts connections on the Unix socket.
bool socketAnswers(const fs::path& path)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
    const bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return connected;
}

void runChecked(const std::vector<std::string>& command, const fs::path& log)
{
    Process process(command, {{}, log, {}});
    const auto status = process.wait(std::chrono::seconds(60));
    if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
        throw std::runtime_error(command.front() + " failed: " + readFile(log));
}

} // namespace

Appliance::Appliance(const std::string& name)
    : Appliance(name, Options{})
{
}

Appliance::Appliance(const std::string& name, Options options)
    : scratch_(name)
    , sockets_(name, socketScratchBase())
    , options_(options)
    , publicPort_(freeLoopbackPort())
    , staffPort_(freeLoopbackPort())
{
    makeFolders();
    runChecked({(sourceDir() / "tests" / "make-test-pki").string(), (root() / "pki").string()}, root() / "pki.log");
    for (const char* edge : {"edge-public", "edge-staff"})
        fs::copy_file(root() / "pki" / "server.key", root() / edge / "server.key");
    swtpm_ = std::make_unique<Swtpm>(root() / "tpm");
    swtpm_->start();
    tcti_ = swtpm_->tcti();
    publicSpool_ = spoolFolder();
    publicUploads_ = uploadsFolder();

    // A datagram socket replaces systemd's notification socket, so
    // tests see READY=1, STATUS= and WATCHDOG=1 as systemd would.
    notifyFd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string notifyPath = notifySocket().string();
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", notifyPath.c_str());
    if (::bind(notifyFd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        throw std::runtime_error("cannot bind the notification socket " + notifyPath);
    setMode(notifyPath, 0666);
    timeval timeout{0, 100000};
    ::setsockopt(notifyFd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    notifyThread_ = std::thread([this] { receiveNotifications(); });

    if (runsAsSeparateUsers()) {
        chownTree(root() / "state", kDaemonUid, kDaemonUid);
        chownTree(quarantineFolder(), kDaemonUid, kDaemonUid);
        chownTree(backupFolder(), kDaemonUid, kDaemonUid);
        chownTree(staffSocket().parent_path(), kDaemonUid, kDaemonUid);
        chownTree(publicSocket().parent_path(), kPublicUid, kPublicUid);
        if (::chown(spoolFolder().c_str(), kPublicUid, kSpoolGid) != 0 || ::chown(publishFolder().c_str(), kDaemonUid, kPublicUid) != 0)
            throw std::runtime_error("chown of the spool or publish folder failed");
        setMode(spoolFolder(), 02770);
        setMode(publishFolder(), 02750);
        chownTree(root() / "drafts", kPublicUid, kPublicUid);
        chownTree(uploadsFolder(), kPublicUid, kSpoolGid);
        setMode(uploadsFolder(), 02700);
        chownTree(root() / "edge-public", kEdgePublicUid, kEdgePublicUid);
        chownTree(root() / "edge-staff", kEdgeStaffUid, kEdgeStaffUid);
    }
}

Appliance::~Appliance()
{
    edgePublic_.reset();
    edgeStaff_.reset();
    public_.reset();
    daemon_.reset();
    swtpm_.reset();
    stopNotifications_ = true;
    if (notifyThread_.joinable())
        notifyThread_.join();
    if (notifyFd_ >= 0)
        ::close(notifyFd_);
}

bool Appliance::runsAsSeparateUsers()
{
    return ::geteuid() == 0;
}

void Appliance::makeFolders()
{
    for (const char* folder : {"state", "spool/quarantine", "spool/held", "publish", "drafts", "edge-public", "edge-staff",
             "tpm", "logs", "tmp", "backups"})
        fs::create_directories(root() / folder);
    fs::create_directories(staffSocket().parent_path());
    fs::create_directories(publicSocket().parent_path());
    setMode(root(), 0755);
    setMode(root() / "state", 0700);
    setMode(quarantineFolder(), 0700);
    setMode(root() / "drafts", 0700);
    setMode(uploadsFolder(), 02700);
    setMode(root() / "logs", 0777);
    setMode(temporaryFolder(), 01777);
}

fs::path Appliance::webuiFolder() const
{
    return options_.webui.empty() ? binaryDir() / "webui" : options_.webui;
}

// The edge template takes the languages as a regular expression
// alternation: "nl|en".
std::string Appliance::edgeLanguages(std::string languages)
{
    std::replace(languages.begin(), languages.end(), ',', '|');
    return languages;
}

void Appliance::setDaemonExtraConfiguration(const std::string& sections)
{
    options_.extraDaemonConfig = sections;
}

void Appliance::writeConfigurations()
{
    const std::string webui = webuiFolder().string();
    std::ofstream daemonConfig(root() / "meldpuntd.ini");
    daemonConfig << "[paths]\nsocket = " << staffSocket().string()
                 << "\nstate = " << stateFolder().string() << "\nspool = " << spoolFolder().string()
                 << "\npublish = " << publishFolder().string() << "\nwebui = " << webui << "\n"
                 << "[socket]\ngroup = " << (runsAsSeparateUsers() ? std::to_string(kEdgeStaffUid) : "") << "\n"
                 << "[tpm]\ntcti = " << tcti_ << "\npcrs = " << options_.pcrs << "\nretry_seconds = 1\n"
                 << "[ingest]\ninterval_ms = " << options_.ingestIntervalMs << "\n"
                 << "[backup]\nfolder = " << (options_.scheduledBackups ? backupFolder().string() : "") << "\n"
                 << "[staff]\nsetup_code_file = " << setupCodeFile().string() << "\n"
                 << "recovery_key_on_setup_page = " << (options_.recoveryKeyOnSetupPage ? "true" : "false") << "\n"
                 << "network_and_certificate_on_setup_page = "
                 << (options_.networkAndCertificateSteps ? "true" : "false") << "\n"
                 << options_.extraDaemonConfig;
    if (options_.mailRelayPort != 0)
        daemonConfig << "[mail]\nrelay_host = 127.0.0.1\nrelay_port = " << options_.mailRelayPort
                     << "\nsender = meldpunt@localhost\nca_file = " << caFile().string()
                     << "\nfirst_retry_seconds = 1\nmax_attempts = " << options_.mailMaxAttempts << "\n"
                     << "[site]\nlanguages = nl,en,fr,de,es,ru\n";
    std::ofstream publicConfig(root() / "public.ini");
    publicConfig << "[paths]\nsocket = " << publicSocket().string()
                 << "\nspool = " << publicSpool_.string() << "\npublish = " << publishFolder().string()
                 << "\ndrafts = " << (root() / "drafts").string() << "\nuploads = " << publicUploads_.string()
                 << "\nwebui = " << webui << "\n"
                 << "[socket]\ngroup = " << (runsAsSeparateUsers() ? std::to_string(kEdgePublicUid) : "") << "\n"
                 << "[site]\norigin = https://localhost:" << publicPort_ << "\nlanguages = " << options_.languages << "\n"
                 << "[limits]\nmax_report_bytes = " << options_.maxReportBytes << "\n"
                 << "report_burst = " << options_.reportBurst << "\nreport_refill_seconds = 600\n"
                 << "visit_flush_seconds = 3600\n"
                 << "max_file_bytes = " << options_.maxFileBytes << "\nmax_upload_bytes = " << options_.maxUploadBytes
                 << "\nmax_files = " << options_.maxFiles << "\nupload_hold_seconds = " << options_.uploadHoldSeconds
                 << "\n"
                 << "resume_burst = " << options_.resumeBurst << "\nresume_refill_seconds = 3600\n"
                 << "receipt_burst = " << options_.receiptBurst << "\nreceipt_refill_seconds = 3600\n"
                 << "[drafts]\nlifetime_seconds = " << options_.draftLifetimeSeconds << "\n";
}

std::vector<std::string> Appliance::runAs(unsigned uid, const std::vector<unsigned>& groups) const
{
    if (!runsAsSeparateUsers())
        return {};
    std::string groupList;
    for (unsigned group : groups)
        groupList += (groupList.empty() ? "" : ",") + std::to_string(group);
    std::vector<std::string> prefix = {"setpriv", "--reuid=" + std::to_string(uid), "--regid=" + std::to_string(uid)};
    prefix.push_back(groups.empty() ? "--clear-groups" : "--groups=" + groupList);
    prefix.push_back("--inh-caps=-all");
    prefix.push_back("--bounding-set=-all");
    return prefix;
}

void Appliance::startAll()
{
    startDaemon();
    startPublic();
    startEdges();
    if (!waitForIntakeKey())
        throw std::runtime_error("meldpuntd published no intake key:\n" + daemonLog());
}

void Appliance::startDaemon(const std::vector<std::string>& environment, Wait wait)
{
    {
        std::lock_guard lock(notifyMutex_);
        notifications_.clear();
    }
    writeConfigurations();
    auto command = runAs(kDaemonUid, {kSpoolGid, kEdgeStaffUid});
    command.push_back((binaryDir() / "daemon/meldpuntd/meldpuntd").string());
    command.push_back("--config");
    command.push_back((root() / "meldpuntd.ini").string());
    std::vector<std::string> variables = {"NOTIFY_SOCKET=" + notifySocket().string(),
        "WATCHDOG_USEC=1000000", "TSS2_LOG=all+none", "TMPDIR=" + temporaryFolder().string()};
    variables.insert(variables.end(), environment.begin(), environment.end());
    daemon_ = std::make_unique<Process>(command, Process::Options{variables, root() / "logs/meldpuntd.log", {}});
    if (wait == Wait::No)
        return;
    // READY=1 comes after the key is unsealed (or the daemon is locked).
    // Waiting for it matters with swtpm: without the kernel's resource
    // manager, two processes unsealing at once share the simulator's three
    // object slots and one of them fails.
    const bool ready = waitFor(
        [&] { return hasNotification("READY=1") || !daemon_->running(); }, std::chrono::seconds(20));
    if (!ready)
        throw std::runtime_error("meldpuntd did not report readiness:\n" + daemonLog());
}

void Appliance::stopDaemon()
{
    if (daemon_)
        daemon_->terminate();
}

void Appliance::killDaemon()
{
    if (daemon_)
        daemon_->kill();
}

bool Appliance::waitForDaemonExit(std::chrono::milliseconds timeout)
{
    return daemon_ && daemon_->wait(timeout).has_value();
}

bool Appliance::daemonRunning()
{
    return daemon_ && daemon_->running();
}

void Appliance::startPublic(const std::vector<std::string>& environment)
{
    writeConfigurations();
    auto command = runAs(kPublicUid, {kSpoolGid, kEdgePublicUid});
    command.push_back((binaryDir() / "daemon/public/meldpunt-public").string());
    command.push_back("--config");
    command.push_back((root() / "public.ini").string());
    std::vector<std::string> variables = {"TMPDIR=" + temporaryFolder().string()};
    variables.insert(variables.end(), environment.begin(), environment.end());
    public_ = std::make_unique<Process>(command,
        Process::Options{variables, root() / "logs/meldpunt-public.log", {}});
    const fs::path socket = publicSocket();
    if (!waitFor([&] { return socketAnswers(socket) || !public_->running(); }, std::chrono::seconds(15)))
        throw std::runtime_error("meldpunt-public did not open its socket:\n" + publicLog());
}

void Appliance::stopPublic()
{
    if (public_)
        public_->terminate();
}

void Appliance::killPublic()
{
    if (public_)
        public_->kill();
}

void Appliance::startEdge(const std::string& name, unsigned short port, const fs::path& socket,
    const fs::path& formsSocket, unsigned uid, std::unique_ptr<Process>& process)
{
    const fs::path prefix = root() / name;
    const fs::path configuration = prefix / "nginx.conf";
    runChecked({(sourceDir() / "tools/render-edge-conf").string(),
                   (sourceDir() / "rootfs/etc/meldpunt/nginx-edge.conf.in").string(), configuration.string(),
                   "LISTEN=127.0.0.1:" + std::to_string(port), "PREFIX=" + prefix.string(),
                   "UPSTREAM_SOCKET=" + socket.string(), "FORMS_SOCKET=" + formsSocket.string(),
                   "CERTIFICATE=" + (root() / "pki/server.pem").string(),
                   "CERTIFICATE_KEY=" + (prefix / "server.key").string(),
                   "MAX_BODY_BYTES=" + std::to_string(options_.maxReportBytes),
                   "REPORT_BODY_BYTES=" + std::to_string(options_.maxReportBytes + 4 * options_.maxUploadBytes),
                   "WEBUI=" + webuiFolder().string(), "LANGUAGES=" + edgeLanguages(options_.languages),
                   "ERROR_LOG=" + (root() / "logs" / (name + "-error.log")).string()},
        root() / "logs/render.log");
    if (name == "edge-staff")
        runChecked({(sourceDir() / "tools/render-edge-conf").string(),
                       (sourceDir() / "rootfs/etc/meldpunt/nginx-updates.conf.in").string(),
                       (prefix / "server-updates.conf").string(), "UPSTREAM_SOCKET=" + socket.string(),
                       "BUNDLE_BODY_BYTES=" + std::to_string(options_.maxBundleBytes)},
            root() / "logs/render.log");
    if (runsAsSeparateUsers()) {
        chownTree(prefix, uid, uid);
        std::ofstream(root() / "logs" / (name + "-error.log")).close();
        if (::chown((root() / "logs" / (name + "-error.log")).c_str(), uid, uid) != 0)
            throw std::runtime_error("chown of the edge error log failed");
    }
    auto command = runAs(uid, {});
    for (const char* part : {"nginx", "-p"})
        command.push_back(part);
    command.push_back(prefix.string());
    command.push_back("-c");
    command.push_back(configuration.string());
    command.push_back("-e");
    command.push_back((root() / "logs" / (name + "-error.log")).string());
    process = std::make_unique<Process>(command, Process::Options{{}, root() / "logs" / (name + ".out"), {}});
    const bool listening = waitFor(
        [&] {
            try {
                return HttpsClient(caFile(), port).get("/static/site.css").status == 200;
            } catch (const std::exception&) {
                return false;
            }
        },
        std::chrono::seconds(15));
    if (!listening)
        throw std::runtime_error(name + " did not start:\n" + readFile(root() / "logs" / (name + ".out")));
}

void Appliance::startEdges()
{
    startEdge("edge-public", publicPort_, publicSocket(), formsSocket(),
        kEdgePublicUid, edgePublic_);
    startEdge("edge-staff", staffPort_, staffSocket(), staffSocket(),
        kEdgeStaffUid, edgeStaff_);
}

void Appliance::stopEdges()
{
    edgePublic_.reset();
    edgeStaff_.reset();
}

bool Appliance::waitForIntakeKey(std::chrono::milliseconds timeout)
{
    return waitFor([&] { return fs::exists(publishFolder() / "current" / "intake.json"); }, timeout);
}

bool Appliance::waitForEmptySpool(std::chrono::milliseconds timeout)
{
    return waitFor(
        [&] {
            for (const auto& item : fs::directory_iterator(spoolFolder())) {
                if (item.path().extension() == ".entry")
                    return false;
            }
            return true;
        },
        timeout);
}

HttpsClient Appliance::publicClient(const std::string& sourceAddress) const
{
    return HttpsClient(caFile(), publicPort_, sourceAddress);
}

HttpsClient Appliance::staffClient(const std::string& sourceAddress) const
{
    return HttpsClient(caFile(), staffPort_, sourceAddress);
}

std::string Appliance::daemonLog() const
{
    return readFile(root() / "logs/meldpuntd.log");
}

std::string Appliance::publicLog() const
{
    return readFile(root() / "logs/meldpunt-public.log");
}

std::string Appliance::edgeLog() const
{
    std::string log;
    for (const char* file : {"edge-public-error.log", "edge-staff-error.log", "edge-public.out", "edge-staff.out"})
        log += readFile(root() / "logs" / file);
    return log;
}

std::vector<std::string> Appliance::daemonNotifications()
{
    std::lock_guard lock(notifyMutex_);
    return notifications_;
}

bool Appliance::hasNotification(const std::string& text)
{
    std::lock_guard lock(notifyMutex_);
    for (const auto& message : notifications_) {
        if (message.find(text) != std::string::npos)
            return true;
    }
    return false;
}

bool Appliance::waitForNotification(const std::string& text, std::chrono::milliseconds timeout)
{
    return waitFor([&] { return hasNotification(text); }, timeout);
}

void Appliance::receiveNotifications()
{
    char buffer[4096];
    while (!stopNotifications_) {
        const ssize_t got = ::recv(notifyFd_, buffer, sizeof buffer, 0);
        if (got <= 0)
            continue;
        std::lock_guard lock(notifyMutex_);
        notifications_.emplace_back(buffer, static_cast<std::size_t>(got));
    }
}

void Appliance::setDaemonTcti(const std::string& tcti)
{
    tcti_ = tcti;
}

void Appliance::setPublicSpool(const fs::path& spool, const fs::path& uploads)
{
    publicSpool_ = spool;
    if (!uploads.empty())
        publicUploads_ = uploads;
}

} // namespace meldpunt::test

namespace meldpunt::test {

std::unique_ptr<Process> Appliance::startKeysTool(const std::string& command)
{
    writeConfigurations();
    auto arguments = runAs(kDaemonUid, {kSpoolGid, kEdgeStaffUid});
    arguments.push_back((binaryDir() / "daemon/keys/meldpunt-keys").string());
    arguments.push_back(command);
    arguments.push_back("--config");
    arguments.push_back((root() / "meldpuntd.ini").string());
    return std::make_unique<Process>(arguments,
        Process::Options{{"TSS2_LOG=all+none"}, root() / "logs" / "keys-tool-background.output", {}});
}

Appliance::ToolResult Appliance::runKeysTool(const std::string& command, const std::string& input,
    const std::string& operand)
{
    writeConfigurations();
    const fs::path inputFile = root() / "logs" / "keys-tool.input";
    const fs::path outputFile = root() / "logs" / "keys-tool.output";
    std::ofstream(inputFile, std::ios::trunc) << input;
    fs::remove(outputFile);
    auto arguments = runAs(kDaemonUid, {kSpoolGid, kEdgeStaffUid});
    arguments.push_back((binaryDir() / "daemon/keys/meldpunt-keys").string());
    arguments.push_back(command);
    arguments.push_back("--config");
    arguments.push_back((root() / "meldpuntd.ini").string());
    if (!operand.empty())
        arguments.push_back(operand);
    Process tool(arguments, Process::Options{{"TSS2_LOG=all+none"}, outputFile, {}, inputFile});
    const auto status = tool.wait(std::chrono::seconds(120));
    ToolResult result;
    result.output = readFile(outputFile);
    if (status && WIFEXITED(*status))
        result.exitStatus = WEXITSTATUS(*status);
    fs::remove(inputFile);
    return result;
}

std::string Appliance::initializeKeys()
{
    const auto result = runKeysTool("init");
    if (result.exitStatus != 0)
        throw std::runtime_error("meldpunt-keys init failed:\n" + result.output);
    // The key is the indented line of eight groups of five characters.
    std::istringstream lines(result.output);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind("    ", 0) == 0 && line.size() == 4 + 47)
            return line.substr(4);
    }
    throw std::runtime_error("meldpunt-keys init showed no recovery key:\n" + result.output);
}

} // namespace meldpunt::test
