// Staff notices and the admins' health banner through StaffApp, with a
// clock the test moves, real probes on scratch folders and a certificate
// made with openssl.

#include "HealthChecks.h"
#include "Notices.h"
#include "RunMarker.h"
#include "StaffApp.h"
#include "StaffAppFixture.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>

using namespace meldpunt::staff;
using Catch::Matchers::ContainsSubstring;
using meldpunt::test::ScratchFolder;
using meldpunt::test::StaffAppFixture;
using meldpunt::test::StaffClient;
namespace fs = std::filesystem;

namespace {

std::int64_t addReport(StaffAppFixture& fixture, const std::string& text, const std::string& receivedAt)
{
    std::lock_guard lock(fixture.mutex);
    return fixture.db.addReport(text, receivedAt);
}

std::string reportColumn(StaffAppFixture& fixture, std::int64_t id, const std::string& column)
{
    std::lock_guard lock(fixture.mutex);
    auto query = fixture.db.database->prepare("SELECT " + column + " FROM reports WHERE id = ?");
    query.bind(1, id);
    REQUIRE(query.step());
    return query.columnText(0);
}

bool hasKind(const std::vector<HealthCondition>& conditions, HealthKind kind)
{
    return std::any_of(conditions.begin(), conditions.end(), [&](const auto& c) { return c.kind == kind; });
}

// Makes a self-signed certificate that ends `days` days from now.
fs::path makeCertificate(const fs::path& folder, int days)
{
    const fs::path certificate = folder / ("edge-" + std::to_string(days) + ".pem");
    const std::string command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost"
        " -days " + std::to_string(days) + " -keyout '" + (folder / "edge.key").string() + "' -out '"
        + certificate.string() + "' >/dev/null 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);
    return certificate;
}

} // namespace

TEST_CASE("Notices of waiting reports", "[staff]")
{
    StaffAppFixture fixture("staff-notices");
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    const auto root = fixture.addMember("root", Role::Admin);
    // The fixture's clock is at Wednesday 2 December 2026, 10:00 UTC; the
    // report is due on Friday 4 December at 09:00 UTC.
    const auto report = addReport(fixture, "Seen at the harbour kiosk", "2026-12-02T09:00:00Z");
    TriageDeadline deadlines(WorkingCalendar{});

    SECTION("a caseworker sees the count on every page, without the due-soon part yet")
    {
        StaffClient client(*fixture.app);
        fixture.logIn(client, anna);
        for (const std::string page : {"/inbox", "/account", "/intake"}) {
            const auto response = client.get(page);
            REQUIRE(response.status == 200);
            CHECK_THAT(response.body, ContainsSubstring("<span class=\"notice-waiting\">1</span>"));
            CHECK_THAT(response.body, !ContainsSubstring("notice-due-soon"));
        }
    }

    SECTION("the deadline nearing adds the due-soon count")
    {
        fixture.db.now = parseUtc("2026-12-04T03:00:00Z");
        StaffClient client(*fixture.app);
        fixture.logIn(client, anna);
        const auto response = client.get("/account");
        CHECK_THAT(response.body, ContainsSubstring("<span class=\"notice-due-soon\">1</span>"));
    }

    SECTION("an acknowledged report leaves the notice")
    {
        StaffClient client(*fixture.app);
        fixture.logIn(client, anna);
        client.get("/cases/" + std::to_string(report));
        REQUIRE(client.post("/cases/" + std::to_string(report) + "/status", {{"status", "acknowledged"}}).status == 303);
        CHECK_THAT(client.get("/inbox").body, !ContainsSubstring("notice-waiting"));
    }

    SECTION("an admin sees no case notice")
    {
        StaffClient client(*fixture.app);
        fixture.logIn(client, root);
        const auto response = client.get("/accounts");
        REQUIRE(response.status == 200);
        CHECK_THAT(response.body, !ContainsSubstring("notice-waiting"));
    }

    SECTION("each event is mailed once, with no case content")
    {
        StaffClient admin(*fixture.app);
        fixture.logIn(admin, root);
        admin.get("/accounts");
        REQUIRE(admin.post("/accounts/" + std::to_string(anna.id) + "/notice-email",
                    {{"email", " anna@example.org "}}).status == 303);
        std::vector<std::string> fields;
        for (const std::string column : {"reference", "what", "place", "occurred", "category", "country"})
            fields.push_back(reportColumn(fixture, report, column));
        std::lock_guard lock(fixture.mutex);
        StaffNotices notices(*fixture.db.database, deadlines, std::chrono::hours(8));
        CHECK(notices.noticeEmail(anna.id) == "anna@example.org");

        auto due = notices.dueMails(fixture.db.now);
        REQUIRE(due.size() == 1);
        CHECK(due[0].recipient == "anna@example.org");
        CHECK(due[0].arrived == 1);
        CHECK(due[0].dueSoon == 0);
        notices.markSent(due[0], fixture.db.now);
        CHECK(notices.dueMails(fixture.db.now).empty());

        fixture.db.now = parseUtc("2026-12-04T03:00:00Z");
        due = notices.dueMails(fixture.db.now);
        REQUIRE(due.size() == 1);
        CHECK(due[0].arrived == 0);
        CHECK(due[0].dueSoon == 1);
        const auto text = noticeMailText(due[0], std::chrono::hours(8), "https://staff.example.org/");
        CHECK_THAT(text.body, ContainsSubstring("1 report is due within 8 hours"));
        CHECK_THAT(text.body, ContainsSubstring("https://staff.example.org/"));
        for (const auto& value : fields) {
            REQUIRE_FALSE(value.empty());
            CHECK_THAT(text.subject + text.body, !ContainsSubstring(value));
        }
        notices.markSent(due[0], fixture.db.now);
        CHECK(notices.dueMails(fixture.db.now).empty());
    }

    SECTION("a caseworker without an address gets no mail")
    {
        std::lock_guard lock(fixture.mutex);
        CHECK(StaffNotices(*fixture.db.database, deadlines, std::chrono::hours(8)).dueMails(fixture.db.now).empty());
    }
}

