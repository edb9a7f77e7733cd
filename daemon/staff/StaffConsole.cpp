#include "StaffConsole.h"

#include "Accounts.h"
#include "AuditLog.h"
#include "FileSystem.h"
#include "Migrations.h"
#include "RecoveryWrap.h"

namespace meldpunt::staff {

namespace {

constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

// Opens the database with the data key that the recovery key unwraps,
// without sealing anything again: the TPM and its files stay as they are.
std::unique_ptr<storage::Database> openWithRecoveryKey(const keys::KeySettings& settings,
    const keys::RecoveryKey& recoveryKey)
{
    const auto publicKey = keys::RecoveryPublicKey::fromJson(
        fsutil::readSmallFile(keys::recoveryPublicPath(settings.stateFolder), kMaxKeyFileBytes));
    const auto wrap = keys::RecoveryWrap::fromJson(
        fsutil::readSmallFile(keys::recoveryWrapPath(settings.stateFolder), kMaxKeyFileBytes));
    const SecretBytes privateKey = publicKey.privateKeyFor(recoveryKey);
    const SecretBytes dataKey = wrap.unwrap(privateKey.span());
    auto database = std::make_unique<storage::Database>(keys::databasePath(settings.stateFolder), dataKey.span(),
        storage::OpenMode::MustExist);
    storage::migrate(*database);
    return database;
}

const Actor kConsole{0, "(console)", "console"};

} // namespace

int printNewAdminCode(const keys::KeySettings& settings, const keys::RecoveryKey& recoveryKey, std::ostream& out)
{
    const auto database = openWithRecoveryKey(settings, recoveryKey);
    std::string code;
    database->transaction([&] {
        code = Accounts(*database, systemClock()).newSetupCode();
    });
    AuditLog(*database, systemClock()).record(kConsole, "setup_code.created", "setup_code", "");
    out << "\nOne-time code for a new staff admin. Type it on the staff page /setup:\n\n    " << code
        << "\n\nIt works once. Anyone who has it can create an admin, so keep it to yourself.\n"
        << std::endl;
    return 0;
}

int verifyAuditChain(const keys::KeySettings& settings, std::ostream& out)
{
    std::string databaseId;
    const SecretBytes dataKey = keys::unsealDataKey(settings, databaseId);
    storage::Database database(keys::databasePath(settings.stateFolder), dataKey.span(), storage::OpenMode::MustExist);
    const auto result = AuditLog(database, systemClock()).verify();
    if (result.intact) {
        out << "The audit log verifies: " << result.entriesChecked << " entries checked.\n";
        return 0;
    }
    out << "The audit log is broken at entry " << result.firstBrokenId << ": " << result.problem << ".\n";
    return 1;
}

} // namespace meldpunt::staff
