#include "Manifest.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>

#include <set>
#include <sstream>

namespace meldpunt::referral {

namespace {

constexpr std::size_t kMaxManifestBytes = 4 * 1024 * 1024;
constexpr std::size_t kMaxNameBytes = 255;

// Poco's JSON values are typed by the C++ type that held them; these
// helpers turn a mismatch into a message that names the member.
std::string text(const Poco::JSON::Object& object, const std::string& member, bool required = true)
{
    if (!object.has(member)) {
        if (required)
            throw ReferralError("member '" + member + "' is missing");
        return {};
    }
    const auto value = object.get(member);
    if (!value.isString())
        throw ReferralError("member '" + member + "' must be a string");
    return value.extract<std::string>();
}

Poco::JSON::Array::Ptr array(
    const Poco::JSON::Object& object, const std::string& member, std::size_t maxItems)
{
    if (!object.has(member))
        return new Poco::JSON::Array;
    const auto list = object.getArray(member);
    if (!list)
        throw ReferralError("member '" + member + "' must be an array");
    if (list->size() > maxItems)
        throw ReferralError(
            "member '" + member + "' has more than " + std::to_string(maxItems) + " items");
    return list;
}

std::vector<std::string> textList(
    const Poco::JSON::Object& object, const std::string& member, std::size_t maxItems)
{
    std::vector<std::string> list;
    const auto items = array(object, member, maxItems);
    for (std::size_t index = 0; index < items->size(); ++index) {
        const auto value = items->get(static_cast<unsigned>(index));
        if (!value.isString())
            throw ReferralError("every item of '" + member + "' must be a string");
        list.push_back(value.extract<std::string>());
    }
    return list;
}

bool isLowerHex(std::string_view text, std::size_t size)
{
    if (text.size() != size)
        return false;
    for (const char digit : text)
        if (!((digit >= '0' && digit <= '9') || (digit >= 'a' && digit <= 'f')))
            return false;
    return true;
}

// The canonical 8-4-4-4-12 form in lower case, as the sender writes it.
bool isCanonicalUuid(std::string_view text)
{
    if (text.size() != 36)
        return false;
    for (std::size_t index = 0; index < text.size(); ++index) {
        const bool dash = index == 8 || index == 13 || index == 18 || index == 23;
        if (dash != (text[index] == '-'))
            return false;
        if (!dash && !isLowerHex(text.substr(index, 1), 1))
            return false;
    }
    return true;
}

bool isUtcTime(std::string_view text)
{
    // 2026-12-04T19:08:46Z, optionally with fractional seconds.
    if (text.size() < 20 || text.back() != 'Z' || text[4] != '-' || text[7] != '-'
        || text[10] != 'T' || text[13] != ':' || text[16] != ':')
        return false;
    for (const std::size_t index : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u, 11u, 12u, 14u, 15u, 17u, 18u})
        if (text[index] < '0' || text[index] > '9')
            return false;
    return true;
}

Poco::JSON::Object::Ptr parseObject(std::string_view json, const std::string& label)
{
    if (json.size() > kMaxManifestBytes)
        throw ReferralError(
            label + " is larger than " + std::to_string(kMaxManifestBytes) + " bytes");
    Poco::Dynamic::Var parsed;
    try {
        Poco::JSON::Parser parser;
        parsed = parser.parse(std::string(json));
    } catch (const Poco::Exception& error) {
        throw ReferralError(label + " is not valid JSON: " + error.message());
    }
    if (parsed.type() != typeid(Poco::JSON::Object::Ptr))
        throw ReferralError(label + " must be a JSON object");
    return parsed.extract<Poco::JSON::Object::Ptr>();
}

std::string stringify(const Poco::JSON::Object& object)
{
    std::ostringstream out;
    object.stringify(out);
    return out.str();
}

std::uint64_t attachmentSize(const Poco::JSON::Object& object)
{
    if (!object.has("size"))
        throw ReferralError("an attachment has no member 'size'");
    const auto value = object.get("size");
    if (!value.isInteger())
        throw ReferralError("member 'size' of an attachment must be an integer");
    const auto size = value.convert<std::int64_t>();
    if (size < 0)
        throw ReferralError("member 'size' of an attachment must not be negative");
    return static_cast<std::uint64_t>(size);
}

ManifestAttachment parseAttachment(const Poco::Dynamic::Var& item)
{
    if (item.type() != typeid(Poco::JSON::Object::Ptr))
        throw ReferralError("every attachment must be a JSON object");
    const auto& object = *item.extract<Poco::JSON::Object::Ptr>();
    ManifestAttachment attachment;
    attachment.file = text(object, "file");
    attachment.name = text(object, "name");
    attachment.mediaType = text(object, "media_type");
    attachment.size = attachmentSize(object);
    attachment.sha256 = text(object, "sha256");
    if (!isAttachmentFileName(attachment.file))
        throw ReferralError(
            "attachment file '" + attachment.file + "' must be named attachment-N.cms");
    if (attachment.name.empty() || attachment.name.size() > kMaxNameBytes)
        throw ReferralError("an attachment name must have 1 to 255 bytes");
    if (!isLowerHex(attachment.sha256, 64))
        throw ReferralError(
            "the sha256 of '" + attachment.file + "' must be 64 lower-case hex digits");
    return attachment;
}

} // namespace

