#include "PcrSelection.h"

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace meldpunt::tpm {

namespace {

// PC Client TPMs implement 24 PCRs per bank.
constexpr unsigned pcrCount = 24;

[[noreturn]] void reject(std::string_view text, const std::string& problem)
{
    throw std::invalid_argument("invalid PCR selection \"" + std::string(text) + "\": " + problem +
        "; expected a bank and PCR indices such as sha256:7 or "
        "sha256:0,2,7");
}

unsigned parseIndex(std::string_view text, std::string_view item)
{
    if (item.empty())
        reject(text, "an index in the list is empty");
    unsigned index = 0;
    const auto* end = item.data() + item.size();
    const auto [stop, error] = std::from_chars(item.data(), end, index);
    if (error != std::errc() || stop != end)
        reject(text, "\"" + std::string(item) + "\" is not a PCR index");
    if (index >= pcrCount)
        reject(text, "PCR index " + std::string(item) + " is out of range 0..23");
    return index;
}

} // namespace

PcrSelection PcrSelection::parse(std::string_view text)
{
    if (text.empty())
        reject(text, "the text is empty");
    const auto colon = text.find(':');
    if (colon == std::string_view::npos)
        reject(text, "the bank and the indices must be separated by a colon");

    PcrSelection selection;
    selection.bank = std::string(text.substr(0, colon));
    if (selection.bank != "sha256" && selection.bank != "sha1")
        reject(text, "the bank \"" + selection.bank + "\" is not sha256 or sha1");

    std::string_view list = text.substr(colon + 1);
    if (list.empty())
        reject(text, "no PCR index follows the colon");
    while (true) {
        const auto comma = list.find(',');
        selection.indices.push_back(parseIndex(text, list.substr(0, comma)));
        if (comma == std::string_view::npos)
            break;
        list.remove_prefix(comma + 1);
    }

    std::sort(selection.indices.begin(), selection.indices.end());
    const auto duplicate = std::adjacent_find(selection.indices.begin(), selection.indices.end());
    if (duplicate != selection.indices.end())
        reject(text, "PCR index " + std::to_string(*duplicate) + " is listed twice");
    return selection;
}

std::string PcrSelection::toString() const
{
    std::string text = bank + ":";
    for (std::size_t i = 0; i < indices.size(); ++i) {
        if (i > 0)
            text += ',';
        text += std::to_string(indices[i]);
    }
    return text;
}

} // namespace meldpunt::tpm
