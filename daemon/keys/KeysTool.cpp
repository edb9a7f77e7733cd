// meldpunt-keys: the technician's command for the box's keys. It works on
// the state folder directly, as meldpuntd's user, and shows secrets only
// on its own standard output (the console), never in a log.
//
//   meldpunt-keys init --config FILE
//   meldpunt-keys recover --config FILE          (reads the recovery key)
//   meldpunt-keys new-recovery-key --config FILE
//   meldpunt-keys rotate --config FILE
//   meldpunt-keys backup --config FILE OUTPUT
//   meldpunt-keys restore --config FILE BACKUP    (reads the recovery key)
//   meldpunt-keys new-admin-code --config FILE    (reads the recovery key)
//   meldpunt-keys verify-audit --config FILE

#include "DaemonRuntime.h"
#include "KeySealer.h"
#include "KeyUnlock.h"
#include "Log.h"
#include "RecoveryWrap.h"
#include "StaffConsole.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>
#include <thread>
#include <string>

using namespace meldpunt;

namespace {

constexpr const char* kUsage =
    "usage: meldpunt-keys COMMAND --config FILE\n"
    "commands:\n"
    "  init               create the data key, the database and a recovery key (shown once)\n"
    "  recover            unlock with the recovery key read from standard input and seal the key again\n"
    "  new-recovery-key   replace the recovery key (the old one stops working)\n"
    "  rotate             re-encrypt the database under a new data key (stop meldpuntd first)\n"
    "  backup OUTPUT      write an encrypted backup that only the recovery key opens\n"
    "  restore BACKUP     restore a backup onto a box that is not set up (reads the recovery key)\n"
    "  new-admin-code     make a one-time code that creates a staff admin (reads the recovery key)\n"
    "  verify-audit       verify the audit log's hash chain and name the first broken entry\n";

keys::KeySettings settingsFrom(const std::string& configFile)
{
    char* arguments[] = {const_cast<char*>("meldpunt-keys"), const_cast<char*>("--config"),
        const_cast<char*>(configFile.c_str())};
    auto config = loadConfiguration(3, arguments, "meldpunt-keys COMMAND");
    keys::KeySettings settings;
    settings.stateFolder = config->getString("paths.state");
    settings.tcti = config->getString("tpm.tcti", "device:/dev/tpmrm0");
    settings.pcrs = config->getString("tpm.pcrs", "sha256:7");
    return settings;
}

void showRecoveryKey(const keys::RecoveryKey& key)
{
    std::cout << "\nRecovery key for this Meldpunt box. It is shown now and never again:\n\n    "
              << key.toString() << "\n\n"
              << "Write it down and keep it away from the box. With it, a technician can unlock\n"
              << "the reports after a firmware change, a board swap or a cleared TPM, and read\n"
              << "the box's backups. Without it, none of that is possible.\n"
              << std::endl;
}

// Reads the key from standard input: one line, or several when it was
// pasted with line breaks, until eight groups' worth of characters came.
std::string readRecoveryKey()
{
    if (::isatty(STDIN_FILENO))
        std::cerr << "Recovery key: " << std::flush;
    std::string key;
    std::string line;
    constexpr std::size_t kKeyCharacters = 40;
    for (int lines = 0; lines < 8 && std::getline(std::cin, line); ++lines) {
        key += line + " ";
        const auto characters = std::count_if(key.begin(), key.end(), [](unsigned char c) { return std::isalnum(c); });
        if (static_cast<std::size_t>(characters) >= kKeyCharacters)
            break;
    }
    return key;
}

// The folder for the encrypted temporary snapshot: beside the target, so
// that it lies on the same file system (a USB stick, say).
std::filesystem::path scratchFolderFor(const std::filesystem::path& target)
{
    const auto folder = target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
    return folder;
}

// A backup never replaces a file: not an older backup, and never one of the
// box's own files, which a mistyped path could otherwise destroy.
void checkBackupOutput(const keys::KeySettings& settings, const std::filesystem::path& output)
{
    namespace fs = std::filesystem;
    if (fs::exists(output))
        throw std::runtime_error("'" + output.string() + "' already exists; choose a new file name");
    const fs::path folder = fs::weakly_canonical(fs::absolute(output).parent_path());
    const fs::path state = fs::weakly_canonical(fs::absolute(settings.stateFolder));
    const auto [stateEnd, folderEnd] = std::mismatch(state.begin(), state.end(), folder.begin(), folder.end());
    if (stateEnd == state.end())
        throw std::runtime_error("'" + output.string() + "' lies in the state folder; write backups elsewhere");
}

int initialize(const keys::KeySettings& settings)
{
    showRecoveryKey(keys::initializeKeys(settings));
    std::cerr << "Created the data key (sealed to PCRs " << settings.pcrs << ") and the database in '"
              << settings.stateFolder.string() << "'.\n";
    return 0;
}

int recover(const keys::KeySettings& settings)
{
    const auto key = keys::RecoveryKey::parse(readRecoveryKey());
    const auto outcome = keys::recoverWithKey(settings, key);
    if (!outcome.database) {
        std::cerr << "meldpunt-keys: the recovery key was accepted, but the database did not open: "
                  << outcome.lockedReason << '\n';
        return 1;
    }
    std::cerr << "Unlocked: the data key is sealed again to PCRs " << settings.pcrs
              << ". meldpuntd opens the database at its next attempt or start.\n";
    return 0;
}

int newRecoveryKey(const keys::KeySettings& settings)
{
    std::string databaseId;
    const SecretBytes dataKey = keys::unsealDataKey(settings, databaseId);
    storage::Database database(keys::databasePath(settings.stateFolder), dataKey.span(), storage::OpenMode::MustExist);
    showRecoveryKey(keys::replaceRecoveryKey(settings, database, dataKey, databaseId));
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    ::umask(0077);
    if ((argc != 4 && argc != 5) || std::string(argv[2]) != "--config") {
        std::cerr << kUsage;
        return 2;
    }
    const std::string command = argv[1];
    try {
        const auto settings = settingsFrom(argv[3]);
        // These replace the database file, so meldpuntd must not have it
        // open. Its lock on the state folder shows whether it runs.
        std::optional<keys::StateLock> lock;
        if (command == "init" || command == "rotate" || command == "restore") {
            lock = keys::StateLock::tryAcquire(settings.stateFolder);
            if (!lock) {
                std::cerr << "meldpunt-keys: meldpuntd (or another key command) is running on '"
                          << settings.stateFolder.string() << "'; stop it first, for example with "
                          << "'systemctl stop meldpuntd'\n";
                return 1;
            }
        }
        if (command == "init")
            return initialize(settings);
        if (command == "recover")
            return recover(settings);
        const std::string operand = argc == 5 ? argv[4] : "";
        if (command == "new-recovery-key")
            return newRecoveryKey(settings);
        if (command == "new-admin-code")
            return staff::printNewAdminCode(settings, keys::RecoveryKey::parse(readRecoveryKey()), std::cout);
        if (command == "verify-audit")
            return staff::verifyAuditChain(settings, std::cout);
        if (command == "rotate") {
            keys::settlePendingRotation(settings);
            keys::rotateDataKey(settings);
            std::cerr << "The database is encrypted under a new data key, sealed to PCRs " << settings.pcrs << ".\n";
            return 0;
        }
        if (command == "backup" && !operand.empty()) {
            checkBackupOutput(settings, operand);
            keys::writeBackup(settings, operand, scratchFolderFor(operand));
            std::cerr << "Wrote the encrypted backup '" << operand << "'.\n";
            return 0;
        }
        if (command == "restore" && !operand.empty()) {
            const auto key = keys::RecoveryKey::parse(readRecoveryKey());
            keys::restoreFromBackup(settings, operand, key, scratchFolderFor(settings.stateFolder / "x"));
            std::cerr << "Restored the backup; the data key is sealed to this box's TPM.\n";
            return 0;
        }
        std::cerr << "meldpunt-keys: unknown command '" << command << "'\n" << kUsage;
        return 2;
    } catch (const keys::InvalidRecoveryKey& error) {
        std::cerr << "meldpunt-keys: " << error.what() << '\n';
        return 1;
    } catch (const keys::WrongRecoveryKey&) {
        // The console is slower to guess on than the form: each wrong key
        // costs a few seconds, and the journal records it.
        log::securityEvent("b1d3f5a7c9e24b6d8f0a2c4e6b8d0f25", "Rejected a wrong recovery key on the console");
        std::this_thread::sleep_for(std::chrono::seconds(3));
        std::cerr << "meldpunt-keys: this recovery key does not unlock this box\n";
        return 1;
    } catch (const std::exception& error) {
        std::cerr << "meldpunt-keys: failed to " << command << ": " << error.what() << '\n';
        return 1;
    }
}
