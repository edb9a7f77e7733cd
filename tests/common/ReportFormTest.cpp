#include "ReportForm.h"
#include "TestData.h"

#include <catch2/catch_test_macros.hpp>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using meldpunt::FieldProblem;
using meldpunt::FormData;
using meldpunt::ReportForm;

using namespace std::string_literals;

using meldpunt::test::hostileInputs;

namespace {



const std::set<std::string> kCountries = {"BE", "CO", "DE", "FR", "GE", "MG", "NL", "TH", "unknown"};

// The fields of a form that passes validation, in the order a browser
// sends them.
std::vector<std::pair<std::string, std::string>> validFields()
{
    return {
        {"what", "Een man nam foto's van kinderen bij het zwembad."},
        {"country", "TH"},
        {"place", "Pattaya"},
        {"when", "2026-07-14T16:30"},
        {"category", "travel_tourism"},
        {"contact", "anonymous"},
        {"name", ""},
        {"email", ""},
        {"phone", ""},
        {"consent", "yes"},
    };
}

FormData makeForm(const std::vector<std::pair<std::string, std::string>>& fields)
{
    FormData form;
    for (const auto& [name, value] : fields)
        form.add(name, value);
    return form;
}

// Returns the valid form with one field replaced, or removed when
// `value` is nullopt.
FormData formWith(const std::string& name, const std::optional<std::string>& value)
{
    std::vector<std::pair<std::string, std::string>> fields;
    bool replaced = false;
    for (auto field : validFields()) {
        if (field.first == name) {
            replaced = true;
            if (!value)
                continue;
            field.second = *value;
        }
        fields.push_back(field);
    }
    if (!replaced && value)
        fields.emplace_back(name, *value);
    return makeForm(fields);
}

FormData formWith(const std::vector<std::pair<std::string, std::string>>& changes)
{
    auto fields = validFields();
    for (const auto& [name, value] : changes) {
        bool found = false;
        for (auto& field : fields) {
            if (field.first == name) {
                field.second = value;
                found = true;
            }
        }
        if (!found)
            fields.emplace_back(name, value);
    }
    return makeForm(fields);
}

std::optional<FieldProblem> problemOf(const FormData& form, const std::string& field)
{
    const auto problems = ReportForm::validate(form, kCountries);
    const auto found = problems.find(field);
    if (found == problems.end())
        return std::nullopt;
    return found->second;
}

Poco::JSON::Object::Ptr parseJson(const std::string& json)
{
    Poco::JSON::Parser parser;
    return parser.parse(json).extract<Poco::JSON::Object::Ptr>();
}

std::string repeated(const std::string& unit, std::size_t count)
{
    std::string text;
    for (std::size_t i = 0; i < count; ++i)
        text += unit;
    return text;
}

// The names of every free-text field of the form, so that each check below
// covers a field the moment it is added.
std::vector<std::string> textFields()
{
    std::vector<std::string> names;
    for (const auto& spec : ReportForm::fields()) {
        if (spec.kind == meldpunt::FieldKind::Text || spec.kind == meldpunt::FieldKind::TextArea)
            names.emplace_back(spec.name);
    }
    return names;
}

std::size_t limitOf(std::string_view field)
{
    for (const auto& spec : ReportForm::fields()) {
        if (spec.name == field)
            return spec.maxCharacters;
    }
    FAIL("no field named " << field);
    return 0;
}

std::string mapCategory(const std::string& category)
{
    static const std::map<std::string, std::string> categories = {
        {"travel-and-tourism", "travel_tourism"},
        {"online-abuse-material", "online_material"},
        {"other-violence", "other_violence"},
        {"not-sure", "not_sure"},
    };
    const auto found = categories.find(category);
    REQUIRE(found != categories.end());
    return found->second;
}

struct SampleReport {
    std::string language;
    FormData form;
    bool anonymous;
};

// Returns the fictional reports of tests/data/reports.json mapped onto the
// form. A report made online has no country, so it gets the "unknown" choice.
std::vector<SampleReport> sampleReports()
{
    const std::string text = [] {
        std::ifstream in(std::string(MELDPUNT_SOURCE_DIR) + "/tests/data/reports.json", std::ios::binary);
        std::ostringstream content;
        content << in.rdbuf();
        return content.str();
    }();
    REQUIRE_FALSE(text.empty());
    const auto root = parseJson(text);
    const auto reports = root->getArray("reports");
    REQUIRE(reports);
    std::vector<SampleReport> samples;
    for (std::size_t i = 0; i < reports->size(); ++i) {
        const auto report = reports->getObject(static_cast<unsigned>(i));
        const auto where = report->getObject("where");
        SampleReport sample;
        sample.language = report->getValue<std::string>("language");
        sample.anonymous = report->getValue<bool>("anonymous");
        const std::string country = where->getValue<std::string>("country");
        sample.form.add("what", report->getValue<std::string>("what"));
        sample.form.add("country", country.empty() ? "unknown" : country);
        sample.form.add("place", where->getValue<std::string>("place"));
        sample.form.add("when", report->getValue<std::string>("when"));
        sample.form.add("category", mapCategory(report->getValue<std::string>("category")));
        sample.form.add("contact", sample.anonymous ? "anonymous" : "contact");
        if (!sample.anonymous) {
            const auto contact = report->getObject("contact");
            sample.form.add("name", contact->optValue<std::string>("name", ""));
            sample.form.add("email", contact->optValue<std::string>("email", ""));
            sample.form.add("phone", contact->optValue<std::string>("phone", ""));
        }
        sample.form.add("consent", "yes");
        samples.push_back(std::move(sample));
    }
    return samples;
}

} // namespace

