#include "CertificateInstaller.h"

#include "ChildCommand.h"

#include "OpenSsl.h"
#include "Signature.h"
#include "UpdateError.h"

#include "Crypto.h"
#include "FileSystem.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

namespace meldpunt::updater {

namespace fs = std::filesystem;

namespace {

struct GeneralNamesFree {
    void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};

[[noreturn]] void reject(const std::string& message)
{
    throw CertificateRejectedError(message);
}

BioPtr memoryBio(const std::string& text)
{
    BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    if (!bio)
        throw UpdateError("Failed to allocate an OpenSSL buffer.");
    return bio;
}

std::string printedSubject(X509* certificate)
{
    BioPtr out(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(out.get(), X509_get_subject_name(certificate), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    const long length = BIO_get_mem_data(out.get(), &data);
    return std::string(data, static_cast<std::size_t>(length));
}

std::string formatTime(const ASN1_TIME* time)
{
    std::tm parts{};
    if (ASN1_TIME_to_tm(time, &parts) != 1)
        return "an unreadable date";
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

// The DNS names and IP addresses among the subject alternative names.
std::string alternativeNames(X509* certificate)
{
    std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> names(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr)));
    std::string list;
    if (!names)
        return list;
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
        std::string entry;
        if (name->type == GEN_DNS) {
            const ASN1_IA5STRING* dns = name->d.dNSName;
            entry = "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                 static_cast<std::size_t>(ASN1_STRING_length(dns)));
        } else if (name->type == GEN_IPADD) {
            const ASN1_OCTET_STRING* ip = name->d.iPAddress;
            char text[INET6_ADDRSTRLEN] = {};
            const int family = ASN1_STRING_length(ip) == 4 ? AF_INET : AF_INET6;
            if ((ASN1_STRING_length(ip) == 4 || ASN1_STRING_length(ip) == 16)
                && ::inet_ntop(family, ASN1_STRING_get0_data(ip), text, sizeof text))
                entry = std::string("IP:") + text;
        }
        if (!entry.empty())
            list += (list.empty() ? "" : ", ") + entry;
    }
    return list;
}

std::string fingerprint(X509* certificate)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (X509_digest(certificate, EVP_sha256(), digest, &length) != 1)
        throw UpdateError("Failed to compute the certificate's fingerprint: " + takeOpenSslError() + ".");
    return crypto::toHex(std::span<const std::uint8_t>(digest, length));
}

// Refuses every passphrase prompt, so an encrypted key fails to load
// instead of waiting for a terminal.
int noPassphrase(char*, int, int, void*)
{
    return 0;
}

void checkKeyStrength(EVP_PKEY* key)
{
    const int type = EVP_PKEY_get_base_id(key);
    const int bits = EVP_PKEY_get_bits(key);
    if (type == EVP_PKEY_RSA) {
        if (bits < 2048)
            reject("The private key is RSA of " + std::to_string(bits)
                + " bits, too short to be safe. Make a new key of at least 2048 bits (or an EC key on P-256) "
                  "and have the certificate issued for it.");
        return;
    }
    if (type == EVP_PKEY_EC) {
        if (bits < 256)
            reject("The private key is EC of " + std::to_string(bits)
                + " bits. Use a key on P-256 or P-384 and have the certificate issued for it.");
        return;
    }
    reject("The private key is neither RSA nor EC, which not every browser accepts. Use an RSA key of at least "
           "2048 bits or an EC key on P-256 or P-384.");
}

void writeFile(const fs::path& path, const std::string& content, mode_t mode)
{
    fsutil::FileDescriptor fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
    if (!fd)
        throw std::system_error(errno, std::generic_category(), "creating '" + path.string() + "'");
    // The umask may have narrowed the mode; the certificate must stay
    // readable for the edge's start.
    if (::fchmod(fd.get(), mode) != 0)
        throw std::system_error(errno, std::generic_category(), "setting the mode of '" + path.string() + "'");
    fsutil::writeAll(fd.get(), crypto::asBytes(content), path);
    fsutil::syncFile(fd.get(), path);
}

// Points `link` at `target` by renaming a fresh symlink over it, which
// replaces a regular file or an older symlink in one step.
void replaceWithSymlink(const fs::path& link, const fs::path& target)
{
    std::error_code error;
    if (fs::is_symlink(link, error) && fs::read_symlink(link, error) == target)
        return;
    const fs::path fresh = link.string() + ".new";
    fs::remove(fresh, error);
    fs::create_symlink(target, fresh);
    fs::rename(fresh, link);
}

void runRestart(const std::vector<std::string>& command, const std::string& edge)
{
    bool succeeded = false;
    try {
        succeeded = runChildCommand(command);
    } catch (const std::system_error& error) {
        throw EdgeRestartError("The certificate is installed, but the " + edge + " edge's restart could not be started: "
            + error.code().message() + ". Restart meldpunt-edge-" + edge + " on the console.");
    }
    if (!succeeded)
        throw EdgeRestartError("The certificate is installed, but restarting the " + edge + " edge with '"
            + command.front() + "' failed. Check `systemctl status meldpunt-edge-" + edge
            + "` on the console; the edge uses the new certificate once it starts.");
}

} // namespace

