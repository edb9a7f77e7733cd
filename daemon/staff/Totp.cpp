#include "Totp.h"

#include "Crypto.h"

#include <Poco/URI.h>

#include <liboath/oath.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

namespace meldpunt::staff::totp {

namespace {

constexpr std::size_t kSecretBytes = 20;

// liboath keeps no state of its own that needs freeing, but it must be
// initialised once per process before use.
void ensureInitialised()
{
    static const int result = oath_init();
    if (result != OATH_OK)
        throw std::runtime_error(std::string("liboath initialisation failed: ") + oath_strerror(result));
}

const char* asChars(std::span<const std::uint8_t> secret)
{
    return reinterpret_cast<const char*>(secret.data());
}

} // namespace

std::vector<std::uint8_t> newSecret()
{
    return crypto::randomBytes(kSecretBytes);
}

std::string base32(std::span<const std::uint8_t> secret)
{
    ensureInitialised();
    char* output = nullptr;
    std::size_t length = 0;
    const int result = oath_base32_encode(asChars(secret), secret.size(), &output, &length);
    const std::unique_ptr<char, decltype(&::free)> owned(output, &::free);
    if (result != OATH_OK)
        throw std::runtime_error(std::string("Base32 encoding failed: ") + oath_strerror(result));
    std::string text(output, length);
    // Authenticator apps expect the secret without '=' padding.
    text.erase(std::remove(text.begin(), text.end(), '='), text.end());
    return text;
}

std::string provisioningUri(std::span<const std::uint8_t> secret, const std::string& issuer,
    const std::string& account)
{
    std::string label;
    Poco::URI::encode(issuer + ":" + account, ":/?#[]@!$&'()*+,;=", label);
    std::string issuerParameter;
    Poco::URI::encode(issuer, ":/?#[]@!$&'()*+,;=", issuerParameter);
    return "otpauth://totp/" + label + "?secret=" + base32(secret) + "&issuer=" + issuerParameter
        + "&algorithm=SHA1&digits=" + std::to_string(kDigits) + "&period=" + std::to_string(kStepSeconds);
}

std::string generate(std::span<const std::uint8_t> secret, TimePoint time)
{
    ensureInitialised();
    char output[kDigits + 1] = {};
    const int result = oath_totp_generate(asChars(secret), secret.size(), std::chrono::system_clock::to_time_t(time),
        kStepSeconds, OATH_TOTP_DEFAULT_START_TIME, kDigits, output);
    if (result != OATH_OK)
        throw std::runtime_error(std::string("TOTP generation failed: ") + oath_strerror(result));
    return output;
}

std::optional<std::uint64_t> verify(std::span<const std::uint8_t> secret, TimePoint time, const std::string& code)
{
    ensureInitialised();
    if (code.size() != kDigits || !std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    int position = 0;
    std::uint64_t counter = 0;
    const int result = oath_totp_validate3(asChars(secret), secret.size(), std::chrono::system_clock::to_time_t(time),
        kStepSeconds, OATH_TOTP_DEFAULT_START_TIME, kWindow, &position, &counter, code.c_str());
    if (result < 0)
        return std::nullopt;
    return counter;
}

} // namespace meldpunt::staff::totp
