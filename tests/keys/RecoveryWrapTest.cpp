#include "RecoveryWrap.h"
#include "RecoveryKey.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <argon2.h>

#include <sstream>
#include <string>
#include <vector>

namespace crypto = meldpunt::crypto;
namespace keys = meldpunt::keys;

using Catch::Matchers::ContainsSubstring;
using keys::Argon2Parameters;
using keys::RecoveryKey;
using keys::RecoveryPublicKey;
using keys::RecoveryWrap;
using keys::WrongRecoveryKey;
using meldpunt::SecretBytes;

namespace {

// Small Argon2 parameters keep the suite fast. One test case below runs the
// default parameters.
constexpr Argon2Parameters kFastArgon2 {1, 1024, 1};
constexpr std::string_view kDatabaseId = "3f6c1a52-8d0e-4f8b-9c1e-2a7b5d4e6f10";
constexpr std::string_view kWrapLabel = "meldpunt recovery wrap v1";

std::array<std::uint8_t, 16> randomSalt()
{
    const crypto::Bytes random = crypto::randomBytes(16);
    std::array<std::uint8_t, 16> salt {};
    std::copy(random.begin(), random.end(), salt.begin());
    return salt;
}

RecoveryPublicKey fastPublicKey(const RecoveryKey& key)
{
    return RecoveryPublicKey::derive(key, randomSalt(), kFastArgon2).first;
}

std::vector<std::uint8_t> bytesOf(const SecretBytes& secret)
{
    return {secret.span().begin(), secret.span().end()};
}

std::vector<std::uint8_t> bytesOf(std::span<const std::uint8_t> bytes)
{
    return {bytes.begin(), bytes.end()};
}

// Parses `json`, sets one member to `value` (or removes it when `value` is
// empty) and returns the JSON text again.
std::string withMember(
    const std::string& json, const std::string& name, const Poco::Dynamic::Var& value)
{
    Poco::JSON::Parser parser;
    auto root = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
    if (value.isEmpty())
        root->remove(name);
    else
        root->set(name, value);
    std::ostringstream out;
    root->stringify(out);
    return out.str();
}

std::string base64OfSize(std::size_t size)
{
    return crypto::toBase64(crypto::Bytes(size, 0x5a));
}

// One malformed JSON document and a part of the message it must raise.
struct MalformedCase {
    std::string name;
    std::string json;
    std::string expected;
};

} // namespace

TEST_CASE("Recovery wrap round trips", "[recovery]")
{
    const RecoveryKey key = RecoveryKey::generate();
    const RecoveryPublicKey publicKey = fastPublicKey(key);
    const SecretBytes dataKey = SecretBytes::random(32);
    const RecoveryWrap wrap
        = RecoveryWrap::wrap(dataKey.span(), publicKey, std::string(kDatabaseId));

    SECTION("Right recovery key unwraps the data key")
    {
        const SecretBytes privateKey = publicKey.privateKeyFor(key);
        CHECK(bytesOf(wrap.unwrap(privateKey.span())) == bytesOf(dataKey));
    }

    SECTION("Typed recovery key unwraps the data key")
    {
        const RecoveryKey typed = RecoveryKey::parse(key.toString());
        const SecretBytes privateKey = publicKey.privateKeyFor(typed);
        CHECK(bytesOf(wrap.unwrap(privateKey.span())) == bytesOf(dataKey));
    }

    SECTION("Wrap records the database id")
    {
        CHECK(wrap.databaseId == kDatabaseId);
        CHECK(wrap.ciphertext.size() == 32 + crypto::kGcmTagSize);
    }

    SECTION("Each wrap uses a fresh ephemeral key")
    {
        const RecoveryWrap again
            = RecoveryWrap::wrap(dataKey.span(), publicKey, std::string(kDatabaseId));
        CHECK(again.ephemeralKey != wrap.ephemeralKey);
        CHECK(again.ciphertext != wrap.ciphertext);
    }

    SECTION("Invalid inputs are rejected")
    {
        CHECK_THROWS_AS(RecoveryWrap::wrap(dataKey.span(), publicKey, ""), std::invalid_argument);
        CHECK_THROWS_AS(
            RecoveryWrap::wrap({}, publicKey, std::string(kDatabaseId)), std::invalid_argument);
    }
}

