#include "ReferralFixture.h"

#include "Crypto.h"
#include "Migrations.h"
#include "PartnerRegistry.h"
#include "Statistics.h"

#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace meldpunt::test {

namespace fs = std::filesystem;

namespace {

fs::path scratchBase()
{
    const char* base = std::getenv("MELDPUNT_TEST_SCRATCH");
    return base != nullptr ? fs::path(base) : fs::temp_directory_path() / "meldpunt-test-scratch";
}

bool portAccepts(unsigned short port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool connected
        = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return connected;
}

void writeText(const fs::path& path, const std::string& text)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out)
        throw std::runtime_error("cannot write '" + path.string() + "'");
}

} // namespace

const fs::path& referralPki()
{
    static const fs::path folder = [] {
        const fs::path target = scratchBase() / "referral-pki-v2";
        // tests/make-referral-pki writes this file last.
        if (fs::exists(target / "hotline-edge.pem"))
            return target;
        // Made under a private name and renamed, so that test processes
        // running in parallel never see a half-written PKI.
        fs::create_directories(scratchBase());
        const fs::path building = scratchBase() / ("referral-pki-" + std::to_string(::getpid()));
        fs::remove_all(building);
        const std::string command = std::string("'") + MELDPUNT_SOURCE_DIR
            + "/tests/make-referral-pki' '" + building.string() + "' >/dev/null 2>&1";
        if (std::system(command.c_str()) != 0)
            throw std::runtime_error("tests/make-referral-pki failed");
        std::error_code error;
        fs::rename(building, target, error);
        if (error)
            fs::remove_all(building); // another process won the race
        return target;
    }();
    return folder;
}

fs::path pkiFile(const std::string& name)
{
    return referralPki() / name;
}

std::string pkiText(const std::string& name)
{
    return readFile(pkiFile(name));
}

referral::HotlineSigner testSigner()
{
    return {"Meldpunt test hotline",
        referral::Certificate::fromPem(pkiText("hotline-sign.pem"), "hotline-sign.pem"),
        std::make_shared<referral::PrivateKey>(
            referral::PrivateKey::fromPem(pkiText("hotline-sign.key"), "hotline-sign.key"))};
}

Receiver::Receiver(fs::path folder, ReceiverOptions options, unsigned short port)
    : folder_(std::move(folder))
    , configuration_(folder_ / "receiver.ini")
    , port_(port != 0 ? port : freeLoopbackPort())
{
    fs::create_directories(folder_);
    const auto pem = [](const std::string& name) { return pkiFile(name).string(); };
    writeText(configuration_,
        "[server]\naddress = 127.0.0.1\nport = " + std::to_string(port_)
            + "\ncertificate = " + pem(options.serverIdentity + ".pem")
            + "\nkey = " + pem(options.serverIdentity + ".key") + "\ntrusted_clients = "
            + pem(options.trustedClients) + "\nmax_referral_mb = 16\n\n[keys]\n"
            + "recipient_certificate = " + pem("partner-encrypt.pem") + "\nrecipient_key = "
            + pem("partner-encrypt.key") + "\ntrusted_signers = " + pem(options.trustedSigners)
            + "\nreceipt_certificate = " + pem("partner-receipt.pem") + "\nreceipt_key = "
            + pem("partner-receipt.key") + "\n\n[store]\nfolder = " + store().string() + "\n");
    start();
}

Receiver::~Receiver()
{
    stop();
}

void Receiver::start()
{
    process_ = std::make_unique<Process>(
        std::vector<std::string>{std::string(MELDPUNT_BINARY_DIR) + "/receiver/meldpunt-receive",
            "serve", configuration_.string()},
        Process::Options({}, folder_ / "receiver.log"));
    if (!waitFor(
            [&] { return portAccepts(port_) || !process_->running(); }, std::chrono::seconds(10))
        || !process_->running())
        throw std::runtime_error("meldpunt-receive did not start: " + log());
}

void Receiver::stop()
{
    if (process_)
        process_->terminate();
    process_.reset();
}

std::vector<fs::path> Receiver::storedReferrals() const
{
    std::vector<fs::path> folders;
    if (!fs::exists(store()))
        return folders;
    for (const auto& item : fs::directory_iterator(store()))
        if (item.is_directory() && !item.path().filename().string().starts_with("."))
            folders.push_back(item.path());
    return folders;
}