TEST_CASE("Complete report forms pass validation", "[reportform]")
{
    SECTION("A complete anonymous form has no problems")
    {
        CHECK(ReportForm::validate(makeForm(validFields()), kCountries).empty());
    }

    SECTION("A complete form with contact details has no problems")
    {
        const FormData form = formWith({{"contact", "contact"}, {"name", "J. de Vries"},
            {"email", "melder1@example.org"}, {"phone", "+31 6 00000000"}});
        CHECK(ReportForm::validate(form, kCountries).empty());
    }

    SECTION("Optional fields may be absent")
    {
        const FormData form = makeForm({{"what", "x"}, {"country", "unknown"}, {"category", "not_sure"},
            {"contact", "anonymous"}, {"consent", "yes"}});
        CHECK(ReportForm::validate(form, kCountries).empty());
    }

    SECTION("Every category and contact choice is accepted")
    {
        for (const auto category : ReportForm::categories())
            CHECK(ReportForm::validate(formWith("category", std::string(category)), kCountries).empty());
        CHECK(ReportForm::validate(formWith({{"contact", "contact"}, {"phone", "112"}}), kCountries).empty());
    }

    SECTION("Tabs and line breaks in text are accepted")
    {
        CHECK(ReportForm::validate(formWith("what", "line one\r\nline two\n\ttabbed"), kCountries).empty());
    }
}

TEST_CASE("Mandatory report fields are required", "[reportform]")
{
    for (const char* field : {"what", "country", "category", "contact", "consent"}) {
        DYNAMIC_SECTION("A missing " << field << " field is Missing")
        {
            CHECK(problemOf(formWith(field, std::nullopt), field) == FieldProblem::Missing);
        }
        DYNAMIC_SECTION("An empty " << field << " field is Missing")
        {
            CHECK(problemOf(formWith(field, ""), field) == FieldProblem::Missing);
        }
    }

    SECTION("White space alone in the description is Missing")
    {
        CHECK(problemOf(formWith("what", " \t\r\n  "), "what") == FieldProblem::Missing);
    }

    SECTION("Empty optional text fields are no problem")
    {
        for (const char* field : {"place", "when", "name", "email", "phone"})
            CHECK_FALSE(problemOf(formWith(field, std::nullopt), field).has_value());
    }

    SECTION("An empty form reports every mandatory field")
    {
        const auto problems = ReportForm::validate(FormData{}, kCountries);
        CHECK(problems.size() == 5);
        for (const char* field : {"what", "country", "category", "contact", "consent"})
            CHECK(problems.at(field) == FieldProblem::Missing);
    }
}

