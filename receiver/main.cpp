// meldpunt-receive: the partner's side of Meldpunt referrals.
//
//   meldpunt-receive serve CONFIG.ini
//       Runs the HTTPS endpoint with mutual TLS until SIGTERM or SIGINT.
//   meldpunt-receive open CONFIG.ini FILE OUTPUT
//       Decrypts one referral file with the partner's key, verifies the
//       hotline's signature and writes the content to OUTPUT ("-" for
//       standard output). Exit status 1 when a check fails.
//
// docs/partner-setup.md describes the configuration.

#include "ReceiverServer.h"
#include "ReferralStore.h"

#include <Poco/AutoPtr.h>
#include <Poco/Util/IniFileConfiguration.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

using namespace meldpunt;
namespace fs = std::filesystem;

namespace {

using Configuration = Poco::AutoPtr<Poco::Util::IniFileConfiguration>;

std::string readText(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read '" + path.string() + "'");
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

referral::Bytes readBytes(const fs::path& path)
{
    const std::string text = readText(path);
    return referral::Bytes(text.begin(), text.end());
}

referral::Certificate certificateAt(const Configuration& config, const std::string& key)
{
    const std::string path = config->getString(key);
    return referral::Certificate::fromPem(readText(path), "'" + path + "'");
}

referral::PrivateKey keyAt(const Configuration& config, const std::string& key)
{
    const std::string path = config->getString(key);
    return referral::PrivateKey::fromPem(readText(path), "'" + path + "'");
}

receiver::ReceiverKeys loadKeys(const Configuration& config)
{
    const std::string signers = config->getString("keys.trusted_signers");
    return {certificateAt(config, "keys.recipient_certificate"),
        keyAt(config, "keys.recipient_key"),
        referral::certificatesFromPem(readText(signers), "'" + signers + "'"),
        certificateAt(config, "keys.receipt_certificate"), keyAt(config, "keys.receipt_key")};
}

// Core dumps would write decrypted referrals to disk.
void disableCoreDumps()
{
    const rlimit none{0, 0};
    ::setrlimit(RLIMIT_CORE, &none);
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int serve(const fs::path& configPath)
{
    Configuration config(new Poco::Util::IniFileConfiguration(configPath.string()));
    receiver::ReferralStore store(config->getString("store.folder"), loadKeys(config));

    receiver::ServerSettings settings;
    settings.address = config->getString("server.address", "127.0.0.1");
    settings.port = static_cast<std::uint16_t>(config->getInt("server.port"));
    settings.certificate = certificateAt(config, "server.certificate");
    settings.key = std::make_shared<referral::PrivateKey>(keyAt(config, "server.key"));
    const std::string clients = config->getString("server.trusted_clients");
    settings.trustedClients = referral::certificatesFromPem(readText(clients), "'" + clients + "'");
    settings.maxReferralBytes = config->getUInt64("server.max_referral_mb", 256) * 1024 * 1024;

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    receiver::ReceiverServer server(settings, store);
    server.start();
    std::cerr << "<6>Receiving referrals on " << settings.address << ':' << server.port()
              << ", storing them in '" << store.folder().string() << "'" << std::endl;
    int received = 0;
    sigwait(&signals, &received);
    std::cerr << "<6>Stopping on signal " << received << std::endl;
    server.stop();
    return 0;
}

void writeOutput(const std::string& output, const referral::Bytes& content)
{
    if (output == "-") {
        std::cout.write(reinterpret_cast<const char*>(content.data()),
            static_cast<std::streamsize>(content.size()));
        std::cout.flush();
        return;
    }
    const int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        throw std::runtime_error("cannot create '" + output + "' (it must not exist yet)");
    std::size_t written = 0;
    while (written < content.size()) {
        const ssize_t result = ::write(fd, content.data() + written, content.size() - written);
        if (result <= 0) {
            ::close(fd);
            throw std::runtime_error("cannot write '" + output + "'");
        }
        written += static_cast<std::size_t>(result);
    }
    ::close(fd);
}

int openCommand(const fs::path& configPath, const fs::path& file, const std::string& output)
{
    Configuration config(new Poco::Util::IniFileConfiguration(configPath.string()));
    const auto keys = loadKeys(config);
    const auto opened = referral::openReferralFile(
        readBytes(file), keys.recipientCertificate, keys.recipientKey, keys.trustedSigners);
    writeOutput(output, opened.content);
    std::cerr << "Verified: signed by " << opened.signerSubject << " (certificate SHA-256 "
              << opened.signerFingerprint << ")" << std::endl;
    return 0;
}

int usage()
{
    std::cerr << "usage: meldpunt-receive serve CONFIG.ini\n"
                 "       meldpunt-receive open CONFIG.ini FILE OUTPUT\n";
    return 2;
}

} // namespace

int main(int argc, char** argv)
{
    disableCoreDumps();
    const std::vector<std::string> arguments(argv + 1, argv + argc);
    try {
        if (arguments.size() == 2 && arguments[0] == "serve")
            return serve(arguments[1]);
        if (arguments.size() == 4 && arguments[0] == "open")
            return openCommand(arguments[1], arguments[2], arguments[3]);
        return usage();
    } catch (const Poco::Exception& error) {
        std::cerr << "meldpunt-receive: " << error.displayText() << std::endl;
    } catch (const std::exception& error) {
        std::cerr << "meldpunt-receive: " << error.what() << std::endl;
    }
    return 1;
}