std::string Receiver::log() const
{
    return fs::exists(folder_ / "receiver.log") ? readFile(folder_ / "receiver.log")
                                                : std::string();
}

fs::path writePartnerFile(const fs::path& folder, const std::string& name, unsigned short port,
    const PartnerOverrides& overrides)
{
    const auto pem = [&](const std::string& file) {
        return (overrides.pemFolder.empty() ? pkiFile(file) : overrides.pemFolder / file).string();
    };
    const fs::path file = folder / (name + "-partners.json");
    writeText(file,
        "{\"partners\": [{\"name\": \"" + name
            + "\", \"kind\": \"" + overrides.kind + "\", \"website\": \"" + overrides.website + "\", "
              "\"countries\": [\"NL\", \"BE\"], \"endpoint\": \"https://"
            + overrides.endpointHost + ":" + std::to_string(port)
            + "/v1/referrals\", \"server_trust\": \"" + pem(overrides.serverTrust)
            + "\", \"client_certificate\": \"" + pem(overrides.clientIdentity + ".pem")
            + "\", \"client_key\": \"" + pem(overrides.clientIdentity + ".key")
            + "\", \"encryption_certificate\": \"" + pem("partner-encrypt.pem")
            + "\", \"receipt_certificate\": \"" + pem(overrides.receiptCertificate)
            + "\", \"outcome_client_certificate\": \"" + pem("partner-client.pem") + "\"}]}\n");
    return file;
}

HotlineDatabase::HotlineDatabase(const std::string& name)
    : scratch_(name)
    , key_(crypto::randomBytes(32))
{
    database_ = std::make_unique<storage::Database>(
        scratch_.path() / "meldpunt.db", key_, storage::OpenMode::CreateNew);
    storage::migrate(*database_);
    const auto entry = crypto::randomBytes(16);
    database_
        ->prepare("INSERT INTO spool_entries (entry_uuid, kind, ingested_at) VALUES (?1, 1, ?2)")
        .bind(1, std::span<const std::uint8_t>(entry))
        .bind(2, std::string("2026-12-01T10:00:00Z"))
        .run();
    database_
        ->prepare(
            "INSERT INTO reports (entry_uuid, reference, received_at, ingested_at, language, "
            "channel, "
            "category, country, place, occurred, what, anonymous, contact_name, contact_email, "
            "contact_phone, consent) VALUES (?1, '7K2QD-M9XH4-R0T5B-AW3NC-E8P10', "
            "'2026-12-01T09:59:00Z', '2026-12-01T10:00:00Z', 'nl', 'form', 'travel', 'TH', "
            "'Hotel aan het strand, kamer 12', 'gisteravond', ?2, 0, 'Jan Jansen', "
            "'jan@example.org', '+31 6 12345678', 1)")
        .bind(1, std::span<const std::uint8_t>(entry))
        .bind(2,
            std::string("Een man met een kind van ongeveer tien; Jan Jansen zag het vanaf de "
                        "bar.\nÉtage 2 — 😟"))
        .run();
    reportId_ = database_->lastInsertId();
    // The statistics record, as the ingester writes it with the report.
    storage::StatisticsFacts facts;
    facts.receivedAt = "2026-12-01T09:59:00Z";
    facts.channel = "form";
    facts.category = "travel_tourism";
    facts.country = "TH";
    facts.anonymous = false;
    storage::recordReport(*database_, reportId_, facts);
}

std::int64_t HotlineDatabase::importPartner(
    const std::string& name, unsigned short port, PartnerOverrides overrides)
{
    const auto file = writePartnerFile(scratch_.path(), name, port, overrides);
    std::lock_guard lock(mutex_);
    referral::importPartners(*database_, referral::readPartnerFile(file), "2026-12-01T10:00:00Z");
    auto row = database_->prepare("SELECT id FROM partners WHERE name = ?1");
    row.bind(1, name);
    if (!row.step())
        throw std::runtime_error("the imported partner is missing");
    return row.columnInt(0);
}

void HotlineDatabase::reopen()
{
    std::lock_guard lock(mutex_);
    database_.reset();
    database_ = std::make_unique<storage::Database>(
        scratch_.path() / "meldpunt.db", key_, storage::OpenMode::MustExist);
}

} // namespace meldpunt::test
