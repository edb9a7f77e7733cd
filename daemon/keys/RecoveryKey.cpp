#include "RecoveryKey.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Parser.h>

#include <argon2.h>
#include <openssl/crypto.h>

#include <sstream>

namespace meldpunt::keys {

namespace {

// Crockford's base32 alphabet: digits and upper-case letters without I, L,
// O and U, so that no two characters are easily confused.
constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::size_t kGroupCount = 8;
constexpr std::size_t kDataPerGroup = 4;
constexpr std::size_t kGroupLength = kDataPerGroup + 1;
constexpr std::size_t kDataCharacters = kGroupCount * kDataPerGroup; // 32 * 5 bits = 160 bits
constexpr std::size_t kKeyCharacters = kGroupCount * kGroupLength;
constexpr std::array<unsigned, kDataPerGroup> kCheckWeights {1, 3, 5, 7};
constexpr unsigned kGroupWeight = 7;

// Sanity bounds for stored Argon2 parameters. They keep a damaged file from
// asking for absurd work. The lower bounds are the ones libargon2 checks:
// ARGON2_MIN_TIME and 8 KiB of memory per lane.
constexpr std::uint32_t kMaxTimeCost = 64;
constexpr std::uint32_t kMaxMemoryKiB = 4 * 1024 * 1024;
constexpr std::uint32_t kMaxParallelism = 64;

constexpr std::string_view kPublicFormat = "meldpunt-recovery-public";

unsigned checkValue(std::size_t group, std::span<const std::uint8_t> values)
{
    unsigned sum = kGroupWeight * static_cast<unsigned>(group);
    for (std::size_t i = 0; i < kDataPerGroup; ++i)
        sum += kCheckWeights[i] * values[i];
    return sum % 32;
}

// Splits the 20 bytes into 32 five-bit values, most significant bit first.
// Every 5 bytes (40 bits) give 8 values.
void toFiveBitValues(std::span<const std::uint8_t> bytes, std::span<std::uint8_t> values)
{
    for (std::size_t chunk = 0; chunk < RecoveryKey::kSize / 5; ++chunk) {
        std::uint64_t bits = 0;
        for (std::size_t i = 0; i < 5; ++i)
            bits = bits << 8 | bytes[5 * chunk + i];
        for (std::size_t i = 0; i < 8; ++i)
            values[8 * chunk + i] = static_cast<std::uint8_t>(bits >> (35 - 5 * i) & 0x1f);
        OPENSSL_cleanse(&bits, sizeof bits);
    }
}

void fromFiveBitValues(std::span<const std::uint8_t> values, std::span<std::uint8_t> bytes)
{
    for (std::size_t chunk = 0; chunk < RecoveryKey::kSize / 5; ++chunk) {
        std::uint64_t bits = 0;
        for (std::size_t i = 0; i < 8; ++i)
            bits = bits << 5 | values[8 * chunk + i];
        for (std::size_t i = 0; i < 5; ++i)
            bytes[5 * chunk + i] = static_cast<std::uint8_t>(bits >> (32 - 8 * i) & 0xff);
        OPENSSL_cleanse(&bits, sizeof bits);
    }
}

// Returns the value of a typed character, accepting the aliases that
// Crockford's base32 defines, or -1 when it is not a key character.
int characterValue(char typed)
{
    char upper = typed >= 'a' && typed <= 'z' ? static_cast<char>(typed - 'a' + 'A') : typed;
    if (upper == 'I' || upper == 'L')
        upper = '1';
    else if (upper == 'O')
        upper = '0';
    const auto position = kAlphabet.find(upper);
    return position == std::string_view::npos ? -1 : static_cast<int>(position);
}

bool isSeparator(char typed)
{
    return typed == '-' || typed == ' ' || typed == '\t' || typed == '\n' || typed == '\r';
}

std::string describeCharacter(char typed)
{
    if (typed > ' ' && typed < 0x7f)
        return std::string("'") + typed + "'";
    static constexpr char digits[] = "0123456789ABCDEF";
    const auto byte = static_cast<unsigned char>(typed);
    return std::string("a non-ASCII or control character (byte 0x") + digits[byte >> 4]
        + digits[byte & 0x0f] + ")";
}

[[noreturn]] void rejectCharacter(char typed, std::size_t keyCharactersBefore)
{
    std::string where;
    if (keyCharactersBefore < kKeyCharacters)
        where = " in group " + std::to_string(keyCharactersBefore / kGroupLength + 1);
    throw InvalidRecoveryKey("The recovery key contains " + describeCharacter(typed) + where
        + ", which never occurs in a recovery key. Recovery keys use the digits 0-9 and the "
          "letters A-Z except I, L, O and U. Compare that group with the recovery key sheet.");
}

[[noreturn]] void rejectLength(std::size_t count)
{
    if (count == 0)
        throw InvalidRecoveryKey("The recovery key is empty. Type the 8 groups of 5 characters "
                                 "from the recovery key sheet.");
    throw InvalidRecoveryKey("The recovery key has " + std::to_string(count)
        + " characters (not counting hyphens and spaces), but a recovery key has 40: 8 groups "
          "of 5. Check for a missing, doubled or extra character or group.");
}

// Reads the typed text into 40 character values, skipping separators.
SecretBytes readCharacterValues(std::string_view text)
{
    SecretBytes values(kKeyCharacters);
    std::size_t count = 0;
    for (const char typed : text) {
        if (isSeparator(typed))
            continue;
        const int value = characterValue(typed);
        if (value < 0)
            rejectCharacter(typed, count);
        if (count < kKeyCharacters)
            values.data()[count] = static_cast<std::uint8_t>(value);
        ++count;
    }
    if (count != kKeyCharacters)
        rejectLength(count);
    return values;
}

void verifyCheckCharacters(std::span<const std::uint8_t> values)
{
    for (std::size_t group = 0; group < kGroupCount; ++group) {
        const auto groupValues = values.subspan(group * kGroupLength, kGroupLength);
        if (checkValue(group, groupValues) == groupValues[kDataPerGroup])
            continue;
        const std::string number = std::to_string(group + 1);
        throw InvalidRecoveryKey("The check character of group " + number
            + " (its last character) does not match the other four. Compare group " + number
            + " with the recovery key sheet: a character is mistyped, or groups are in the "
              "wrong order.");
    }
}

void validateParameters(const Argon2Parameters& parameters)
{
    if (parameters.timeCost < 1 || parameters.timeCost > kMaxTimeCost)
        throw std::invalid_argument("Argon2 time cost must be between 1 and "
            + std::to_string(kMaxTimeCost) + ", not " + std::to_string(parameters.timeCost));
    if (parameters.parallelism < 1 || parameters.parallelism > kMaxParallelism)
        throw std::invalid_argument("Argon2 parallelism must be between 1 and "
            + std::to_string(kMaxParallelism) + ", not " + std::to_string(parameters.parallelism));
    const std::uint32_t minMemory = 8 * parameters.parallelism;
    if (parameters.memoryKiB < minMemory || parameters.memoryKiB > kMaxMemoryKiB)
        throw std::invalid_argument("Argon2 memory must be between " + std::to_string(minMemory)
            + " and " + std::to_string(kMaxMemoryKiB) + " KiB, not "
            + std::to_string(parameters.memoryKiB));
}

} // namespace

RecoveryKey RecoveryKey::generate()
{
    RecoveryKey key;
    key.bytes_ = SecretBytes::random(kSize);
    return key;
}

RecoveryKey RecoveryKey::parse(std::string_view text)
{
    const SecretBytes characters = readCharacterValues(text);
    verifyCheckCharacters(characters.span());
    SecretBytes dataValues(kDataCharacters);
    for (std::size_t group = 0; group < kGroupCount; ++group) {
        const auto source = characters.span().subspan(group * kGroupLength, kDataPerGroup);
        std::copy(source.begin(), source.end(), dataValues.data() + group * kDataPerGroup);
    }
    RecoveryKey key;
    fromFiveBitValues(dataValues.span(), key.bytes_.span());
    return key;
}

std::string RecoveryKey::toString() const
{
    SecretBytes values(kDataCharacters);
    toFiveBitValues(bytes_.span(), values.span());
    std::string text;
    text.reserve(kKeyCharacters + kGroupCount - 1);
    for (std::size_t group = 0; group < kGroupCount; ++group) {
        if (group > 0)
            text.push_back('-');
        const auto groupValues = values.span().subspan(group * kDataPerGroup, kDataPerGroup);
        for (const std::uint8_t value : groupValues)
            text.push_back(kAlphabet[value]);
        text.push_back(kAlphabet[checkValue(group, groupValues)]);
    }
    return text;
}

std::pair<RecoveryPublicKey, crypto::X25519KeyPair> RecoveryPublicKey::derive(
    const RecoveryKey& key, std::span<const std::uint8_t, 16> salt, Argon2Parameters parameters)
{
    validateParameters(parameters);
    SecretBytes seed(crypto::kX25519KeySize);
    const auto password = key.bytes();
    const int result
        = argon2id_hash_raw(parameters.timeCost, parameters.memoryKiB, parameters.parallelism,
            password.data(), password.size(), salt.data(), salt.size(), seed.data(), seed.size());
    if (result != ARGON2_OK)
        throw std::runtime_error(std::string("Argon2id failed: ") + argon2_error_message(result));
    // X25519 accepts any 32 bytes as a private key because it clamps them
    // itself (RFC 7748, section 5), so the Argon2id output is used as it is.
    crypto::X25519KeyPair pair = crypto::X25519KeyPair::fromPrivate(seed.span());
    RecoveryPublicKey publicKey;
    publicKey.publicKey = pair.publicKey;
    std::copy(salt.begin(), salt.end(), publicKey.salt.begin());
    publicKey.argon2 = parameters;
    return {publicKey, std::move(pair)};
}

RecoveryPublicKey RecoveryPublicKey::create(const RecoveryKey& key)
{
    const auto salt = saltFor(key);
    return derive(key, salt).first;
}

std::array<std::uint8_t, 16> RecoveryPublicKey::saltFor(const RecoveryKey& key)
{
    crypto::Sha256 hash;
    hash.update(crypto::asBytes("meldpunt recovery salt v1"));
    hash.update(key.bytes());
    const auto digest = hash.finish();
    std::array<std::uint8_t, 16> salt {};
    std::copy_n(digest.begin(), salt.size(), salt.begin());
    return salt;
}

SecretBytes RecoveryPublicKey::privateKeyFor(const RecoveryKey& key) const
{
    auto [derived, pair] = derive(key, salt, argon2);
    if (CRYPTO_memcmp(derived.publicKey.data(), publicKey.data(), publicKey.size()) != 0)
        throw WrongRecoveryKey("This recovery key is well formed but does not match the stored "
                               "recovery public key. It belongs to another appliance or to an "
                               "older recovery key sheet, or the recovery public key file was "
                               "damaged. Use the recovery key sheet made for this database.");
    return std::move(pair.privateKey);
}

std::string RecoveryPublicKey::toJson() const
{
    Poco::JSON::Object root;
    root.set("format", std::string(kPublicFormat));
    root.set("version", 1);
    root.set("kdf", "argon2id");
    root.set("time_cost", argon2.timeCost);
    root.set("memory_kib", argon2.memoryKiB);
    root.set("parallelism", argon2.parallelism);
    root.set("salt", crypto::toBase64(salt));
    root.set("public_key", crypto::toBase64(publicKey));
    std::ostringstream out;
    root.stringify(out, 2);
    return out.str();
}

RecoveryPublicKey RecoveryPublicKey::fromJson(const std::string& json)
{
    const detail::JsonFields fields(json, kPublicFormat, "recovery public key");
    if (fields.text("kdf") != "argon2id")
        fields.fail("\"kdf\" must be \"argon2id\"");
    RecoveryPublicKey key;
    key.argon2.timeCost = fields.unsignedInteger("time_cost", 1, kMaxTimeCost);
    key.argon2.parallelism = fields.unsignedInteger("parallelism", 1, kMaxParallelism);
    key.argon2.memoryKiB
        = fields.unsignedInteger("memory_kib", 8 * key.argon2.parallelism, kMaxMemoryKiB);
    key.salt = fields.fixedBytes<16>("salt");
    key.publicKey = fields.fixedBytes<crypto::kX25519KeySize>("public_key");
    return key;
}

namespace detail {

JsonFields::JsonFields(const std::string& json, std::string_view format, std::string description)
    : description_(std::move(description))
{
    try {
        Poco::JSON::Parser parser;
        const Poco::Dynamic::Var parsed = parser.parse(json);
        if (parsed.type() != typeid(Poco::JSON::Object::Ptr))
            fail("the document is not a JSON object");
        root_ = parsed.extract<Poco::JSON::Object::Ptr>();
    } catch (const Poco::Exception& error) {
        fail("not valid JSON (" + error.displayText() + ")");
    }
    if (text("format") != format)
        fail("\"format\" is not \"" + std::string(format) + "\"");
    const std::uint32_t version = unsignedInteger("version", 0, UINT32_MAX);
    if (version != 1)
        fail("version " + std::to_string(version) + " is not supported; this Meldpunt reads "
             "version 1 only");
}

std::string JsonFields::text(const std::string& name) const
{
    const Poco::Dynamic::Var value = root_->get(name);
    if (value.isEmpty())
        fail("\"" + name + "\" is missing");
    if (!value.isString())
        fail("\"" + name + "\" is not a string");
    std::string result = value.extract<std::string>();
    if (result.empty())
        fail("\"" + name + "\" is empty");
    return result;
}

std::uint32_t JsonFields::unsignedInteger(
    const std::string& name, std::uint32_t min, std::uint32_t max) const
{
    const Poco::Dynamic::Var value = root_->get(name);
    if (value.isEmpty())
        fail("\"" + name + "\" is missing");
    // Poco counts a JSON boolean as an integer, so booleans are rejected
    // explicitly.
    if (!value.isInteger() || value.isBoolean())
        fail("\"" + name + "\" is not an integer");
    Poco::Int64 number = -1;
    try {
        number = value.convert<Poco::Int64>();
    } catch (const Poco::Exception&) {
        fail("\"" + name + "\" is out of range");
    }
    if (number < min || number > max)
        fail("\"" + name + "\" is " + std::to_string(number) + ", outside " + std::to_string(min)
            + " to " + std::to_string(max));
    return static_cast<std::uint32_t>(number);
}

crypto::Bytes JsonFields::bytes(
    const std::string& name, std::size_t minSize, std::size_t maxSize) const
{
    crypto::Bytes decoded;
    try {
        decoded = crypto::fromBase64(text(name));
    } catch (const std::invalid_argument& error) {
        fail("\"" + name + "\" is not valid base64 (" + error.what() + ")");
    }
    if (decoded.size() < minSize || decoded.size() > maxSize) {
        const std::string expected = minSize == maxSize
            ? std::to_string(minSize)
            : std::to_string(minSize) + " to " + std::to_string(maxSize);
        fail("\"" + name + "\" has " + std::to_string(decoded.size()) + " bytes instead of "
            + expected);
    }
    return decoded;
}

void JsonFields::fail(const std::string& problem) const
{
    throw std::runtime_error("invalid " + description_ + ": " + problem);
}

} // namespace detail

} // namespace meldpunt::keys
