#include "Manifest.h"

#include "UpdateError.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <set>
#include <sstream>

namespace meldpunt::updater {

namespace {

constexpr std::string_view kFormat = "meldpunt-bundle-manifest";
constexpr std::size_t kMaxImages = 16;
constexpr std::size_t kMaxHardwareIds = 64;
constexpr std::size_t kMaxTextLength = 256;

[[noreturn]] void reject(const std::string& what)
{
    throw UpdateError("The bundle manifest is invalid: " + what + ".");
}

void checkKeys(const Poco::JSON::Object& object, const std::set<std::string>& allowed,
    const std::string& where)
{
    for (const auto& [key, value] : object) {
        if (!allowed.contains(key))
            reject("unknown field \"" + key + "\" in " + where);
    }
}

std::string text(const Poco::JSON::Object& object, const std::string& key, bool required = true)
{
    if (!object.has(key)) {
        if (required)
            reject("the field \"" + key + "\" is missing");
        return {};
    }
    const Poco::Dynamic::Var value = object.get(key);
    if (!value.isString())
        reject("the field \"" + key + "\" is not a string");
    std::string result = value.extract<std::string>();
    if (result.size() > kMaxTextLength)
        reject("the field \"" + key + "\" is longer than " + std::to_string(kMaxTextLength) +
            " bytes");
    if (required && result.empty())
        reject("the field \"" + key + "\" is empty");
    return result;
}

std::uint64_t number(const Poco::JSON::Object& object, const std::string& key)
{
    if (!object.has(key))
        reject("the field \"" + key + "\" is missing");
    const Poco::Dynamic::Var value = object.get(key);
    if (!value.isInteger() || value.isBoolean())
        reject("the field \"" + key + "\" is not an integer");
    if (value.isSigned() && value.convert<std::int64_t>() < 0)
        reject("the field \"" + key + "\" is negative");
    return value.convert<std::uint64_t>();
}

ManifestImage parseImage(const Poco::JSON::Object& object)
{
    checkKeys(object, { "slotType", "offset", "size", "sha256", "verityRootHash" }, "an image");
    ManifestImage image;
    image.slotType = text(object, "slotType");
    if (image.slotType != "rootfs")
        reject("the image slot type \"" + image.slotType + "\" is not supported (expected rootfs)");
    image.offset = number(object, "offset");
    image.size = number(object, "size");
    if (image.size == 0)
        reject("an image is empty");
    if (!parseSha256(text(object, "sha256"), image.sha256))
        reject("an image's sha256 is not 64 lowercase hex digits");
    image.verityRootHash = text(object, "verityRootHash", false);
    return image;
}

} // namespace

std::string toHex(std::span<const std::uint8_t> bytes)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(bytes.size() * 2);
    for (std::uint8_t byte : bytes) {
        hex += digits[byte >> 4];
        hex += digits[byte & 0xf];
    }
    return hex;
}

bool parseSha256(std::string_view hex, Sha256& out)
{
    if (hex.size() != 64)
        return false;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < out.size(); ++i) {
        const int high = nibble(hex[2 * i]);
        const int low = nibble(hex[2 * i + 1]);
        if (high < 0 || low < 0)
            return false;
        out[i] = static_cast<std::uint8_t>(high << 4 | low);
    }
    return true;
}