TEST_CASE("Control characters in text are rejected", "[reportform]")
{
    for (const std::string& field : textFields()) {
        DYNAMIC_SECTION("A NUL in " << field << " is ControlCharacter")
        {
            const FormData form = formWith({{"contact", "contact"}, {"email", "a@example.org"},
                {field, "before\0after"s}});
            CHECK(problemOf(form, field) == FieldProblem::ControlCharacter);
        }
    }

    SECTION("Escape, DEL and C1 controls are ControlCharacter")
    {
        for (const std::string& text : {"a\x1b[31mred"s, "a\x7f"s, "next\xc2\x85line"s}) {
            INFO(text);
            CHECK(problemOf(formWith("place", text), "place") == FieldProblem::ControlCharacter);
        }
    }
}

TEST_CASE("Over-long report text is rejected", "[reportform]")
{
    for (const std::string& field : textFields()) {
        const std::size_t limit = limitOf(field);
        DYNAMIC_SECTION("ASCII text one over the " << field << " limit of " << limit << " is TooLong")
        {
            // Contact details are checked only when the reporter leaves them.
            const FormData form = formWith({{"contact", "contact"}, {field, std::string(limit + 1, 'a')}});
            CHECK(problemOf(form, field) == FieldProblem::TooLong);
        }
        DYNAMIC_SECTION("Two-byte text at the " << field << " limit is not TooLong")
        {
            const auto problem = problemOf(formWith(field, repeated("\xc3\xa9", limit)), field);
            CHECK(problem != FieldProblem::TooLong);
        }
    }

    SECTION("A description of four-byte characters at the limit passes")
    {
        const std::string text = repeated("\xf0\x9f\xa7\x92", limitOf("what"));
        CHECK(ReportForm::validate(formWith("what", text), kCountries).empty());
    }

    SECTION("A description of four-byte characters over the limit is TooLong")
    {
        const std::string text = repeated("\xf0\x9f\xa7\x92", limitOf("what") + 1);
        CHECK(problemOf(formWith("what", text), "what") == FieldProblem::TooLong);
    }

    SECTION("A place of two-byte characters at the limit passes")
    {
        CHECK(ReportForm::validate(formWith("place", repeated("\xc3\xa9", limitOf("place"))), kCountries).empty());
    }
}

TEST_CASE("Unknown choices are rejected", "[reportform]")
{
    SECTION("An unknown country is InvalidChoice")
    {
        for (const char* value : {"XX", "nl", "Netherlands", "unknown "}) {
            INFO(value);
            CHECK(problemOf(formWith("country", value), "country") == FieldProblem::InvalidChoice);
        }
    }

    SECTION("An unknown category is InvalidChoice")
    {
        for (const char* value : {"travel-and-tourism", "TRAVEL_TOURISM", "other"}) {
            INFO(value);
            CHECK(problemOf(formWith("category", value), "category") == FieldProblem::InvalidChoice);
        }
    }

    SECTION("An unknown contact choice is InvalidChoice")
    {
        for (const char* value : {"email", "Anonymous", "yes"}) {
            INFO(value);
            CHECK(problemOf(formWith("contact", value), "contact") == FieldProblem::InvalidChoice);
        }
    }

    SECTION("Consent other than yes is InvalidChoice")
    {
        for (const char* value : {"no", "on", "YES"}) {
            INFO(value);
            CHECK(problemOf(formWith("consent", value), "consent") == FieldProblem::InvalidChoice);
        }
    }
}

