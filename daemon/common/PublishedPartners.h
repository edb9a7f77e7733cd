#pragma once

// The partners file that meldpuntd publishes for meldpunt-public: what
// the public partner page and the form's routing hint show, and nothing
// else. It never holds endpoints, certificates or keys.

#include <filesystem>
#include <string>
#include <vector>

namespace meldpunt {

struct PublicPartner {
    std::string name;
    std::string kind; // police, hotline or other
    std::vector<std::string> countries; // ISO 3166-1 alpha-2
    std::string website; // https URL or empty
};

std::string serializePartners(const std::vector<PublicPartner>& partners);
// Throws std::runtime_error when the text is not a partners file.
std::vector<PublicPartner> parsePartners(const std::string& json);

// Writes publish/partners.json atomically, mode 0640.
void writePublishedPartners(
    const std::filesystem::path& publishFolder, const std::vector<PublicPartner>& partners);
// The published partners; empty when none are published or the file
// cannot be read.
std::vector<PublicPartner> readPublishedPartners(const std::filesystem::path& publishFolder);

} // namespace meldpunt