TEST_CASE("Recovery wrap rejects wrong key", "[recovery]")
{
    const RecoveryKey key = RecoveryKey::generate();
    const RecoveryKey otherKey = RecoveryKey::generate();
    const RecoveryPublicKey publicKey = fastPublicKey(key);
    const SecretBytes dataKey = SecretBytes::random(32);
    const RecoveryWrap wrap
        = RecoveryWrap::wrap(dataKey.span(), publicKey, std::string(kDatabaseId));

    SECTION("Other key fails at privateKeyFor")
    {
        CHECK_THROWS_AS(publicKey.privateKeyFor(otherKey), WrongRecoveryKey);
    }

    SECTION("Other key's private key fails at unwrap")
    {
        const auto [otherPublic, otherPair]
            = RecoveryPublicKey::derive(otherKey, publicKey.salt, publicKey.argon2);
        CHECK_THROWS_AS(wrap.unwrap(otherPair.privateKey.span()), WrongRecoveryKey);
    }

    SECTION("Random private key fails at unwrap")
    {
        const crypto::X25519KeyPair foreign = crypto::X25519KeyPair::generate();
        CHECK_THROWS_AS(wrap.unwrap(foreign.privateKey.span()), WrongRecoveryKey);
    }

    SECTION("Private key of the wrong size is rejected")
    {
        const SecretBytes privateKey = publicKey.privateKeyFor(key);
        CHECK_THROWS_AS(wrap.unwrap(privateKey.span().first(31)), std::invalid_argument);
    }
}

TEST_CASE("Recovery wrap detects altered fields", "[recovery]")
{
    const RecoveryKey key = RecoveryKey::generate();
    const RecoveryPublicKey publicKey = fastPublicKey(key);
    const SecretBytes privateKey = publicKey.privateKeyFor(key);
    const SecretBytes dataKey = SecretBytes::random(32);
    const RecoveryWrap wrap
        = RecoveryWrap::wrap(dataKey.span(), publicKey, std::string(kDatabaseId));

    SECTION("Flipped ciphertext bytes")
    {
        for (std::size_t i = 0; i < wrap.ciphertext.size(); ++i) {
            RecoveryWrap altered = wrap;
            altered.ciphertext[i] ^= 0x01;
            INFO("ciphertext byte " << i);
            CHECK_THROWS_AS(altered.unwrap(privateKey.span()), WrongRecoveryKey);
        }
    }

    SECTION("Flipped nonce bytes")
    {
        for (std::size_t i = 0; i < wrap.nonce.size(); ++i) {
            RecoveryWrap altered = wrap;
            altered.nonce[i] ^= 0x01;
            INFO("nonce byte " << i);
            CHECK_THROWS_AS(altered.unwrap(privateKey.span()), WrongRecoveryKey);
        }
    }

    SECTION("Flipped ephemeral key bytes")
    {
        for (std::size_t i = 0; i < wrap.ephemeralKey.size(); ++i) {
            RecoveryWrap altered = wrap;
            altered.ephemeralKey[i] ^= 0x01;
            INFO("ephemeral key byte " << i);
            CHECK_THROWS_AS(altered.unwrap(privateKey.span()), WrongRecoveryKey);
        }
    }

    SECTION("Flipped top bit that X25519 ignores")
    {
        RecoveryWrap altered = wrap;
        altered.ephemeralKey.back() ^= 0x80;
        CHECK_THROWS_AS(altered.unwrap(privateKey.span()), WrongRecoveryKey);
    }

    SECTION("Low-order ephemeral key")
    {
        RecoveryWrap altered = wrap;
        altered.ephemeralKey.fill(0);
        CHECK_THROWS_AS(altered.unwrap(privateKey.span()), crypto::CryptoError);
    }

    SECTION("Changed database id")
    {
        RecoveryWrap altered = wrap;
        altered.databaseId.back() = altered.databaseId.back() == '0' ? '1' : '0';
        CHECK_THROWS_AS(altered.unwrap(privateKey.span()), WrongRecoveryKey);
    }

    SECTION("Truncated ciphertext")
    {
        RecoveryWrap altered = wrap;
        altered.ciphertext.pop_back();
        CHECK_THROWS_AS(altered.unwrap(privateKey.span()), WrongRecoveryKey);
    }

    SECTION("Ciphertext without plaintext")
    {
        RecoveryWrap altered = wrap;
        altered.ciphertext.resize(crypto::kGcmTagSize);
        CHECK_THROWS_AS(altered.unwrap(privateKey.span()), std::invalid_argument);
    }
}

