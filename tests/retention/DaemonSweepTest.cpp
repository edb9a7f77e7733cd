// meldpuntd's own sweep: the daemon unlocks its database through swtpm,
// ingests reports from the spool and sweeps at start and on its schedule,
// on a clock the test moves.

#include "Daemon.h"
#include "FormData.h"
#include "IntakeKeyFile.h"
#include "Process.h"
#include "ReceiptSecret.h"
#include "ReportForm.h"
#include "ReporterCode.h"
#include "Spool.h"
#include "Swtpm.h"
#include "Uuid.h"

#include <catch2/catch_test_macros.hpp>

#include <atomic>
#include <thread>

using meldpunt::test::ScratchFolder;
using meldpunt::test::Swtpm;

namespace crypto = meldpunt::crypto;
namespace spool = meldpunt::spool;
namespace fs = std::filesystem;

namespace {

struct Appliance {
    ScratchFolder scratch { "retention-daemon" };
    Swtpm swtpm { scratch.path() / "tpm" };
    meldpunt::daemon::DaemonSettings settings;
    std::atomic<std::int64_t> nowSeconds { 1772442000 }; // 2026-03-02T09:00:00Z

    Appliance()
    {
        swtpm.start();
        settings.keys.stateFolder = scratch.path() / "state";
        settings.keys.tcti = swtpm.tcti();
        settings.keys.pcrs = "sha256:7";
        settings.spoolFolder = scratch.path() / "spool";
        settings.publishFolder = scratch.path() / "publish";
        fs::create_directories(settings.keys.stateFolder);
        fs::create_directories(settings.spoolFolder / "quarantine");
        fs::create_directories(settings.publishFolder);
        settings.ingestInterval = std::chrono::milliseconds(50);
        settings.sweepInterval = std::chrono::milliseconds(100);
        settings.sweepBatchSize = 2;
        settings.retention.reportsNeverClosedDays = 30;
        settings.retention.attachmentsDays = 30;
        settings.clock = [this] {
            return std::chrono::system_clock::from_time_t(nowSeconds.load());
        };
    }

    void advanceDays(int days)
    {
        nowSeconds += std::int64_t { days } * 86400;
    }

    std::string received(int daysAhead = 0) const
    {
        return meldpunt::staff::formatUtc(
            std::chrono::system_clock::from_time_t(nowSeconds.load() + std::int64_t { daysAhead } * 86400));
    }

    spool::IntakePublicKey intakeKey()
    {
        meldpunt::IntakeKeySource source(settings.publishFolder);
        const auto key = source.current();
        REQUIRE(key);
        return *key;
    }

    std::string reportJson(const std::string& marker, int daysAhead)
    {
        meldpunt::FormData form;
        form.add("what", "Gezien in het park " + marker);
        form.add("country", "NL");
        form.add("category", "travel_tourism");
        form.add("contact", "anonymous");
        form.add("consent", "yes");
        std::string json = meldpunt::ReportForm::toJson(form, "nl", received(daysAhead));
        const auto receipt
            = meldpunt::deriveReceiptKeys(meldpunt::ReporterCode::generate(meldpunt::ReporterCode::Kind::Receipt),
                meldpunt::ReceiptHashCost { 1, 1024, 1 });
        json.insert(json.size() - 1,
            ",\"receipt\":{\"hash\":\"" + receipt.verifier.hash + "\",\"public_key\":\""
                + crypto::toBase64(receipt.verifier.publicKey) + "\"}");
        return json;
    }

    // The report's received time is `daysAhead` days from now, when its
    // writer commits it.
    std::unique_ptr<spool::Writer> startReport(const std::string& marker, const spool::IntakePublicKey& key,
        int daysAhead = 0)
    {
        auto writer = std::make_unique<spool::Writer>(settings.spoolFolder, spool::EntryKind::Report,
            meldpunt::Uuid::generate(), key);
        writer->writeRecord(spool::RecordType::Fields, crypto::asBytes(reportJson(marker, daysAhead)));
        return writer;
    }

    std::size_t count(const fs::path& folder, const std::string& suffix)
    {
        std::size_t found = 0;
        std::error_code error;
        for (const auto& item : fs::directory_iterator(folder, error))
            if (item.path().filename().string().ends_with(suffix))
                ++found;
        return found;
    }

    // Waits up to 30 s for `condition`.
    bool waitFor(const std::function<bool()>& condition)
    {
        for (int round = 0; round < 600; ++round) {
            if (condition())
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return condition();
    }
};

} // namespace

TEST_CASE("meldpuntd sweeps at start and on its schedule", "[retention]")
{
    Appliance appliance;
    const fs::path receipts = appliance.settings.publishFolder / "receipts";
    {
        meldpunt::daemon::Daemon meldpuntd(appliance.settings);
        meldpuntd.start();
        REQUIRE_FALSE(meldpuntd.status().locked);
        const auto firstKey = appliance.intakeKey();
        for (int index = 0; index < 5; ++index)
            appliance.startReport("OUD" + std::to_string(index), firstKey)->commit();
        REQUIRE(appliance.waitFor([&] {
            return appliance.count(receipts, ".json") == 5;
        }));

        // A report still being written under the first key while the
        // clock passes the key's lifetime and every report's period.
        auto late = appliance.startReport("LAAT", firstKey, 31);
        appliance.advanceDays(31);
        CHECK(appliance.waitFor([&] {
            return appliance.count(receipts, ".json") == 0;
        }));
        CHECK(appliance.waitFor([&] {
            return appliance.intakeKey().id != firstKey.id;
        }));
        std::this_thread::sleep_for(std::chrono::milliseconds(400)); // a few more sweeps

        // The first key's private half stayed for it: it is ingested.
        const fs::path entry = late->commit();
        CHECK(appliance.waitFor([&] {
            return !fs::exists(entry);
        }));
        CHECK(appliance.count(appliance.settings.spoolFolder / "quarantine", "") == 0);
        CHECK(appliance.waitFor([&] {
            return appliance.count(receipts, ".json") == 1;
        }));
        appliance.advanceDays(2);
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
    }
    // The log of the database was emptied by the last sweep that deleted.
    const fs::path log = appliance.settings.keys.stateFolder / "meldpunt.db-wal";
    CHECK((!fs::exists(log) || fs::file_size(log) == 0));

    SECTION("a new start sweeps before anything else")
    {
        appliance.advanceDays(31);
        meldpunt::daemon::Daemon meldpuntd(appliance.settings);
        meldpuntd.start();
        REQUIRE_FALSE(meldpuntd.status().locked);
        CHECK(appliance.waitFor([&] {
            return appliance.count(receipts, ".json") == 0;
        }));
    }
}
