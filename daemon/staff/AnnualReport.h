#pragma once

#include "StatisticsReport.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace meldpunt::staff {

class AnnualReportError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct AnnualReportContent {
    int year = 0;
    // The report's own headings are translated into `language` through
    // `catalog`; the sections come translated already.
    const Catalog* catalog = nullptr;
    std::string language = "en";
    std::string organisation; // shown in the heading
    std::string coordinatorText; // paragraphs separated by blank lines, any script
    FigureSummary summary;
    std::vector<FigureSection> sections;
};

// Renders the annual report as an A4 PDF with cairo. Pango lays out all
// text through fontconfig, so text in any script the installed fonts
// cover (Latin, Cyrillic and more) is shaped, embedded and extractable.
// Throws AnnualReportError when cairo fails. Thread-safe: it shares no
// state between calls.
std::string annualReportPdf(const AnnualReportContent& content);

} // namespace meldpunt::staff