TEST_CASE("Recovery JSON round trips", "[recovery]")
{
    const RecoveryKey key = RecoveryKey::generate();
    const RecoveryPublicKey publicKey = fastPublicKey(key);
    const SecretBytes dataKey = SecretBytes::random(32);
    const RecoveryWrap wrap
        = RecoveryWrap::wrap(dataKey.span(), publicKey, std::string(kDatabaseId));

    SECTION("Public key keeps every field")
    {
        const RecoveryPublicKey read = RecoveryPublicKey::fromJson(publicKey.toJson());
        CHECK(read.publicKey == publicKey.publicKey);
        CHECK(read.salt == publicKey.salt);
        CHECK(read.argon2 == kFastArgon2);
    }

    SECTION("Public key JSON names format and KDF")
    {
        Poco::JSON::Parser parser;
        const auto root = parser.parse(publicKey.toJson()).extract<Poco::JSON::Object::Ptr>();
        CHECK(root->getValue<std::string>("format") == "meldpunt-recovery-public");
        CHECK(root->getValue<int>("version") == 1);
        CHECK(root->getValue<std::string>("kdf") == "argon2id");
        CHECK(root->getValue<int>("memory_kib") == 1024);
    }

    SECTION("Read public key still accepts the recovery key")
    {
        const RecoveryPublicKey read = RecoveryPublicKey::fromJson(publicKey.toJson());
        const SecretBytes privateKey = read.privateKeyFor(key);
        CHECK(bytesOf(wrap.unwrap(privateKey.span())) == bytesOf(dataKey));
    }

    SECTION("Wrap keeps every field")
    {
        const RecoveryWrap read = RecoveryWrap::fromJson(wrap.toJson());
        CHECK(read.databaseId == wrap.databaseId);
        CHECK(read.ephemeralKey == wrap.ephemeralKey);
        CHECK(read.nonce == wrap.nonce);
        CHECK(read.ciphertext == wrap.ciphertext);
    }

    SECTION("Read wrap unwraps")
    {
        const RecoveryWrap read = RecoveryWrap::fromJson(wrap.toJson());
        const SecretBytes privateKey = publicKey.privateKeyFor(key);
        CHECK(bytesOf(read.unwrap(privateKey.span())) == bytesOf(dataKey));
    }
}

TEST_CASE("Recovery public key rejects malformed JSON", "[recovery]")
{
    const std::string json = fastPublicKey(RecoveryKey::generate()).toJson();
    const std::vector<MalformedCase> cases {
        {"not JSON", "{\"format\":", "not valid JSON"},
        {"array", "[1, 2]", "not a JSON object"},
        {"missing format", withMember(json, "format", {}), "\"format\" is missing"},
        {"wrong format", withMember(json, "format", "meldpunt-recovery-wrap"), "\"format\" is not"},
        {"version 2", withMember(json, "version", 2), "version 2 is not supported"},
        {"version as string", withMember(json, "version", "1"), "\"version\" is not an integer"},
        {"other KDF", withMember(json, "kdf", "argon2i"), "\"kdf\" must be \"argon2id\""},
        {"time cost 0", withMember(json, "time_cost", 0), "\"time_cost\" is 0"},
        {"negative time cost", withMember(json, "time_cost", -3), "\"time_cost\" is -3"},
        {"fractional time cost", withMember(json, "time_cost", 1.5),
            "\"time_cost\" is not an integer"},
        {"boolean time cost", withMember(json, "time_cost", true),
            "\"time_cost\" is not an integer"},
        {"memory below 8 KiB", withMember(json, "memory_kib", 4), "\"memory_kib\" is 4"},
        {"memory above 4 GiB", withMember(json, "memory_kib", Poco::Int64 {1} << 33),
            "\"memory_kib\" is"},
        {"parallelism 0", withMember(json, "parallelism", 0), "\"parallelism\" is 0"},
        {"missing salt", withMember(json, "salt", {}), "\"salt\" is missing"},
        {"salt bad base64", withMember(json, "salt", "!!!!"), "\"salt\" is not valid base64"},
        {"salt of 15 bytes", withMember(json, "salt", base64OfSize(15)),
            "\"salt\" has 15 bytes instead of 16"},
        {"public key of 31 bytes", withMember(json, "public_key", base64OfSize(31)),
            "\"public_key\" has 31 bytes"},
        {"public key as number", withMember(json, "public_key", 7),
            "\"public_key\" is not a string"},
    };
    for (const MalformedCase& malformed : cases) {
        DYNAMIC_SECTION(malformed.name)
        {
            CHECK_THROWS_WITH(RecoveryPublicKey::fromJson(malformed.json),
                ContainsSubstring("invalid recovery public key: ")
                    && ContainsSubstring(malformed.expected));
        }
    }
}

