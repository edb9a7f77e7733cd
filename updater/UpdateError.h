#pragma once

#include <stdexcept>
#include <string>

namespace meldpunt::updater {

// A rejected bundle or a failed install step. The message is a full
// sentence for the technician: what failed, on which value, and what to do.
class UpdateError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

} // namespace meldpunt::updater
