#pragma once

#include "FormData.h"
#include "ReporterCode.h"
#include "SecretBytes.h"

#include <chrono>
#include <filesystem>
#include <string>

namespace meldpunt::site {

// Drafts of the report form, saved by the reporter to continue later.
// Each draft is one file in the drafts folder, encrypted with AES-256-GCM
// under a key derived from its resume code. Its name is a keyed hash of
// the code, with a per-box key kept in the same folder, so neither the
// file nor its content can be found without the code. docs/draft-format.md
// describes the file. An expired draft is overwritten by a marker without
// content, kept for one more lifetime so that the resume page can report
// the expiry, and then removed.
//
// Thread-safe: every call works on whole files written atomically.
// Functions throw std::system_error when the folder cannot be read or
// written.
class DraftStore {
public:
    using Clock = std::chrono::system_clock;

    struct Draft {
        std::string language;
        FormData fields;
        Clock::time_point expires;
    };

    enum class Lookup {
        Found,
        NotFound,   // no draft for this code: a wrong code, or one expired long ago
        Expired,    // the draft existed, but its lifetime ended
        Unreadable, // the file is damaged or was changed
    };

    // Opens the store in `folder`, creating its hashing key on first use.
    DraftStore(std::filesystem::path folder, std::chrono::seconds lifetime);

    std::chrono::seconds lifetime() const { return lifetime_; }

    // Saves `fields` under `code`, replacing any draft saved before with
    // the same code. Returns when it expires.
    Clock::time_point save(const ReporterCode& code, const std::string& language,
        const FormData& fields, Clock::time_point now = Clock::now());

    // Reads the draft of `code` into `draft` when the lookup is Found.
    Lookup load(const ReporterCode& code, Draft& draft, Clock::time_point now = Clock::now()) const;

    // Deletes the draft of `code`, if there is one (after a report was sent).
    void remove(const ReporterCode& code);

    // Replaces expired drafts by markers and removes old markers and files
    // that are no drafts. Returns the number of files changed or removed.
    std::size_t sweep(Clock::time_point now = Clock::now());

    // The file a code's draft lives in, whether it exists or not.
    std::filesystem::path pathFor(const ReporterCode& code) const;

private:
    std::filesystem::path folder_;
    std::chrono::seconds lifetime_;
    SecretBytes nameKey_;
};

} // namespace meldpunt::site