Manifest parseManifest(std::string_view json)
{
    Poco::JSON::Object::Ptr root;
    try {
        Poco::JSON::Parser parser;
        const Poco::Dynamic::Var parsed = parser.parse(std::string(json));
        if (parsed.type() != typeid(Poco::JSON::Object::Ptr))
            reject("it is not a JSON object");
        root = parsed.extract<Poco::JSON::Object::Ptr>();
    } catch (const Poco::Exception& error) {
        reject("it is not valid JSON (" + error.displayText() + ")");
    }

    checkKeys(*root,
        { "format", "formatVersion", "product", "hardwareIds", "version", "securityEpoch",
            "created", "images" },
        "the manifest");
    if (text(*root, "format") != kFormat)
        reject("the format is not \"meldpunt-bundle-manifest\"");
    if (number(*root, "formatVersion") != 1)
        reject("the format version is not 1");

    Manifest manifest;
    manifest.product = text(*root, "product");
    manifest.version = text(*root, "version");
    manifest.created = text(*root, "created");
    const std::uint64_t epoch = number(*root, "securityEpoch");
    if (epoch > kMaxSecurityEpoch)
        reject("the security epoch " + std::to_string(epoch) + " exceeds " +
            std::to_string(kMaxSecurityEpoch));
    manifest.securityEpoch = static_cast<std::uint32_t>(epoch);

    const Poco::JSON::Array::Ptr hardwareIds = root->getArray("hardwareIds");
    if (!hardwareIds || hardwareIds->size() == 0 || hardwareIds->size() > kMaxHardwareIds)
        reject("\"hardwareIds\" is not a list of 1 to 64 strings");
    for (std::size_t i = 0; i < hardwareIds->size(); ++i) {
        const Poco::Dynamic::Var id = hardwareIds->get(static_cast<unsigned>(i));
        if (!id.isString() || id.extract<std::string>().empty())
            reject("a hardware id is not a non-empty string");
        manifest.hardwareIds.push_back(id.extract<std::string>());
    }

    const Poco::JSON::Array::Ptr images = root->getArray("images");
    if (!images || images->size() == 0 || images->size() > kMaxImages)
        reject("\"images\" is not a list of 1 to 16 images");
    for (std::size_t i = 0; i < images->size(); ++i) {
        const Poco::JSON::Object::Ptr image = images->getObject(static_cast<unsigned>(i));
        if (!image)
            reject("an image is not a JSON object");
        manifest.images.push_back(parseImage(*image));
    }
    return manifest;
}

std::string serializeManifest(const Manifest& manifest)
{
    // Poco::JSON::Object keeps insertion order only when asked to.
    Poco::JSON::Object root(Poco::JSON_PRESERVE_KEY_ORDER);
    root.set("format", std::string(kFormat));
    root.set("formatVersion", 1);
    root.set("product", manifest.product);
    Poco::JSON::Array hardwareIds;
    for (const std::string& id : manifest.hardwareIds)
        hardwareIds.add(id);
    root.set("hardwareIds", hardwareIds);
    root.set("version", manifest.version);
    root.set("securityEpoch", manifest.securityEpoch);
    root.set("created", manifest.created);
    Poco::JSON::Array images;
    for (const ManifestImage& image : manifest.images) {
        Poco::JSON::Object entry(Poco::JSON_PRESERVE_KEY_ORDER);
        entry.set("slotType", image.slotType);
        entry.set("offset", image.offset);
        entry.set("size", image.size);
        entry.set("sha256", toHex(image.sha256));
        if (!image.verityRootHash.empty())
            entry.set("verityRootHash", image.verityRootHash);
        images.add(entry);
    }
    root.set("images", images);
    std::ostringstream out;
    root.stringify(out);
    return out.str();
}

void checkImageLayout(const Manifest& manifest, const BundleHeader& header)
{
    const std::uint64_t end = header.imagesOffset + header.imagesLength;
    std::uint64_t expected = header.imagesOffset;
    for (const ManifestImage& image : manifest.images) {
        if (image.offset != expected)
            reject("an image starts at byte " + std::to_string(image.offset) + ", expected " +
                std::to_string(expected));
        if (image.offset >= end || image.size > end - image.offset)
            reject("an image of " + std::to_string(image.size) +
                " bytes runs past the end of the file");
        expected = image.offset + image.size;
        if (expected != end)
            expected = alignImageOffset(expected);
    }
    if (expected != end)
        reject("the images end at byte " + std::to_string(expected) +
            ", but the file ends at byte " + std::to_string(end));
}

} // namespace meldpunt::updater