TEST_CASE("Recovery wrap rejects malformed JSON", "[recovery]")
{
    const RecoveryPublicKey publicKey = fastPublicKey(RecoveryKey::generate());
    const SecretBytes dataKey = SecretBytes::random(32);
    const std::string json
        = RecoveryWrap::wrap(dataKey.span(), publicKey, std::string(kDatabaseId)).toJson();
    const std::vector<MalformedCase> cases {
        {"not JSON", "", "not valid JSON"},
        {"wrong format", withMember(json, "format", "meldpunt-recovery-public"),
            "\"format\" is not"},
        {"version 0", withMember(json, "version", 0), "version 0 is not supported"},
        {"missing database id", withMember(json, "database_id", {}), "\"database_id\" is missing"},
        {"empty database id", withMember(json, "database_id", ""), "\"database_id\" is empty"},
        {"ephemeral key bad base64", withMember(json, "ephemeral_key", "abc"),
            "\"ephemeral_key\" is not valid base64"},
        {"ephemeral key of 33 bytes", withMember(json, "ephemeral_key", base64OfSize(33)),
            "\"ephemeral_key\" has 33 bytes"},
        {"nonce of 11 bytes", withMember(json, "nonce", base64OfSize(11)),
            "\"nonce\" has 11 bytes instead of 12"},
        {"missing nonce", withMember(json, "nonce", {}), "\"nonce\" is missing"},
        {"ciphertext of tag only", withMember(json, "ciphertext", base64OfSize(16)),
            "\"ciphertext\" has 16 bytes"},
        {"ciphertext too long", withMember(json, "ciphertext", base64OfSize(2000)),
            "\"ciphertext\" has 2000 bytes"},
        {"ciphertext with bad padding", withMember(json, "ciphertext", "AA=A"),
            "\"ciphertext\" is not valid base64"},
    };
    for (const MalformedCase& malformed : cases) {
        DYNAMIC_SECTION(malformed.name)
        {
            CHECK_THROWS_WITH(RecoveryWrap::fromJson(malformed.json),
                ContainsSubstring("invalid recovery wrap: ")
                    && ContainsSubstring(malformed.expected));
        }
    }
}

TEST_CASE("Recovery derivation is deterministic", "[recovery]")
{
    const RecoveryKey key = RecoveryKey::generate();
    const auto salt = randomSalt();
    const RecoveryPublicKey first = RecoveryPublicKey::derive(key, salt, kFastArgon2).first;

    SECTION("Same salt gives the same public key")
    {
        const RecoveryPublicKey second = RecoveryPublicKey::derive(key, salt, kFastArgon2).first;
        CHECK(second.publicKey == first.publicKey);
    }

    SECTION("Other salt gives another public key")
    {
        auto otherSalt = salt;
        otherSalt[0] ^= 0x01;
        const RecoveryPublicKey other
            = RecoveryPublicKey::derive(key, otherSalt, kFastArgon2).first;
        CHECK(other.publicKey != first.publicKey);
    }

    SECTION("Other parameters give another public key")
    {
        const Argon2Parameters slower {2, 1024, 1};
        const RecoveryPublicKey other = RecoveryPublicKey::derive(key, salt, slower).first;
        CHECK(other.publicKey != first.publicKey);
    }

    SECTION("Private key is the raw Argon2id output")
    {
        std::array<std::uint8_t, 32> expected {};
        const auto password = key.bytes();
        REQUIRE(argon2id_hash_raw(1, 1024, 1, password.data(), password.size(), salt.data(),
                    salt.size(), expected.data(), expected.size())
            == ARGON2_OK);
        const auto [publicKey, pair] = RecoveryPublicKey::derive(key, salt, kFastArgon2);
        CHECK(bytesOf(pair.privateKey) == bytesOf(expected));
        CHECK(crypto::X25519KeyPair::fromPrivate(expected).publicKey == publicKey.publicKey);
    }

    SECTION("Out-of-range parameters are rejected")
    {
        CHECK_THROWS_AS(RecoveryPublicKey::derive(key, salt, {0, 1024, 1}), std::invalid_argument);
        CHECK_THROWS_AS(RecoveryPublicKey::derive(key, salt, {1, 4, 1}), std::invalid_argument);
        CHECK_THROWS_AS(RecoveryPublicKey::derive(key, salt, {1, 1024, 0}), std::invalid_argument);
    }
}

