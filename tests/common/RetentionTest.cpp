#include "Retention.h"

#include <catch2/catch_test_macros.hpp>

#include <Poco/AutoPtr.h>
#include <Poco/Util/IniFileConfiguration.h>

#include <sstream>
#include <stdexcept>
#include <string>

using meldpunt::parseRetention;
using meldpunt::RetentionPeriods;
using meldpunt::retentionFromConfig;
using meldpunt::serializeRetention;

namespace {

RetentionPeriods fromIni(const std::string& text)
{
    std::istringstream in(text);
    Poco::AutoPtr<Poco::Util::IniFileConfiguration> config(new Poco::Util::IniFileConfiguration(in));
    return retentionFromConfig(*config);
}

std::string errorOf(const std::string& text)
{
    try {
        fromIni(text);
    } catch (const std::invalid_argument& error) {
        return error.what();
    }
    return {};
}

} // namespace

TEST_CASE("Retention periods are read from the configuration", "[retention]")
{
    SECTION("Keys that are absent keep their defaults")
    {
        const RetentionPeriods periods = fromIni("[retention]\nreporter_messages_days = 30\n");
        CHECK(periods.reporterMessagesDays == 30);
        CHECK(periods.reportsAfterClosingDays == RetentionPeriods{}.reportsAfterClosingDays);
        CHECK(periods.auditLogDays == RetentionPeriods{}.auditLogDays);
    }

    SECTION("Every key is read")
    {
        const RetentionPeriods periods = fromIni(
            "[retention]\nreports_after_closing_days = 1\nreports_never_closed_days = 2\n"
            "attachments_after_referral_days = 3\nreporter_messages_days = 4\naudit_log_days = 5\n"
            "outbox_copies_days = 36500\nattachments_days = 6\n");
        CHECK(periods.reportsAfterClosingDays == 1);
        CHECK(periods.reportsNeverClosedDays == 2);
        CHECK(periods.attachmentsAfterReferralDays == 3);
        CHECK(periods.reporterMessagesDays == 4);
        CHECK(periods.auditLogDays == 5);
        CHECK(periods.outboxCopiesDays == 36500);
        CHECK(periods.attachmentsDays == 6);
    }

    SECTION("A value that is not a whole number of days in range is refused, naming the key")
    {
        for (const char* value : {"0", "-5", "36501", "ten", "7d", "1.5", "99999999999999999999"}) {
            CAPTURE(value);
            const std::string message = errorOf(std::string("[retention]\naudit_log_days = ") + value + "\n");
            CHECK(message.find("audit_log_days") != std::string::npos);
            CHECK(message.find("whole number of days from 1 to 36500") != std::string::npos);
        }
    }
}

TEST_CASE("Published retention periods round-trip", "[retention]")
{
    SECTION("What is serialised parses back to the same periods")
    {
        RetentionPeriods periods;
        periods.reportsAfterClosingDays = 400;
        periods.outboxCopiesDays = 7;
        periods.attachmentsDays = 45;
        const RetentionPeriods back = parseRetention(serializeRetention(periods));
        CHECK(back.attachmentsDays == 45);
        CHECK(back.reportsAfterClosingDays == 400);
        CHECK(back.outboxCopiesDays == 7);
        CHECK(back.reporterMessagesDays == periods.reporterMessagesDays);
    }

    SECTION("A damaged or incomplete file is refused")
    {
        for (const char* json : {"", "{", "[]", "{\"schema\": 2}", "{\"schema\": 1}",
                 "{\"schema\": 1, \"reports_after_closing_days\": 0, \"reports_never_closed_days\": 1, "
                 "\"attachments_after_referral_days\": 1, \"reporter_messages_days\": 1, "
                 "\"audit_log_days\": 1, \"outbox_copies_days\": 1, \"attachments_days\": 1}",
                 // Without the attachments period, as before it existed.
                 "{\"schema\": 1, \"reports_after_closing_days\": 1, \"reports_never_closed_days\": 1, "
                 "\"attachments_after_referral_days\": 1, \"reporter_messages_days\": 1, "
                 "\"audit_log_days\": 1, \"outbox_copies_days\": 1}"}) {
            CAPTURE(json);
            CHECK_THROWS_AS(parseRetention(json), std::runtime_error);
        }
    }
}
