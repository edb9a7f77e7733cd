#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace meldpunt::tpm {

// The PCRs that a sealed key is bound to: one bank and a set of indices.
// The text form is "<bank>:<index>[,<index>...]", for example "sha256:7" or
// "sha256:0,2,7".
struct PcrSelection {
    std::string bank = "sha256";   // "sha256" or "sha1"
    std::vector<unsigned> indices; // sorted, unique, each 0..23

    // Parses the text form. Indices may be given in any order and are stored
    // sorted. Throws std::invalid_argument saying what is wrong and showing
    // the expected form.
    static PcrSelection parse(std::string_view text);

    // Formats the selection in the text form that parse() accepts.
    std::string toString() const;

    bool operator==(const PcrSelection&) const = default;
};

} // namespace meldpunt::tpm