TEST_CASE("Notice address is validated", "[staff]")
{
    StaffAppFixture fixture("staff-notice-email");
    const auto root = fixture.addMember("root", Role::Admin);
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    StaffClient admin(*fixture.app);
    fixture.logIn(admin, root);
    const std::string path = "/accounts/" + std::to_string(anna.id) + "/notice-email";

    for (const std::string bad : {"anna", "anna@", "@example.org", "anna@example", "anna@@example.org",
             "anna @example.org", "anna@example.org, bert@example.org", "anna@example..org"}) {
        admin.get("/accounts");
        const auto response = admin.post(path, {{"email", bad}});
        CHECK(response.status == 400);
        CHECK_THAT(response.body, ContainsSubstring("name@example.org"));
    }
    admin.get("/accounts");
    REQUIRE(admin.post(path, {{"email", "anna@example.org"}}).status == 303);
    CHECK_THAT(admin.get("/accounts").body, ContainsSubstring("value=\"anna@example.org\""));
    const auto entries = fixture.auditEntries();
    CHECK(std::any_of(entries.begin(), entries.end(),
        [](const AuditEntry& entry) { return entry.action == "account.notice_email_set"; }));
    REQUIRE(admin.post(path, {{"email", ""}}).status == 303);
    CHECK_THAT(admin.get("/accounts").body, !ContainsSubstring("value=\"anna@example.org\""));
}

