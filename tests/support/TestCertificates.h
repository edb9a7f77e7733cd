#pragma once

#include <string>

namespace meldpunt::test {

// A certificate and private key as PEM text, made for a test.
struct TestCertificate {
    std::string certificatePem;
    std::string keyPem;
};

struct TestCertificateOptions {
    // The subject alternative names as OpenSSL writes them, such as
    // "DNS:meldpunt.example, IP:192.0.2.1"; empty for none.
    std::string alternativeNames = "DNS:meldpunt.example";
    std::string commonName = "meldpunt.example";
    // Validity in seconds relative to now.
    long notBeforeOffset = -3600;
    long notAfterOffset = 90L * 24 * 3600;
    // "ec" (P-256) or "rsa"; rsaBits for the latter.
    std::string keyType = "ec";
    int rsaBits = 2048;
    // Encrypt the key PEM with this passphrase; empty for a plain key.
    std::string passphrase;
};

// Makes a fresh key and a self-signed certificate for it with OpenSSL.
TestCertificate makeTestCertificate(const TestCertificateOptions& options = {});

} // namespace meldpunt::test
