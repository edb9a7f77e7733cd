#include "Tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

namespace meldpunt::referral {

namespace {

// The TLS 1.2 suites; TLS 1.3 has only AEAD suites and keeps its defaults.
constexpr const char* kCipherList = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

[[noreturn]] void fail(const std::string& context)
{
    std::string message = context;
    if (const unsigned long code = ERR_get_error(); code != 0) {
        char reason[256] = {};
        ERR_error_string_n(code, reason, sizeof reason);
        message += std::string(": ") + reason;
    }
    ERR_clear_error();
    throw ReferralError(message);
}

Poco::Net::Context::Ptr makeContext(Poco::Net::Context::Usage usage)
{
    Poco::Net::Context::Params params;
    params.verificationMode = Poco::Net::Context::VERIFY_STRICT;
    params.loadDefaultCAs = false;
    params.cipherList = kCipherList;
    Poco::Net::Context::Ptr context = new Poco::Net::Context(usage, params);
    context->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
    context->enableExtendedCertificateVerification(false);
    return context;
}

void useIdentity(SSL_CTX* context, const Certificate& certificate, const PrivateKey& key)
{
    if (SSL_CTX_use_certificate(context, certificate.get()) != 1)
        fail("using the TLS certificate '" + certificate.subject() + "'");
    if (SSL_CTX_use_PrivateKey(context, key.get()) != 1 || SSL_CTX_check_private_key(context) != 1)
        fail("using the private key of '" + certificate.subject() + "'");
}

void trust(SSL_CTX* context, const std::vector<Certificate>& trusted)
{
    X509_STORE* store = SSL_CTX_get_cert_store(context);
    for (const auto& certificate : trusted)
        if (X509_STORE_add_cert(store, certificate.get()) != 1)
            fail("trusting '" + certificate.subject() + "'");
    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
}

bool isIpAddress(const std::string& host)
{
    unsigned char buffer[16];
    return inet_pton(AF_INET, host.c_str(), buffer) == 1
        || inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

} // namespace

Poco::Net::Context::Ptr makeClientContext(const Certificate& certificate, const PrivateKey& key,
    const std::vector<Certificate>& trusted, const std::string& host)
{
    auto context = makeContext(Poco::Net::Context::TLS_CLIENT_USE);
    SSL_CTX* raw = context->sslContext();
    useIdentity(raw, certificate, key);
    trust(raw, trusted);
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(raw);
    const int named = isIpAddress(host)
        ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
        : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    if (named != 1)
        fail("setting the expected server name '" + host + "'");
    // OpenSSL's own verification result decides; no Poco callback may
    // override a failure.
    SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
    return context;
}

Poco::Net::Context::Ptr makeServerContext(const Certificate& certificate, const PrivateKey& key,
    const std::vector<Certificate>& trustedClients)
{
    auto context = makeContext(Poco::Net::Context::TLS_SERVER_USE);
    SSL_CTX* raw = context->sslContext();
    useIdentity(raw, certificate, key);
    trust(raw, trustedClients);
    SSL_CTX_set_verify(raw, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    // Each push is one connection, so resumption buys nothing; without it
    // no session can skip the client certificate check.
    static constexpr unsigned char kSessionContext[] = "meldpunt-receive";
    SSL_CTX_set_session_id_context(raw, kSessionContext, sizeof kSessionContext - 1);
    SSL_CTX_set_num_tickets(raw, 0);
    return context;
}

} // namespace meldpunt::referral
