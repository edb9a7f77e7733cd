#include "IntakeKeyFile.h"

#include "FileSystem.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <sstream>
#include <stdexcept>

namespace meldpunt {

namespace fs = std::filesystem;

std::string serializeIntakeKey(const spool::IntakePublicKey& key, const std::string& createdAtUtc)
{
    Poco::JSON::Object root;
    root.set("format", "meldpunt-intake-key");
    root.set("version", 1);
    root.set("id", crypto::toHex(key.id));
    root.set("algorithm", "X25519");
    root.set("public_key", crypto::toBase64(key.key));
    root.set("created_at", createdAtUtc);
    std::ostringstream out;
    root.stringify(out, 2);
    return out.str();
}

spool::IntakePublicKey parseIntakeKey(const std::string& json)
{
    try {
        Poco::JSON::Parser parser;
        const auto root = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
        if (root->optValue<std::string>("format", "") != "meldpunt-intake-key"
            || root->optValue<int>("version", 0) != 1 || root->optValue<std::string>("algorithm", "") != "X25519")
            throw std::runtime_error("not a version 1 X25519 intake key");
        const auto id = crypto::fromHex(root->getValue<std::string>("id"));
        const auto publicKey = crypto::fromBase64(root->getValue<std::string>("public_key"));
        spool::IntakePublicKey key;
        if (id.size() != key.id.size() || publicKey.size() != key.key.size())
            throw std::runtime_error("key id or public key has the wrong length");
        std::copy(id.begin(), id.end(), key.id.begin());
        std::copy(publicKey.begin(), publicKey.end(), key.key.begin());
        return key;
    } catch (const std::runtime_error&) {
        throw;
    } catch (const std::exception& error) {
        throw std::runtime_error(std::string("invalid intake key: ") + error.what());
    }
}

IntakeKeySource::IntakeKeySource(fs::path publishFolder)
    : publishFolder_(std::move(publishFolder))
{
}

std::optional<spool::IntakePublicKey> IntakeKeySource::current()
{
    std::error_code error;
    const fs::path target = fs::read_symlink(publishFolder_ / "current", error);
    if (error)
        return std::nullopt;
    std::lock_guard lock(mutex_);
    if (target == loadedTarget_ && cached_)
        return cached_;
    try {
        cached_ = parseIntakeKey(fsutil::readSmallFile(publishFolder_ / target / "intake.json", 64 * 1024));
        loadedTarget_ = target;
    } catch (const std::exception&) {
        // A folder replaced between read_symlink and the read, or a
        // damaged key, leaves the site in "try again shortly" until the
        // next published version.
        cached_.reset();
        loadedTarget_.clear();
    }
    return cached_;
}

} // namespace meldpunt
