#include "PublishedPartners.h"

#include "Crypto.h"
#include "FileSystem.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <sstream>
#include <stdexcept>

namespace meldpunt {

namespace {

constexpr const char* kFileName = "partners.json";
constexpr std::size_t kMaxFileBytes = 1024 * 1024;

} // namespace

std::string serializePartners(const std::vector<PublicPartner>& partners)
{
    Poco::JSON::Object root;
    root.set("format", "meldpunt-partners");
    root.set("version", 1);
    Poco::JSON::Array list;
    for (const auto& partner : partners) {
        Poco::JSON::Object item;
        item.set("name", partner.name);
        item.set("kind", partner.kind);
        Poco::JSON::Array countries;
        for (const auto& code : partner.countries)
            countries.add(code);
        item.set("countries", countries);
        item.set("website", partner.website);
        list.add(item);
    }
    root.set("partners", list);
    std::ostringstream out;
    root.stringify(out);
    return out.str();
}

std::vector<PublicPartner> parsePartners(const std::string& json)
{
    try {
        Poco::JSON::Parser parser;
        const auto root = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
        if (root->optValue<std::string>("format", "") != "meldpunt-partners"
            || root->optValue<int>("version", 0) != 1)
            throw std::runtime_error("the partners file has an unknown format");
        std::vector<PublicPartner> partners;
        const auto list = root->getArray("partners");
        for (std::size_t index = 0; list && index < list->size(); ++index) {
            const auto item = list->getObject(static_cast<unsigned>(index));
            PublicPartner partner;
            partner.name = item->getValue<std::string>("name");
            partner.kind = item->getValue<std::string>("kind");
            partner.website = item->optValue<std::string>("website", "");
            const auto countries = item->getArray("countries");
            for (std::size_t each = 0; countries && each < countries->size(); ++each)
                partner.countries.push_back(
                    countries->getElement<std::string>(static_cast<unsigned>(each)));
            partners.push_back(std::move(partner));
        }
        return partners;
    } catch (const std::runtime_error&) {
        throw;
    } catch (const std::exception& error) {
        throw std::runtime_error(std::string("the partners file cannot be read: ") + error.what());
    }
}

void writePublishedPartners(
    const std::filesystem::path& publishFolder, const std::vector<PublicPartner>& partners)
{
    const std::string text = serializePartners(partners);
    fsutil::writeFileAtomically(publishFolder / kFileName, crypto::asBytes(text), 0640);
}

std::vector<PublicPartner> readPublishedPartners(const std::filesystem::path& publishFolder)
{
    try {
        return parsePartners(fsutil::readSmallFile(publishFolder / kFileName, kMaxFileBytes));
    } catch (const std::exception&) {
        // Not yet published, or unreadable: the pages then show no list.
        return {};
    }
}

} // namespace meldpunt