TEST_CASE("Optional choices accept their options and nothing else", "[reportform]")
{
    for (const auto& spec : ReportForm::fields()) {
        if (spec.kind != meldpunt::FieldKind::Choice || spec.required())
            continue;
        const std::string field(spec.name);
        DYNAMIC_SECTION("Every option of " << field << " passes, and so does no answer")
        {
            REQUIRE_FALSE(spec.options.empty());
            for (const auto option : spec.options)
                CHECK_FALSE(problemOf(formWith(field, std::string(option)), field).has_value());
            CHECK_FALSE(problemOf(formWith(field, ""), field).has_value());
        }
        DYNAMIC_SECTION("An unknown value of " << field << " is InvalidChoice")
        {
            for (const char* value : {"<script>", "Unknown", "0"}) {
                INFO(value);
                CHECK(problemOf(formWith(field, value), field) == FieldProblem::InvalidChoice);
            }
        }
    }
}

TEST_CASE("Contact details are checked", "[reportform]")
{
    SECTION("Contact without e-mail or phone is ContactMissing")
    {
        CHECK(problemOf(formWith("contact", "contact"), "email") == FieldProblem::ContactMissing);
    }

    SECTION("Contact with white space only is ContactMissing")
    {
        const FormData form = formWith({{"contact", "contact"}, {"email", "  "}, {"phone", "\t"}});
        CHECK(problemOf(form, "email") == FieldProblem::ContactMissing);
    }

    SECTION("Contact with only a phone number passes")
    {
        CHECK(ReportForm::validate(formWith({{"contact", "contact"}, {"phone", "+31 6 00000000"}}), kCountries).empty());
    }

    SECTION("Contact with only an e-mail address passes")
    {
        CHECK(ReportForm::validate(formWith({{"contact", "contact"}, {"email", "a@example.org"}}), kCountries).empty());
    }

    SECTION("A malformed e-mail address is InvalidEmail")
    {
        for (const char* email : {"melder", "@example.org", "melder@", "melder@example", "melder@.org",
                 "melder@example.", "melder@@example.org", "mel@der@example.org", "mel der@example.org",
                 "melder@example.org<script>", "\"melder\"@example.org"}) {
            INFO(email);
            const FormData form = formWith({{"contact", "contact"}, {"email", email}});
            CHECK(problemOf(form, "email") == FieldProblem::InvalidEmail);
        }
    }

    SECTION("Plausible e-mail addresses pass")
    {
        for (const char* email : {"melder1@example.org", "a.b+c@sub.example.co.uk", "x@y.z"}) {
            INFO(email);
            CHECK_FALSE(problemOf(formWith({{"contact", "contact"}, {"email", email}}), "email").has_value());
        }
    }
}

