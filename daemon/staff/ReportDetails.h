#pragma once

// The report form's detailed answers (the report_details table) for the
// case page and for reports typed in by staff.

#include "CaseQueries.h"
#include "Database.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace meldpunt::staff {

struct DetailColumn {
    const char* name;  // the column and the form field, such as "city"
    const char* label; // English, looked up in the catalog when shown
};

// Every report_details column, in the order of the report form.
const std::vector<DetailColumn>& detailColumns();

// The offered values of a choice column, such as venue_type; empty for a
// free-text column.
std::vector<std::string> detailOptions(const std::string& column);

// The detailed answers of report `reportId`, one per column in
// detailColumns() order, each empty when it was not answered; empty when
// the report has no row (a report typed in before staff could record
// details).
std::vector<CaseField> readReportDetails(storage::Database& database, std::int64_t reportId);

// Checks answers typed by staff against the report form's rules: the
// length limit of each field in characters, no control characters, and
// for a choice one of the offered values. Throws CaseError naming the
// field to correct. Keys not in detailColumns() are ignored.
void checkReportDetails(const std::map<std::string, std::string>& answers);

// Stores the answers as the report's report_details row; a missing key is
// stored as not answered. Runs inside the caller's transaction.
void storeReportDetails(storage::Database& database, std::int64_t reportId,
    const std::map<std::string, std::string>& answers);

} // namespace meldpunt::staff
