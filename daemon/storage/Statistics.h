#pragma once

#include "Database.h"

#include <cstdint>
#include <string>

namespace meldpunt::storage {

// The facts that the anonymised statistics record of a report starts with.
// Every value is an option value of the report form, a country
// code or a day; recordReport() stores any other value as "not answered".
struct StatisticsFacts {
    std::string receivedAt; // ISO 8601 UTC; only the day is kept
    std::string channel; // form, phone or email
    std::string category;
    std::string country; // ISO 3166-1 alpha-2 or "unknown"
    std::string reporterAge;
    std::string reporterGender;
    std::string foundVia;
    std::string suspectAge;
    std::string suspectGender;
    std::string childAge;
    std::string childGender;
    bool anonymous = true;
    bool withAttachments = false;
};

// The partner kinds that a referral can go to, as the partners table names
// them.
enum class PartnerKind { Police, Hotline, Other };

// The anonymised statistics records: one row in statistics_reports per
// report, found only through the random id in the report's own row, so
// that deleting the report cuts the link. The record functions run inside
// the caller's transaction; those that update a record do nothing for a
// report without one. Not thread-safe: the caller holds the database lock.

// True when `receivedAt` starts with an ISO 8601 date and time, the form
// recordReport() needs.
bool hasReceiptDay(const std::string& receivedAt);

// Creates the record of report `reportId` and stores its id in the
// report's row. Throws DatabaseError, with Kind::Constraint when
// facts.receivedAt has no receipt day.
void recordReport(Database& database, std::int64_t reportId, const StatisticsFacts& facts);

// Records whether the first acknowledgement kept the triage deadline. A
// later call leaves the first value.
void recordAcknowledgement(Database& database, std::int64_t reportId, bool inTime);

// Records what came of a closed case (one of the case outcomes).
void recordClosing(Database& database, std::int64_t reportId, const std::string& outcome);

// Records that the report was referred to a partner of this kind.
void recordReferral(Database& database, std::int64_t reportId, PartnerKind kind);

// Records the newest outcome a partner posted back for referral `referralId`.
void recordReferralOutcome(Database& database, std::int64_t referralId, const std::string& outcome);

// Keeps `value` when it is one of the options of the report form's choice
// field `field`, and returns "" (not answered) otherwise.
std::string offeredOrEmpty(const std::string& field, const std::string& value);

} // namespace meldpunt::storage