// RFC 9106, section 5.3: Argon2id version 0x13 with 32 KiB, 3 passes, 4
// lanes, a 32-byte tag, password 32 x 0x01, salt 16 x 0x02, secret 8 x 0x03
// and associated data 12 x 0x04. It checks the installed libargon2.
TEST_CASE("Recovery KDF matches RFC 9106 vector", "[recovery]")
{
    std::vector<std::uint8_t> password(32, 0x01);
    std::vector<std::uint8_t> salt(16, 0x02);
    std::vector<std::uint8_t> secret(8, 0x03);
    std::vector<std::uint8_t> associatedData(12, 0x04);
    std::array<std::uint8_t, 32> tag {};
    argon2_context context {};
    context.out = tag.data();
    context.outlen = static_cast<std::uint32_t>(tag.size());
    context.pwd = password.data();
    context.pwdlen = static_cast<std::uint32_t>(password.size());
    context.salt = salt.data();
    context.saltlen = static_cast<std::uint32_t>(salt.size());
    context.secret = secret.data();
    context.secretlen = static_cast<std::uint32_t>(secret.size());
    context.ad = associatedData.data();
    context.adlen = static_cast<std::uint32_t>(associatedData.size());
    context.t_cost = 3;
    context.m_cost = 32;
    context.lanes = 4;
    context.threads = 1;
    context.version = ARGON2_VERSION_13;
    context.flags = ARGON2_DEFAULT_FLAGS;
    REQUIRE(argon2_ctx(&context, Argon2_id) == ARGON2_OK);
    CHECK(crypto::toHex(tag) == "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");
}

TEST_CASE("Recovery with default Argon2 parameters", "[recovery]")
{
    const RecoveryKey key = RecoveryKey::generate();
    const RecoveryPublicKey publicKey
        = RecoveryPublicKey::fromJson(RecoveryPublicKey::create(key).toJson());
    CHECK(publicKey.argon2 == Argon2Parameters {3, 64 * 1024, 1});
    const SecretBytes dataKey = SecretBytes::random(32);
    const RecoveryWrap wrap = RecoveryWrap::fromJson(
        RecoveryWrap::wrap(dataKey.span(), publicKey, std::string(kDatabaseId)).toJson());
    const SecretBytes privateKey = publicKey.privateKeyFor(RecoveryKey::parse(key.toString()));
    CHECK(bytesOf(wrap.unwrap(privateKey.span())) == bytesOf(dataKey));
}

TEST_CASE("Recovery sealing binds label and context", "[recovery]")
{
    const crypto::X25519KeyPair recipient = crypto::X25519KeyPair::generate();
    const SecretBytes secret = SecretBytes::random(32);
    const keys::SealedSecret sealed
        = keys::sealToPublicKey(secret.span(), recipient.publicKey, "meldpunt test seal", "ctx");

    SECTION("Same label and context open")
    {
        auto opened = keys::openSealedSecret(
            sealed, recipient.privateKey.span(), "meldpunt test seal", "ctx");
        REQUIRE(opened.has_value());
        CHECK(bytesOf(*opened) == bytesOf(secret));
    }

    SECTION("Other label does not open")
    {
        CHECK_FALSE(keys::openSealedSecret(sealed, recipient.privateKey.span(), kWrapLabel, "ctx")
                        .has_value());
    }

    SECTION("Other context does not open")
    {
        CHECK_FALSE(keys::openSealedSecret(
            sealed, recipient.privateKey.span(), "meldpunt test seal", "ctx2")
                        .has_value());
    }

    SECTION("Secret sizes are bounded")
    {
        const std::vector<std::uint8_t> tooLarge(keys::kMaxSealedSecretSize + 1, 0x01);
        const std::vector<std::uint8_t> largest(keys::kMaxSealedSecretSize, 0x01);
        CHECK_THROWS_AS(
            keys::sealToPublicKey({}, recipient.publicKey, "l", "c"), std::invalid_argument);
        CHECK_THROWS_AS(
            keys::sealToPublicKey(tooLarge, recipient.publicKey, "l", "c"), std::invalid_argument);
        CHECK(keys::sealToPublicKey(largest, recipient.publicKey, "l", "c").ciphertext.size()
            == keys::kMaxSealedSecretSize + crypto::kGcmTagSize);
    }

    SECTION("Low-order recipient key is rejected")
    {
        const crypto::X25519PublicKey zero {};
        CHECK_THROWS_AS(keys::sealToPublicKey(secret.span(), zero, "l", "c"), crypto::CryptoError);
    }
}
