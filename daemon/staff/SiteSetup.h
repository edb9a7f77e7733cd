#pragma once

#include "Database.h"
#include "FormData.h"
#include "TriageDeadline.h"

#include <filesystem>
#include <string>
#include <vector>

namespace meldpunt::staff {

// The organisation's details that the first admin enters on the setup
// page, with the calendar that triage deadlines are counted in.
struct SiteDetails {
    std::string organisationName;
    std::string contactEmail; // may be empty
    WorkingCalendar calendar;
};

// A setup form field that cannot be used: its name in the form and a
// message that states what is wrong and what to do.
struct SetupFieldError {
    std::string field;
    std::string message;
};

// Reads the site fields of the setup form over `defaults`. A field the
// form does not send keeps its default; a field it sends is checked, and
// every problem is returned, in form order. The time zone is checked
// against `zoneInfoFolder` as TriageDeadline reads it.
std::vector<SetupFieldError> readSiteForm(const FormData& form, const std::filesystem::path& zoneInfoFolder,
    SiteDetails& details);

// Stores the details in site_settings. The caller holds the database's
// lock and, for setup, the transaction that creates the first admin.
void storeSiteDetails(storage::Database& database, const SiteDetails& details);

// Returns `defaults` with the stored details applied over it; holidays
// always come from `defaults` (meldpuntd.ini).
SiteDetails loadSiteDetails(storage::Database& database, const SiteDetails& defaults);

// "17:00" from minutes after midnight, and "1,2,3,4,5" from a day set.
std::string formatClock(int minutes);
std::string formatDays(const std::set<int>& days);

} // namespace meldpunt::staff
