// `meldpunt-keys verify-audit` on the console, against the audit log that
// meldpuntd wrote. The test changes entries in the SQLCipher database,
// opened with the data key that swtpm unseals, and the command names the
// first broken entry. After pruning with a checkpoint the entries kept
// still verify.

#include "Appliance.h"
#include "AuditLog.h"
#include "Clock.h"
#include "Database.h"
#include "KeySealer.h"
#include "SealedKeyFile.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

using Catch::Matchers::ContainsSubstring;
using namespace meldpunt;
using namespace meldpunt::test;

namespace {

// Sends wrong setup codes through the staff edge; meldpuntd audits each
// as setup.failed.
void failSetup(const Appliance& appliance, int count)
{
    const HttpsClient client = appliance.staffClient();
    for (int attempt = 0; attempt < count; ++attempt) {
        const auto page = client.get("/setup");
        REQUIRE(page.status == 200);
        REQUIRE_FALSE(page.setCookies.empty());
        const std::string& cookie = page.setCookies.front();
        const std::string pair = cookie.substr(0, cookie.find(';'));
        const std::string token = pair.substr(pair.find('=') + 1);
        const auto sent = client.post("/setup",
            formBody({{"csrf", token}, {"setup_code", "AAAA-AAAA-AAAA-AAAA-AAAA"}, {"username", "root"},
                {"password", "correct horse battery"}, {"password_again", "correct horse battery"}}),
            {"Cookie: " + pair});
        REQUIRE(sent.status == 403);
    }
}

// The appliance's database, opened with the data key unsealed by swtpm,
// as someone holding the key could open it.
std::unique_ptr<storage::Database> openDatabase(Appliance& appliance)
{
    const auto file = tpm::SealedKeyFile::read(appliance.sealedKeyFile());
    tpm::Tpm tpm(appliance.tpm().tcti());
    const SecretBytes key = tpm.unseal(file.key);
    return std::make_unique<storage::Database>(appliance.databaseFile(), key.span(), storage::OpenMode::MustExist);
}

std::vector<std::int64_t> entryIds(storage::Database& database)
{
    std::vector<std::int64_t> ids;
    auto query = database.prepare("SELECT id FROM audit_log ORDER BY id");
    while (query.step())
        ids.push_back(query.columnInt(0));
    return ids;
}

} // namespace

TEST_CASE("Console names broken audit entry", "[staff][appliance]")
{
    Appliance appliance("staff-audit-console");
    appliance.initializeKeys();
    appliance.startAll();
    failSetup(appliance, 3);
    appliance.stopDaemon();

    // Everything meldpuntd wrote so far is pruned, as the retention sweep
    // prunes old entries, and a checkpoint stores the last one's hash.
    std::size_t pruned = 0;
    {
        auto database = openDatabase(appliance);
        pruned = entryIds(*database).size();
        REQUIRE(pruned >= 3);
        staff::AuditLog log(*database, staff::systemClock());
        CHECK(log.pruneBefore(std::chrono::system_clock::now() + std::chrono::seconds(1)) == static_cast<std::int64_t>(pruned));
        auto checkpoints = database->prepare("SELECT count(*) FROM audit_checkpoints");
        REQUIRE(checkpoints.step());
        CHECK(checkpoints.columnInt(0) == 1);
    }
    appliance.startDaemon();
    failSetup(appliance, 4);
    appliance.stopDaemon();

    std::vector<std::int64_t> keptIds;
    {
        auto database = openDatabase(appliance);
        keptIds = entryIds(*database);
    }
    REQUIRE(keptIds.size() >= 4);
    CHECK(keptIds.front() > static_cast<std::int64_t>(pruned));

    SECTION("the entries after the checkpoint verify")
    {
        const auto result = appliance.runKeysTool("verify-audit");
        INFO(result.output);
        CHECK(result.exitStatus == 0);
        CHECK_THAT(result.output,
            ContainsSubstring("The audit log verifies: " + std::to_string(keptIds.size()) + " entries checked."));
    }

    SECTION("a changed entry is named")
    {
        const std::int64_t changed = keptIds[1];
        {
            auto database = openDatabase(appliance);
            database->exec("DROP TRIGGER audit_log_no_update");
            database->prepare("UPDATE audit_log SET action = 'login' WHERE id = ?").bind(1, changed).run();
        }
        const auto result = appliance.runKeysTool("verify-audit");
        INFO(result.output);
        CHECK(result.exitStatus == 1);
        CHECK_THAT(result.output, ContainsSubstring("The audit log is broken at entry " + std::to_string(changed) + ":"));
        CHECK_THAT(result.output, ContainsSubstring("does not match its hash"));
    }

    SECTION("a removed entry is named by the one after it")
    {
        const std::int64_t removed = keptIds[1];
        {
            auto database = openDatabase(appliance);
            database->exec("DROP TRIGGER audit_log_prune_only");
            database->prepare("DELETE FROM audit_log WHERE id = ?").bind(1, removed).run();
        }
        const auto result = appliance.runKeysTool("verify-audit");
        INFO(result.output);
        CHECK(result.exitStatus == 1);
        CHECK_THAT(result.output, ContainsSubstring("The audit log is broken at entry " + std::to_string(keptIds[2]) + ":"));
        CHECK_THAT(result.output, ContainsSubstring("entry " + std::to_string(removed) + " is missing"));
    }

    SECTION("a changed checkpoint breaks the first entry keptIds")
    {
        {
            auto database = openDatabase(appliance);
            database->exec("UPDATE audit_checkpoints SET last_entry_hash = zeroblob(32)");
        }
        const auto result = appliance.runKeysTool("verify-audit");
        INFO(result.output);
        CHECK(result.exitStatus == 1);
        CHECK_THAT(result.output, ContainsSubstring("The audit log is broken at entry " + std::to_string(keptIds.front()) + ":"));
    }
}