TEST_CASE("Report JSON keeps text exactly", "[reportform]")
{
    const auto inputs = hostileInputs();
    REQUIRE(inputs.size() >= 20);

    SECTION("Every hostile input survives in every text field")
    {
        for (const auto& input : inputs) {
            INFO("input: " << input);
            std::vector<std::pair<std::string, std::string>> changes = {{"contact", "contact"}};
            for (const auto& field : textFields())
                changes.emplace_back(field, input);
            const auto root = parseJson(ReportForm::toJson(formWith(changes), "nl", "2026-07-14T16:30:00Z"));
            const auto fields = root->getObject("fields");
            REQUIRE(fields);
            for (const auto& field : textFields())
                CHECK(fields->getValue<std::string>(field) == input);
        }
    }

    SECTION("The envelope names the schema, language, time and channel")
    {
        const auto root = parseJson(ReportForm::toJson(makeForm(validFields()), "fr", "2026-08-03T21:00:00Z"));
        CHECK(root->getValue<int>("schema") == 1);
        CHECK(root->getValue<std::string>("language") == "fr");
        CHECK(root->getValue<std::string>("received_at") == "2026-08-03T21:00:00Z");
        CHECK(root->getValue<std::string>("channel") == "form");
        const auto fields = root->getObject("fields");
        REQUIRE(fields);
        CHECK(fields->getValue<std::string>("category") == "travel_tourism");
        CHECK(fields->getValue<std::string>("consent") == "yes");
    }

    SECTION("Contact details are dropped for an anonymous reporter")
    {
        const FormData form = formWith({{"contact", "anonymous"}, {"name", "Typed Before"},
            {"email", "typed@example.org"}, {"phone", "0612345678"}});
        const std::string json = ReportForm::toJson(form, "nl", "2026-07-14T16:30:00Z");
        const auto fields = parseJson(json)->getObject("fields");
        REQUIRE(fields);
        CHECK_FALSE(fields->has("name"));
        CHECK_FALSE(fields->has("email"));
        CHECK_FALSE(fields->has("phone"));
        CHECK(json.find("Typed Before") == std::string::npos);
        CHECK(json.find("typed@example.org") == std::string::npos);
        CHECK(json.find("0612345678") == std::string::npos);
    }

    SECTION("Contact details are kept when the reporter chose contact")
    {
        const FormData form = formWith({{"contact", "contact"}, {"name", "N"}, {"email", "e@example.org"}, {"phone", "1"}});
        const auto fields = parseJson(ReportForm::toJson(form, "nl", "t"))->getObject("fields");
        CHECK(fields->getValue<std::string>("name") == "N");
        CHECK(fields->getValue<std::string>("email") == "e@example.org");
        CHECK(fields->getValue<std::string>("phone") == "1");
    }

    SECTION("Unknown fields are dropped")
    {
        const FormData form = formWith({{"evil", "payload"}, {"__proto__", "x"}});
        const std::string json = ReportForm::toJson(form, "nl", "t");
        const auto fields = parseJson(json)->getObject("fields");
        CHECK_FALSE(fields->has("evil"));
        CHECK_FALSE(fields->has("__proto__"));
        CHECK(json.find("payload") == std::string::npos);
    }
}

TEST_CASE("Sample reports validate and round trip", "[reportform]")
{
    const auto samples = sampleReports();
    REQUIRE(samples.size() == 6);

    for (std::size_t i = 0; i < samples.size(); ++i) {
        const auto& sample = samples[i];
        DYNAMIC_SECTION("Sample report " << i + 1 << " (" << sample.language << ") validates")
        {
            const auto problems = ReportForm::validate(sample.form, kCountries);
            for (const auto& [field, problem] : problems)
                UNSCOPED_INFO(field << " has problem " << static_cast<int>(problem));
            CHECK(problems.empty());
        }
        DYNAMIC_SECTION("Sample report " << i + 1 << " (" << sample.language << ") round trips through JSON")
        {
            const auto root = parseJson(ReportForm::toJson(sample.form, sample.language, "2026-12-01T10:00:00Z"));
            CHECK(root->getValue<std::string>("language") == sample.language);
            const auto fields = root->getObject("fields");
            REQUIRE(fields);
            for (const char* field : {"what", "country", "place", "when", "category", "contact", "consent"})
                CHECK(fields->getValue<std::string>(field) == sample.form.get(field));
            for (const char* field : {"name", "email", "phone"}) {
                if (sample.anonymous)
                    CHECK_FALSE(fields->has(field));
                else
                    CHECK(fields->getValue<std::string>(field) == sample.form.get(field));
            }
        }
    }
}

TEST_CASE("Anonymous reports skip contact checks", "[reportform]")
{
    // The details are dropped unread, so they must not stop the report.
    const FormData form = formWith({{"contact", "anonymous"}, {"email", "jan@"},
        {"phone", std::string(80, '1')}, {"name", "before\0after"s}});
    CHECK(ReportForm::validate(form, kCountries).empty());
}
