#include "ReportDetails.h"

#include "FormData.h"
#include "ReportForm.h"

#include <algorithm>

namespace meldpunt::staff {

const std::vector<DetailColumn>& detailColumns()
{
    static const std::vector<DetailColumn> list = {
        {"why_suspicious", "Why it seemed suspicious"},
        {"city", "City"},
        {"venue_type", "Type of place"},
        {"urls", "Web addresses"},
        {"suspect_count", "Number of suspects"},
        {"suspect_age", "Age of the suspect"},
        {"suspect_gender", "Gender of the suspect"},
        {"suspect_description", "Description of the suspect"},
        {"suspect_language", "Language of the suspect"},
        {"child_count", "Number of children"},
        {"child_age", "Age of the child"},
        {"child_gender", "Gender of the child"},
        {"child_description", "Description of the child"},
        {"child_language", "Language of the child"},
        {"action_taken", "What others already did"},
        {"remarks", "Other remarks"},
        {"reporter_age", "Age of the reporter"},
        {"reporter_gender", "Gender of the reporter"},
        {"found_via", "How the reporter found the hotline"},
    };
    return list;
}

std::vector<std::string> detailOptions(const std::string& column)
{
    const FieldSpec* spec = ReportForm::field(column);
    if (spec == nullptr || spec->kind != FieldKind::Choice)
        return {};
    return {spec->options.begin(), spec->options.end()};
}

std::vector<CaseField> readReportDetails(storage::Database& database, std::int64_t reportId)
{
    std::string columns;
    for (const auto& column : detailColumns())
        columns += std::string(columns.empty() ? "" : ", ") + column.name;
    auto row = database.prepare("SELECT " + columns + " FROM report_details WHERE report_id = ?");
    row.bind(1, reportId);
    if (!row.step())
        return {};
    std::vector<CaseField> fields;
    for (int index = 0; const auto& column : detailColumns())
        fields.push_back({column.name, column.label, row.columnText(index++)});
    return fields;
}

void checkReportDetails(const std::map<std::string, std::string>& answers)
{
    for (const auto& column : detailColumns()) {
        const auto answer = answers.find(column.name);
        if (answer == answers.end() || answer->second.empty())
            continue;
        const std::string& value = answer->second;
        const std::string label = column.label;
        const FieldSpec* spec = ReportForm::field(column.name);
        if (!isValidUtf8(value) || hasForbiddenControl(value))
            throw CaseError("The field '" + label + "' contains control characters. Remove them and save again.");
        if (spec == nullptr)
            continue;
        if (spec->kind == FieldKind::Choice) {
            if (std::find(spec->options.begin(), spec->options.end(), value) == spec->options.end())
                throw CaseError("The answer to '" + label + "' is not one of the offered values. Choose one from the list.");
        } else if (countCodePoints(value) > spec->maxCharacters) {
            throw CaseError("The field '" + label + "' is too long. Keep it under "
                + std::to_string(spec->maxCharacters) + " characters.");
        }
    }
}

void storeReportDetails(storage::Database& database, std::int64_t reportId,
    const std::map<std::string, std::string>& answers)
{
    std::string columns = "report_id";
    std::string placeholders = "?";
    for (const auto& column : detailColumns()) {
        columns += std::string(", ") + column.name;
        placeholders += ", ?";
    }
    auto insert = database.prepare("INSERT INTO report_details (" + columns + ") VALUES (" + placeholders + ")");
    insert.bind(1, reportId);
    for (int index = 2; const auto& column : detailColumns()) {
        const auto answer = answers.find(column.name);
        insert.bind(index++, answer == answers.end() ? std::string() : answer->second);
    }
    insert.run();
}

} // namespace meldpunt::staff