bool isAttachmentFileName(std::string_view name)
{
    constexpr std::string_view prefix = "attachment-";
    constexpr std::string_view suffix = ".cms";
    if (!name.starts_with(prefix) || !name.ends_with(suffix))
        return false;
    const auto digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (digits.empty() || digits.size() > 3 || digits[0] == '0')
        return false;
    std::size_t number = 0;
    for (const char digit : digits) {
        if (digit < '0' || digit > '9')
            return false;
        number = number * 10 + static_cast<std::size_t>(digit - '0');
    }
    return number <= kMaxAttachments;
}

std::string toJson(const Manifest& manifest)
{
    Poco::JSON::Object object(Poco::JSON_PRESERVE_KEY_ORDER);
    object.set("schema", std::string(kManifestSchema));
    object.set("referral", manifest.referral);
    object.set("created_at", manifest.createdAt);
    object.set("hotline", manifest.hotline);
    object.set("partner", manifest.partner);
    object.set("report_reference", manifest.reportReference);
    object.set("cover_note", manifest.coverNote);
    Poco::JSON::Object::Ptr fields = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
    for (const auto& [name, value] : manifest.fields)
        fields->set(name, value);
    object.set("fields", fields);
    Poco::JSON::Array::Ptr redacted = new Poco::JSON::Array;
    for (const auto& name : manifest.redacted)
        redacted->add(name);
    object.set("redacted", redacted);
    Poco::JSON::Array::Ptr urls = new Poco::JSON::Array;
    for (const auto& url : manifest.urls)
        urls->add(url);
    object.set("urls", urls);
    Poco::JSON::Array::Ptr attachments = new Poco::JSON::Array;
    for (const auto& attachment : manifest.attachments) {
        Poco::JSON::Object::Ptr item = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
        item->set("file", attachment.file);
        item->set("name", attachment.name);
        item->set("media_type", attachment.mediaType);
        item->set("size", static_cast<Poco::UInt64>(attachment.size));
        item->set("sha256", attachment.sha256);
        attachments->add(item);
    }
    object.set("attachments", attachments);
    return stringify(object);
}

Manifest parseManifest(std::string_view json)
{
    const auto object = parseObject(json, "the manifest");
    if (text(*object, "schema") != kManifestSchema)
        throw ReferralError("the manifest schema must be '" + std::string(kManifestSchema) + "'");
    Manifest manifest;
    manifest.referral = text(*object, "referral");
    if (!isCanonicalUuid(manifest.referral))
        throw ReferralError("member 'referral' must be a UUID in canonical form");
    manifest.createdAt = text(*object, "created_at");
    if (!isUtcTime(manifest.createdAt))
        throw ReferralError("member 'created_at' must be a UTC time such as 2026-01-31T12:00:00Z");
    manifest.hotline = text(*object, "hotline");
    manifest.partner = text(*object, "partner", false);
    manifest.reportReference = text(*object, "report_reference");
    manifest.coverNote = text(*object, "cover_note", false);
    if (object->has("fields")) {
        const auto fields = object->getObject("fields");
        if (!fields)
            throw ReferralError("member 'fields' must be an object");
        if (fields->size() > kMaxFields)
            throw ReferralError(
                "member 'fields' has more than " + std::to_string(kMaxFields) + " members");
        for (const auto& name : fields->getNames())
            manifest.fields[name] = text(*fields, name);
    }
    manifest.redacted = textList(*object, "redacted", kMaxFields);
    manifest.urls = textList(*object, "urls", kMaxUrls);
    const auto attachments = array(*object, "attachments", kMaxAttachments);
    std::set<std::string> files;
    for (std::size_t index = 0; index < attachments->size(); ++index) {
        auto attachment = parseAttachment(attachments->get(static_cast<unsigned>(index)));
        if (!files.insert(attachment.file).second)
            throw ReferralError("attachment file '" + attachment.file + "' is named twice");
        manifest.attachments.push_back(std::move(attachment));
    }
    return manifest;
}

std::string toJson(const Receipt& receipt)
{
    Poco::JSON::Object object(Poco::JSON_PRESERVE_KEY_ORDER);
    object.set("schema", std::string(kReceiptSchema));
    object.set("referral", receipt.referral);
    object.set("manifest_sha256", receipt.manifestSha256);
    object.set("received_at", receipt.receivedAt);
    Poco::JSON::Array::Ptr files = new Poco::JSON::Array;
    for (const auto& file : receipt.files)
        files->add(file);
    object.set("files", files);
    return stringify(object);
}

Receipt parseReceipt(std::string_view json)
{
    const auto object = parseObject(json, "the receipt");
    if (text(*object, "schema") != kReceiptSchema)
        throw ReferralError("the receipt schema must be '" + std::string(kReceiptSchema) + "'");
    Receipt receipt;
    receipt.referral = text(*object, "referral");
    if (!isCanonicalUuid(receipt.referral))
        throw ReferralError("member 'referral' must be a UUID in canonical form");
    receipt.manifestSha256 = text(*object, "manifest_sha256");
    if (!isLowerHex(receipt.manifestSha256, 64))
        throw ReferralError("member 'manifest_sha256' must be 64 lower-case hex digits");
    receipt.receivedAt = text(*object, "received_at");
    receipt.files = textList(*object, "files", kMaxAttachments + 1);
    return receipt;
}

} // namespace meldpunt::referral