CertificateSummary checkCertificate(const std::string& certificatePem, const std::string& keyPem, std::time_t now)
{
    if (certificatePem.find_first_not_of(" \t\r\n") == std::string::npos)
        reject("The certificate is missing. Paste the PEM text that starts with -----BEGIN CERTIFICATE-----.");
    if (keyPem.find_first_not_of(" \t\r\n") == std::string::npos)
        reject("The private key is missing. Paste the PEM text that starts with -----BEGIN PRIVATE KEY----- "
               "(or BEGIN RSA PRIVATE KEY, BEGIN EC PRIVATE KEY).");
    if (certificatePem.size() > kMaxCertificatePemBytes)
        reject("The certificate text is longer than " + std::to_string(kMaxCertificatePemBytes / 1024)
            + " KiB. Paste only the server certificate and its intermediate certificates.");
    if (keyPem.size() > kMaxKeyPemBytes)
        reject("The private key text is longer than " + std::to_string(kMaxKeyPemBytes / 1024)
            + " KiB. Paste only the one private key.");

    BioPtr certificateBio = memoryBio(certificatePem);
    X509Ptr leaf(PEM_read_bio_X509(certificateBio.get(), nullptr, noPassphrase, nullptr));
    if (!leaf) {
        const std::string detail = takeOpenSslError();
        reject("The certificate is not a PEM certificate (" + detail
            + "). Paste the text that starts with -----BEGIN CERTIFICATE-----; a .der, .p12 or .pfx file must "
              "first be converted to PEM.");
    }
    // Intermediate certificates may follow the server's own.
    for (int index = 2;; ++index) {
        X509Ptr next(PEM_read_bio_X509(certificateBio.get(), nullptr, noPassphrase, nullptr));
        if (!next) {
            ERR_clear_error();
            break;
        }
        if (index > 10)
            reject("The certificate text holds more than ten certificates. Paste the server certificate and its "
                   "intermediate certificates only, without the root.");
    }
    if (certificatePem.find("PRIVATE KEY") != std::string::npos)
        reject("The certificate field contains a private key. Paste the key into the private key field only.");

    BioPtr keyBio = memoryBio(keyPem);
    EvpPkeyPtr key(PEM_read_bio_PrivateKey(keyBio.get(), nullptr, noPassphrase, nullptr));
    if (!key) {
        const std::string detail = takeOpenSslError();
        if (keyPem.find("ENCRYPTED") != std::string::npos)
            reject("The private key is protected by a passphrase, which the box cannot type at each start. "
                   "Remove the passphrase (openssl pkey -in key.pem -out plain.pem) and paste the result.");
        reject("The private key is not a PEM private key (" + detail
            + "). Paste the text that starts with -----BEGIN PRIVATE KEY----- (or BEGIN RSA PRIVATE KEY, BEGIN EC "
              "PRIVATE KEY).");
    }
    checkKeyStrength(key.get());
    if (X509_check_private_key(leaf.get(), key.get()) != 1) {
        ERR_clear_error();
        reject("The private key does not belong to this certificate. Paste the key that was made together with "
               "the certificate's signing request.");
    }

    if (X509_cmp_time(X509_get0_notAfter(leaf.get()), &now) <= 0)
        reject("The certificate expired on " + formatTime(X509_get0_notAfter(leaf.get()))
            + ". Renew it with the issuer and paste the new certificate.");
    if (X509_cmp_time(X509_get0_notBefore(leaf.get()), &now) > 0)
        reject("The certificate is valid only from " + formatTime(X509_get0_notBefore(leaf.get()))
            + ", and the box's clock is earlier than that. Check the box's time, or install it after that moment.");

    CertificateSummary summary;
    summary.names = alternativeNames(leaf.get());
    if (summary.names.empty())
        reject("The certificate names no host name or address as subject alternative name, so browsers reject "
               "it. Have it issued again with the box's host name as a DNS name.");
    summary.subject = printedSubject(leaf.get());
    summary.notAfter = formatTime(X509_get0_notAfter(leaf.get()));
    summary.sha256 = fingerprint(leaf.get());
    return summary;
}

