#include "IntakeKeyFile.h"
#include "Process.h"

#include <catch2/catch_test_macros.hpp>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

using meldpunt::IntakeKeySource;
using meldpunt::parseIntakeKey;
using meldpunt::serializeIntakeKey;
using meldpunt::test::ScratchFolder;

namespace crypto = meldpunt::crypto;
namespace spool = meldpunt::spool;
namespace fs = std::filesystem;

namespace {

spool::IntakePublicKey randomKey()
{
    spool::IntakePublicKey key;
    const auto id = crypto::randomBytes(key.id.size());
    std::copy(id.begin(), id.end(), key.id.begin());
    key.key = crypto::X25519KeyPair::generate().publicKey;
    return key;
}

// Serialises `key`, then sets one member of the JSON object to `value`
// (or removes it when `value` is empty).
std::string withMember(const spool::IntakePublicKey& key, const std::string& name, const Poco::Dynamic::Var& value)
{
    Poco::JSON::Parser parser;
    auto root = parser.parse(serializeIntakeKey(key, "2026-01-01T00:00:00Z")).extract<Poco::JSON::Object::Ptr>();
    if (value.isEmpty())
        root->remove(name);
    else
        root->set(name, value);
    std::ostringstream out;
    root->stringify(out);
    return out.str();
}

void writeText(const fs::path& path, const std::string& text)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    REQUIRE(out.good());
}

} // namespace

TEST_CASE("Intake keys serialise and parse", "[intakekey]")
{
    const auto key = randomKey();

    SECTION("A serialised key parses back")
    {
        const auto parsed = parseIntakeKey(serializeIntakeKey(key, "2026-01-01T00:00:00Z"));
        CHECK(parsed.id == key.id);
        CHECK(parsed.key == key.key);
    }

    SECTION("The JSON names its format, algorithm and creation time")
    {
        Poco::JSON::Parser parser;
        const auto root = parser.parse(serializeIntakeKey(key, "2026-01-01T00:00:00Z"))
                              .extract<Poco::JSON::Object::Ptr>();
        CHECK(root->getValue<std::string>("format") == "meldpunt-intake-key");
        CHECK(root->getValue<int>("version") == 1);
        CHECK(root->getValue<std::string>("algorithm") == "X25519");
        CHECK(root->getValue<std::string>("id") == crypto::toHex(key.id));
        CHECK(root->getValue<std::string>("public_key") == crypto::toBase64(key.key));
        CHECK(root->getValue<std::string>("created_at") == "2026-01-01T00:00:00Z");
    }
}

TEST_CASE("Invalid intake keys are rejected", "[intakekey]")
{
    const auto key = randomKey();
    const Poco::Dynamic::Var removed;

    const std::vector<std::pair<std::string, std::string>> cases = {
        {"a wrong format", withMember(key, "format", std::string("meldpunt-other-key"))},
        {"no format", withMember(key, "format", removed)},
        {"version 2", withMember(key, "version", 2)},
        {"version 0", withMember(key, "version", 0)},
        {"no version", withMember(key, "version", removed)},
        {"another algorithm", withMember(key, "algorithm", std::string("P-256"))},
        {"no algorithm", withMember(key, "algorithm", removed)},
        {"a non-hex id", withMember(key, "id", std::string(32, 'g'))},
        {"an odd-length id", withMember(key, "id", crypto::toHex(key.id).substr(1))},
        {"a short id", withMember(key, "id", crypto::toHex(key.id).substr(2))},
        {"a long id", withMember(key, "id", crypto::toHex(key.id) + "00")},
        {"no id", withMember(key, "id", removed)},
        {"an invalid base64 key", withMember(key, "public_key", std::string(44, '!'))},
        {"a base64 key of the wrong length", withMember(key, "public_key", crypto::toBase64(crypto::randomBytes(31)))},
        {"a base64 key that is too long", withMember(key, "public_key", crypto::toBase64(crypto::randomBytes(33)))},
        {"no public key", withMember(key, "public_key", removed)},
        {"text that is not JSON", "not json"},
        {"an empty document", ""},
        {"a JSON array", "[1, 2, 3]"},
        {"truncated JSON", serializeIntakeKey(key, "t").substr(0, 40)},
    };
    for (const auto& [name, json] : cases) {
        DYNAMIC_SECTION("A key with " << name << " is rejected")
        {
            INFO(json);
            CHECK_THROWS_AS(parseIntakeKey(json), std::runtime_error);
        }
    }
}

TEST_CASE("Intake key source reads published folders", "[intakekey]")
{
    ScratchFolder scratch("intake-key-source");
    IntakeKeySource source(scratch.path());

    SECTION("Without a current link there is no key")
    {
        CHECK_FALSE(source.current().has_value());
    }

    SECTION("A current link to a folder with a key gives the key")
    {
        const auto key = randomKey();
        fs::create_directory(scratch.path() / "v-one");
        writeText(scratch.path() / "v-one" / "intake.json", serializeIntakeKey(key, "t"));
        fs::create_directory_symlink("v-one", scratch.path() / "current");
        const auto current = source.current();
        REQUIRE(current.has_value());
        CHECK(current->id == key.id);
        CHECK(current->key == key.key);
    }

    SECTION("A damaged key gives no key")
    {
        fs::create_directory(scratch.path() / "v-bad");
        writeText(scratch.path() / "v-bad" / "intake.json", "{\"format\": \"meldpunt-intake-key\"}");
        fs::create_directory_symlink("v-bad", scratch.path() / "current");
        CHECK_FALSE(source.current().has_value());
    }

    SECTION("A dangling current link gives no key")
    {
        fs::create_directory_symlink("v-missing", scratch.path() / "current");
        CHECK_FALSE(source.current().has_value());
    }
}