TEST_CASE("Health banner for admins", "[staff]")
{
    ScratchFolder scratch("staff-health");
    HealthSettings settings;
    settings.stateFolder = scratch.path() / "state";
    settings.spoolFolder = scratch.path() / "spool";
    fs::create_directories(settings.stateFolder);
    fs::create_directories(settings.spoolFolder);
    bool synchronised = true;
    HealthProbes probes = systemProbes({});
    probes.clockSynchronised = [&]() -> std::optional<bool> { return synchronised; };

    auto board = std::make_shared<HealthBoard>();
    StaffSettings staffSettings;
    staffSettings.health = board;
    StaffAppFixture fixture("staff-health-app", staffSettings);
    const auto root = fixture.addMember("root", Role::Admin);
    const auto anna = fixture.addMember("anna", Role::Caseworker);
    const auto audrey = fixture.addMember("audrey", Role::Auditor);
    auto adminPage = [&] {
        StaffClient client(*fixture.app);
        fixture.logIn(client, root);
        return client.get("/accounts").body;
    };

    auto check = [&](HealthSettings adjusted) {
        HealthMonitor monitor(std::move(adjusted), fixture.db.clock(), probes);
        return monitor.check(false, {});
    };
    REQUIRE(check(settings).empty());

    SECTION("an old spool entry")
    {
        const fs::path entry = settings.spoolFolder / "7b0c1f6e-0000-4000-8000-000000000001.entry";
        std::ofstream(entry) << "sealed";
        fs::last_write_time(entry, fs::file_time_type::clock::now() - std::chrono::hours(2));
        settings.spoolMaxAge = std::chrono::minutes(30);
        // The monitor measures age on the real clock, as the file times are.
        HealthMonitor monitor(settings, systemClock(), probes);
        const auto found = monitor.check(false, {});
        REQUIRE(hasKind(found, HealthKind::SpoolBacklog));
        board->publish(found);
        CHECK_THAT(adminPage(), ContainsSubstring("Reports are waiting in the spool"));
        settings.spoolMaxAge = std::chrono::minutes(180);
        CHECK_FALSE(hasKind(HealthMonitor(settings, systemClock(), probes).check(false, {}), HealthKind::SpoolBacklog));
    }

    SECTION("low disk space on the state and spool file systems")
    {
        auto low = settings;
        low.minFreeMebibytes = std::uint64_t{1} << 40;
        const auto found = check(low);
        REQUIRE(std::count_if(found.begin(), found.end(), [](const auto& c) { return c.kind == HealthKind::DiskLow; }) == 2);
        board->publish(found);
        CHECK_THAT(adminPage(), ContainsSubstring("Disk space is low"));
    }

    SECTION("a certificate expiring in 10 days")
    {
        auto watched = settings;
        watched.certificateFiles = {makeCertificate(scratch.path(), 10), makeCertificate(scratch.path(), 60)};
        HealthMonitor monitor(watched, systemClock(), probes);
        const auto found = monitor.check(false, {});
        REQUIRE(found.size() == 1);
        CHECK(found[0].kind == HealthKind::CertificateExpiring);
        CHECK_THAT(found[0].detail, ContainsSubstring("edge-10.pem"));
        board->publish(found);
        CHECK_THAT(adminPage(), ContainsSubstring("A certificate expires soon"));
        watched.certificateFiles = {scratch.path() / "missing.pem"};
        CHECK(HealthMonitor(watched, systemClock(), probes).check(false, {}).size() == 1);
    }

    SECTION("a failed backup, until a backup succeeds")
    {
        recordBackupOutcome(settings.stateFolder, false, "No space left on device", fixture.db.now);
        const auto found = check(settings);
        REQUIRE(hasKind(found, HealthKind::BackupFailed));
        board->publish(found);
        const auto page = adminPage();
        CHECK_THAT(page, ContainsSubstring("The scheduled backup failed"));
        CHECK_THAT(page, ContainsSubstring("No space left on device"));
        recordBackupOutcome(settings.stateFolder, true, {}, fixture.db.now);
        CHECK(check(settings).empty());
    }

    SECTION("an unsynchronised clock")
    {
        synchronised = false;
        const auto found = check(settings);
        REQUIRE(hasKind(found, HealthKind::ClockUnsynchronised));
        board->publish(found);
        CHECK_THAT(adminPage(), ContainsSubstring("The clock is not synchronised"));
        synchronised = true;
        CHECK(check(settings).empty());
    }

    SECTION("a locked database and an unclean stop")
    {
        HealthMonitor first(settings, fixture.db.clock(), probes);
        CHECK_FALSE(first.markStarted());
        // No markStopped(): the process died.
        HealthMonitor second(settings, fixture.db.clock(), probes);
        CHECK(second.markStarted());
        const auto found = second.check(true, "the TPM refused to unseal the data key");
        CHECK(hasKind(found, HealthKind::Locked));
        CHECK(hasKind(found, HealthKind::UncleanStop));
        fixture.db.advance(std::chrono::hours(25));
        CHECK_FALSE(hasKind(second.check(false, {}), HealthKind::UncleanStop));
        second.markStopped();
        CHECK_FALSE(HealthMonitor(settings, fixture.db.clock(), probes).markStarted());
    }

    SECTION("an unclean stop of meldpunt-public")
    {
        // meldpunt-public keeps its marker in the spool; two starts without
        // a stop between them are a restart after a kill or a crash.
        meldpunt::service::RunMarker marker(settings.spoolFolder, "meldpunt-public");
        CHECK_FALSE(marker.start(fixture.db.now));
        CHECK(check(settings).empty());
        CHECK(marker.start(fixture.db.now));
        const auto found = check(settings);
        REQUIRE(found.size() == 1);
        CHECK(found.front().kind == HealthKind::UncleanStop);
        CHECK(found.front().id == "unclean_stop_public");
        board->publish(found);
        CHECK_THAT(adminPage(), ContainsSubstring("meldpunt-public did not stop cleanly"));
        fixture.db.advance(std::chrono::hours(25));
        CHECK(check(settings).empty());
    }

    SECTION("other roles see no health banner")
    {
        synchronised = false;
        board->publish(check(settings));
        REQUIRE_THAT(adminPage(), ContainsSubstring("health-alerts"));
        for (const auto* member : {&anna, &audrey}) {
            StaffClient client(*fixture.app);
            fixture.logIn(client, *member);
            const auto page = client.get("/account").body;
            CHECK_THAT(page, !ContainsSubstring("health-alerts"));
            CHECK_THAT(page, !ContainsSubstring("The clock is not synchronised"));
        }
    }
}

TEST_CASE("Health alert ledger once per onset", "[staff]")
{
    ScratchFolder scratch("staff-health-ledger");
    AlertLedger ledger(scratch.path() / kAlertLedgerFile);
    const HealthCondition clock{HealthKind::ClockUnsynchronised, "clock_unsynchronised", "t", "", "a"};
    const HealthCondition disk{HealthKind::DiskLow, "disk_low:/var", "t", "", "a"};

    REQUIRE(ledger.unmailed({clock}).size() == 1);
    ledger.update({clock}, {clock});
    CHECK(ledger.unmailed({clock}).empty());
    // A mail that failed leaves the condition unmailed.
    ledger.update({clock, disk}, {});
    REQUIRE(ledger.unmailed({clock, disk}).size() == 1);
    CHECK(ledger.unmailed({clock, disk})[0].id == "disk_low:/var");
    // Cleared and back: mailed again.
    ledger.update({}, {});
    CHECK(ledger.unmailed({clock}).size() == 1);
    // The ledger is a file, so a new instance (a restart) reads it.
    ledger.update({clock}, {clock});
    CHECK(AlertLedger(scratch.path() / kAlertLedgerFile).unmailed({clock}).empty());
}