CertificateSummary installCertificate(const UpdaterConfig& config, const std::string& edge,
    const std::string& certificatePem, const std::string& keyPem, std::time_t now)
{
    const std::vector<std::string>* restart = nullptr;
    if (edge == "public")
        restart = &config.publicEdgeRestartCommand;
    else if (edge == "staff")
        restart = &config.staffEdgeRestartCommand;
    else
        reject("The edge '" + edge + "' is unknown. Name the public or the staff edge.");

    const CertificateSummary summary = checkCertificate(certificatePem, keyPem, now);
    const fs::path folder = config.tlsFolder;
    try {
        fs::create_directories(folder);
        const std::string generation = edge + "." + crypto::toHex(crypto::randomBytes(8));
        const fs::path partial = folder / (generation + ".partial");
        fs::create_directory(partial);
        fs::permissions(partial, fs::perms(0755));
        // The certificate is public; the key is root's alone, and systemd
        // hands the edge a copy of it at each start.
        std::string chain = certificatePem;
        if (!chain.ends_with('\n'))
            chain += '\n';
        std::string key = keyPem;
        if (!key.ends_with('\n'))
            key += '\n';
        writeFile(partial / "certificate.pem", chain, 0644);
        writeFile(partial / "key.pem", key, 0600);
        fsutil::syncDirectory(partial);
        fs::rename(partial, folder / generation);

        replaceWithSymlink(folder / (edge + ".current"), generation);
        // NOTE: while <edge>.pem and <edge>.key are still the image's
        // regular files, the two renames below are separate steps. A power
        // cut between them leaves a mismatched pair until the next upload.
        replaceWithSymlink(folder / (edge + ".key"), edge + ".current/key.pem");
        replaceWithSymlink(folder / (edge + ".pem"), edge + ".current/certificate.pem");
        fsutil::syncDirectory(folder);

        // Older generations and folders left by an interrupted install go.
        for (const auto& entry : fs::directory_iterator(folder)) {
            const std::string name = entry.path().filename().string();
            if (name.starts_with(edge + ".") && entry.is_directory() && !entry.is_symlink() && name != generation)
                fs::remove_all(entry.path());
        }
    } catch (const std::exception& error) {
        throw UpdateError(std::string("Failed to install the certificate: ") + error.what()
            + ". The previous certificate stays in use; check the free space and the folder "
            + folder.string() + ".");
    }
    runRestart(*restart, edge);
    return summary;
}

CertificateSummary describeInstalledCertificate(const UpdaterConfig& config, const std::string& edge)
{
    if (edge != "public" && edge != "staff")
        reject("The edge '" + edge + "' is unknown. Name the public or the staff edge.");
    const fs::path file = config.tlsFolder / (edge + ".pem");
    std::string text;
    try {
        text = fsutil::readSmallFile(file, kMaxCertificatePemBytes);
    } catch (const std::exception& error) {
        throw UpdateError("The " + edge + " edge has no readable certificate in " + file.string() + ": " + error.what()
            + ".");
    }
    BioPtr bio = memoryBio(text);
    X509Ptr leaf(PEM_read_bio_X509(bio.get(), nullptr, noPassphrase, nullptr));
    if (!leaf) {
        ERR_clear_error();
        throw UpdateError("The " + edge + " edge's certificate " + file.string() + " is not PEM.");
    }
    CertificateSummary summary;
    summary.subject = printedSubject(leaf.get());
    summary.names = alternativeNames(leaf.get());
    summary.notAfter = formatTime(X509_get0_notAfter(leaf.get()));
    summary.sha256 = fingerprint(leaf.get());
    return summary;
}

} // namespace meldpunt::updater
