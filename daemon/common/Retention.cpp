#include "Retention.h"

#include "FileSystem.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <array>
#include <charconv>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace meldpunt {

namespace {

using Member = int RetentionPeriods::*;

// Each period with its name in the configuration and in retention.json.
constexpr std::array<std::pair<const char*, Member>, 7> kPeriods = {{
    {"reports_after_closing_days", &RetentionPeriods::reportsAfterClosingDays},
    {"reports_never_closed_days", &RetentionPeriods::reportsNeverClosedDays},
    {"attachments_days", &RetentionPeriods::attachmentsDays},
    {"attachments_after_referral_days", &RetentionPeriods::attachmentsAfterReferralDays},
    {"reporter_messages_days", &RetentionPeriods::reporterMessagesDays},
    {"audit_log_days", &RetentionPeriods::auditLogDays},
    {"outbox_copies_days", &RetentionPeriods::outboxCopiesDays},
}};

bool inRange(long long days)
{
    return days >= 1 && days <= kMaxRetentionDays;
}

} // namespace

RetentionPeriods retentionFromConfig(const Poco::Util::AbstractConfiguration& config)
{
    RetentionPeriods periods;
    for (const auto& [name, member] : kPeriods) {
        const std::string key = std::string("retention.") + name;
        if (!config.hasProperty(key))
            continue;
        const std::string text = config.getString(key);
        long long days = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), days);
        if (error != std::errc() || end != text.data() + text.size() || !inRange(days))
            throw std::invalid_argument("[retention] " + std::string(name) + " is '" + text
                + "'; write a whole number of days from 1 to " + std::to_string(kMaxRetentionDays));
        periods.*member = static_cast<int>(days);
    }
    return periods;
}

std::string serializeRetention(const RetentionPeriods& periods)
{
    Poco::JSON::Object root;
    root.set("schema", 1);
    for (const auto& [name, member] : kPeriods)
        root.set(name, periods.*member);
    std::ostringstream out;
    root.stringify(out);
    return out.str();
}

RetentionPeriods parseRetention(const std::string& json)
{
    try {
        Poco::JSON::Parser parser;
        const auto root = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
        if (root->optValue<int>("schema", 0) != 1)
            throw std::runtime_error("retention periods have an unknown schema");
        RetentionPeriods periods;
        for (const auto& [name, member] : kPeriods) {
            const auto days = root->getValue<long long>(name);
            if (!inRange(days))
                throw std::runtime_error(std::string("retention period ") + name + " is out of range");
            periods.*member = static_cast<int>(days);
        }
        return periods;
    } catch (const Poco::Exception& error) {
        throw std::runtime_error("retention periods are not valid JSON: " + error.displayText());
    }
}

std::optional<RetentionPeriods> readPublishedRetention(const std::filesystem::path& publishFolder)
{
    try {
        return parseRetention(fsutil::readSmallFile(publishFolder / "current" / "retention.json", 64 * 1024));
    } catch (const std::exception&) {
        // Not yet published, or replaced during the read: the page then
        // shows that the periods cannot be shown right now.
        return std::nullopt;
    }
}

} // namespace meldpunt
