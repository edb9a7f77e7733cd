#include "SiteSetup.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace meldpunt::staff {

namespace {

constexpr std::size_t kMaxNameLength = 120;
constexpr std::size_t kMaxEmailLength = 254;

std::string trimmed(const std::string& text)
{
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos)
        return {};
    return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

// A plain check of an address's shape: one @, a local part, and a domain
// with a dot and no spaces. Delivery is what proves an address.
bool looksLikeEmail(const std::string& address)
{
    const auto at = address.find('@');
    if (at == std::string::npos || at == 0 || address.find('@', at + 1) != std::string::npos)
        return false;
    const std::string domain = address.substr(at + 1);
    if (domain.size() < 3 || domain.find('.') == std::string::npos || domain.front() == '.' || domain.back() == '.')
        return false;
    return std::none_of(address.begin(), address.end(),
        [](unsigned char c) { return std::isspace(c) || c < 0x20 || c == '<' || c == '>' || c == '"'; });
}

// Minutes after midnight from "HH:MM", or -1.
int parseClock(const std::string& text)
{
    if (text.size() != 5 || text[2] != ':' || !std::isdigit(static_cast<unsigned char>(text[0]))
        || !std::isdigit(static_cast<unsigned char>(text[1])) || !std::isdigit(static_cast<unsigned char>(text[3]))
        || !std::isdigit(static_cast<unsigned char>(text[4])))
        return -1;
    const int hours = (text[0] - '0') * 10 + (text[1] - '0');
    const int minutes = (text[3] - '0') * 10 + (text[4] - '0');
    if (hours > 23 || minutes > 59)
        return -1;
    return hours * 60 + minutes;
}

std::string storedValue(storage::Database& database, const std::string& key)
{
    auto query = database.prepare("SELECT value FROM site_settings WHERE key = ?");
    query.bind(1, key);
    return query.step() ? query.columnText(0) : std::string();
}

} // namespace

std::string formatClock(int minutes)
{
    const int hours = minutes / 60;
    const int rest = minutes % 60;
    std::string text = (hours < 10 ? "0" : "") + std::to_string(hours) + ":" + (rest < 10 ? "0" : "") + std::to_string(rest);
    return text;
}

std::string formatDays(const std::set<int>& days)
{
    std::string text;
    for (const int day : days)
        text += (text.empty() ? "" : ",") + std::to_string(day);
    return text;
}

std::vector<SetupFieldError> readSiteForm(const FormData& form, const std::filesystem::path& zoneInfoFolder,
    SiteDetails& details)
{
    std::vector<SetupFieldError> errors;

    if (form.has("organisation")) {
        const std::string name = trimmed(form.get("organisation"));
        if (std::any_of(name.begin(), name.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
            errors.push_back({"organisation", "The organisation's name contains a line break or a control character. "
                                              "Type it on one line."});
        else if (name.size() > kMaxNameLength)
            errors.push_back({"organisation",
                "The organisation's name is longer than " + std::to_string(kMaxNameLength)
                    + " characters. Shorten it, for example to the name in the hotline's logo."});
        else
            details.organisationName = name;
    }

    if (form.has("contact_email")) {
        const std::string address = trimmed(form.get("contact_email"));
        if (address.size() > kMaxEmailLength || (!address.empty() && !looksLikeEmail(address)))
            errors.push_back({"contact_email",
                "The contact address is not an e-mail address. Type one such as hotline@example.org, or leave the "
                "field empty."});
        else
            details.contactEmail = address;
    }

    if (form.has("time_zone")) {
        const std::string zone = trimmed(form.get("time_zone"));
        WorkingCalendar candidate = details.calendar;
        candidate.timeZone = zone;
        bool valid = !zone.empty() && zone.find("..") == std::string::npos && zone.front() != '/';
        if (valid) {
            try {
                TriageDeadline check(candidate, zoneInfoFolder);
            } catch (const std::exception&) {
                valid = false;
            }
        }
        if (!valid)
            errors.push_back({"time_zone",
                "'" + zone
                    + "' is not a time zone this box knows. Type a name from the tz database, such as "
                      "Europe/Amsterdam or Europe/Brussels."});
        else
            details.calendar.timeZone = zone;
    }

    // The checkboxes send one field per ticked day, so a form without any
    // ticked day sends only the marker field.
    if (form.has("working_days_sent")) {
        std::set<int> days;
        bool malformed = false;
        for (const auto& value : form.all("working_day")) {
            if (value.size() == 1 && value[0] >= '1' && value[0] <= '7')
                days.insert(value[0] - '0');
            else
                malformed = true;
        }
        if (malformed)
            errors.push_back({"working_days", "The working days could not be read. Open the page again and tick them."});
        else if (days.empty())
            errors.push_back({"working_days",
                "Tick at least one working day: triage deadlines are counted in working days."});
        else
            details.calendar.workingDays = days;
    }

    if (form.has("end_of_day")) {
        const int minutes = parseClock(trimmed(form.get("end_of_day")));
        if (minutes < 0)
            errors.push_back({"end_of_day", "The end of the working day is not a time. Type it as HH:MM, such as 17:00."});
        else
            details.calendar.endOfDayMinutes = minutes;
    }
    return errors;
}

void storeSiteDetails(storage::Database& database, const SiteDetails& details)
{
    const std::pair<std::string, std::string> values[] = {
        {"organisation_name", details.organisationName},
        {"contact_email", details.contactEmail},
        {"time_zone", details.calendar.timeZone},
        {"working_days", formatDays(details.calendar.workingDays)},
        {"end_of_working_day", formatClock(details.calendar.endOfDayMinutes)},
    };
    for (const auto& [key, value] : values)
        database.prepare("INSERT INTO site_settings (key, value) VALUES (?, ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(1, key)
            .bind(2, value)
            .run();
}

SiteDetails loadSiteDetails(storage::Database& database, const SiteDetails& defaults)
{
    SiteDetails details = defaults;
    if (const auto name = storedValue(database, "organisation_name"); !name.empty())
        details.organisationName = name;
    details.contactEmail = storedValue(database, "contact_email");
    if (details.contactEmail.empty())
        details.contactEmail = defaults.contactEmail;
    if (const auto zone = storedValue(database, "time_zone"); !zone.empty())
        details.calendar.timeZone = zone;
    if (const auto days = storedValue(database, "working_days"); !days.empty()) {
        std::set<int> parsed;
        for (const char c : days)
            if (c >= '1' && c <= '7')
                parsed.insert(c - '0');
        if (!parsed.empty())
            details.calendar.workingDays = parsed;
    }
    if (const int minutes = parseClock(storedValue(database, "end_of_working_day")); minutes >= 0)
        details.calendar.endOfDayMinutes = minutes;
    return details;
}

} // namespace meldpunt::staff
