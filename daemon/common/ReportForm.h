#pragma once

#include "FormData.h"

#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace meldpunt {

enum class FieldKind { Text, TextArea, Choice, Country, Checkbox };

enum class FieldRequirement { Optional, Required };

enum class FieldProblem {
    Missing,          // a mandatory field is empty
    TooLong,          // over the field's limit in characters
    ControlCharacter, // NUL or a control character other than tab and line breaks
    InvalidChoice,    // not one of the offered options
    InvalidEmail,     // not shaped like an e-mail address
    ContactMissing,   // "with contact details" chosen, but no e-mail or phone given
};

struct FieldSpec {
    std::string_view name;
    FieldKind kind;
    FieldRequirement requirement;
    std::size_t maxCharacters;
    // The values a Choice field offers; an empty value always means "no
    // answer" and is allowed for optional fields.
    std::span<const std::string_view> options = {};

    bool required() const { return requirement == FieldRequirement::Required; }
};

// The report form's fields, their rules and their conversion to the JSON
// that goes into a spool entry. The questions follow what, where, when,
// who, how and why it is suspicious; only what happened, the country, the
// category, the anonymity choice and consent are mandatory, so that a
// hesitant reporter can send what little they know. Text is kept
// byte-exact; nothing is trimmed or normalised.
class ReportForm {
public:
    static const std::vector<FieldSpec>& fields();
    static const FieldSpec* field(std::string_view name);
    static std::span<const std::string_view> categories();
    static std::span<const std::string_view> contactChoices();

    // Checks `form` against the field rules. `countryCodes` holds the
    // ISO 3166-1 alpha-2 codes offered, plus "unknown". `categories`, when
    // given, holds the categories offered instead of the form's own (the
    // ones meldpuntd published). Returns one problem per field that has
    // any; empty when the form can be sent.
    static std::map<std::string, FieldProblem> validate(const FormData& form,
        const std::set<std::string>& countryCodes, const std::set<std::string>* categories = nullptr);

    // Serialises the known fields, the language and the receipt time
    // (UTC, ISO 8601) as a JSON object. Unknown fields are dropped, and so
    // are the contact details of a reporter who chose anonymity.
    static std::string toJson(const FormData& form, std::string_view language,
        std::string_view receivedAtUtc);

    // True for the fields that identify the reporter: name, e-mail, phone.
    static bool isContactDetail(std::string_view name);
};

} // namespace meldpunt
