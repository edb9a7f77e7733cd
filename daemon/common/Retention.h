#pragma once

#include <Poco/Util/AbstractConfiguration.h>

#include <filesystem>
#include <optional>
#include <string>

namespace meldpunt {

// How long meldpuntd keeps each kind of data, in days. The privacy
// statement shows these figures as meldpuntd publishes them, so what a
// reporter reads is what the box does. The defaults are only a starting
// point: each organisation sets its own in meldpuntd.ini, [retention],
// as its data protection officer decides.
struct RetentionPeriods {
    // A closed report, counted from the day it was closed.
    int reportsAfterClosingDays = 730;
    // A report never closed, counted from the day it arrived.
    int reportsNeverClosedDays = 1095;
    // Attachments of any report, counted from the upload. It may be
    // shorter than the report's own period; the report stays.
    int attachmentsDays = 1095;
    // Attachments of a report passed on to the police or a partner,
    // counted from the referral, because the partner keeps its own copy.
    int attachmentsAfterReferralDays = 90;
    // Messages between a reporter and the staff, counted from the message.
    int reporterMessagesDays = 365;
    // The staff audit log, counted from each entry.
    int auditLogDays = 1825;
    // Copies kept in the outbox after delivery (referrals, e-mail).
    int outboxCopiesDays = 30;
};

// The longest period accepted, so a typing slip cannot keep data forever.
inline constexpr int kMaxRetentionDays = 36500;

// Reads [retention] from `config`, keeping the default of each key that is
// absent. Throws std::invalid_argument naming the key and what to write
// when a value is not a whole number of days between 1 and kMaxRetentionDays.
RetentionPeriods retentionFromConfig(const Poco::Util::AbstractConfiguration& config);

// "retention.json" in the folder meldpuntd publishes.
std::string serializeRetention(const RetentionPeriods& periods);
// Throws std::runtime_error when `json` does not hold every period as a
// number of days in range.
RetentionPeriods parseRetention(const std::string& json);

// Reads the periods meldpuntd published under `publishFolder`/current;
// nullopt while none are published or the file cannot be read.
std::optional<RetentionPeriods> readPublishedRetention(const std::filesystem::path& publishFolder);

} // namespace meldpunt
