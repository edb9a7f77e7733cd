#include "KeyRotation.h"
#include "Process.h"

#include "Crypto.h"
#include "FileSystem.h"

#include <catch2/catch_test_macros.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <stdexcept>
#include <string>

using meldpunt::SecretBytes;
using meldpunt::storage::Database;
using meldpunt::storage::DatabaseError;
using meldpunt::storage::exportEncryptedCopy;
using meldpunt::storage::finishRotation;
using meldpunt::storage::OpenMode;
using meldpunt::storage::rotateDatabaseKey;
using meldpunt::storage::RotationPaths;
using meldpunt::storage::RotationRecovery;
using meldpunt::test::readFile;
using meldpunt::test::ScratchFolder;

namespace crypto = meldpunt::crypto;
namespace fs = std::filesystem;

namespace {

// A stand-in for the TPM: a "sealed key file" contains only an id, and this
// map gives the key behind each id.
class KeyFiles {
public:
    const SecretBytes& add(const std::string& id)
    {
        return keys_.insert_or_assign(id, SecretBytes::random(32)).first->second;
    }
    // The key of `id`, made on first use; a forked child finds the keys
    // its parent made.
    const SecretBytes& ensure(const std::string& id)
    {
        const auto found = keys_.find(id);
        return found != keys_.end() ? found->second : add(id);
    }
    const SecretBytes& key(const std::string& id) const { return keys_.at(id); }
    const SecretBytes& keyIn(const fs::path& file) const { return key(readFile(file)); }

private:
    std::map<std::string, SecretBytes> keys_;
};

void writeKeyFile(const fs::path& path, const std::string& id)
{
    meldpunt::fsutil::writeFileAtomically(path, crypto::asBytes(id), 0600);
}

RotationPaths pathsIn(const fs::path& folder)
{
    return {folder / "meldpunt.db", folder / "meldpunt.db.next", folder / "sealed-key.json",
        folder / "sealed-key.json.next", folder / "recovery-wrap.json", folder / "recovery-wrap.json.next"};
}

bool opensWith(const fs::path& database, const SecretBytes& key)
{
    try {
        Database opened(database, key.span(), OpenMode::MustExist);
        opened.exec("SELECT count(*) FROM notes");
        return true;
    } catch (const DatabaseError&) {
        return false;
    }
}

// What the daemon does at start: unseal the key file and try it.
auto keyFileOpens(const KeyFiles& keys, const fs::path& database)
{
    return [&keys, database](const fs::path& keyFile) { return opensWith(database, keys.keyIn(keyFile)); };
}

void createNotes(const fs::path& path, const SecretBytes& key, int rows)
{
    Database database(path, key.span(), OpenMode::CreateNew);
    database.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL, payload BLOB)");
    database.exec("PRAGMA user_version = 4");
    database.transaction([&] {
        for (int i = 0; i < rows; ++i)
            database.prepare("INSERT INTO notes (text, payload) VALUES (?, ?)")
                .bind(1, "note " + std::to_string(i))
                .bind(2, crypto::randomBytes(512))
                .run();
    });
}

std::string dumpNotes(const fs::path& path, const SecretBytes& key)
{
    Database database(path, key.span(), OpenMode::MustExist);
    auto version = database.prepare("PRAGMA user_version");
    version.step();
    std::string dump = "schema version " + std::to_string(version.columnInt(0)) + "\n";
    auto rows = database.prepare("SELECT id, text, hex(payload) FROM notes ORDER BY id");
    while (rows.step())
        dump += std::to_string(rows.columnInt(0)) + "|" + rows.columnText(1) + "|" + rows.columnText(2) + "\n";
    return dump;
}

// A rotation from the key in `sealedKey` to a new key with id `nextId`,
// whose persist step writes the two .next files as the daemon would.
void rotateTo(const RotationPaths& paths, KeyFiles& keys, const std::string& nextId)
{
    const SecretBytes& oldKey = keys.keyIn(paths.sealedKey);
    const SecretBytes& newKey = keys.ensure(nextId);
    rotateDatabaseKey(paths, oldKey, newKey, [&](const SecretBytes&) {
        writeKeyFile(paths.sealedKeyNext, nextId);
        writeKeyFile(paths.recoveryWrapNext, nextId);
    });
}

bool anyNextFile(const RotationPaths& paths)
{
    return fs::exists(paths.databaseNext) || fs::exists(paths.sealedKeyNext) || fs::exists(paths.recoveryWrapNext);
}

// The state every recovery must end in: the sealed key file and the
// recovery wrap name the same key, that key opens the database, the rows
// are the original ones and nothing of the rotation is left over.
void checkSettled(const RotationPaths& paths, const KeyFiles& keys, const std::string& expectedRows)
{
    const std::string id = readFile(paths.sealedKey);
    CHECK(readFile(paths.recoveryWrap) == id);
    CHECK_FALSE(anyNextFile(paths));
    REQUIRE(opensWith(paths.database, keys.key(id)));
    CHECK(dumpNotes(paths.database, keys.key(id)) == expectedRows);
}

struct Fixture {
    ScratchFolder scratch;
    RotationPaths paths;
    KeyFiles keys;
    std::string rows;

    explicit Fixture(const std::string& name, int rowCount = 200)
        : scratch(name)
        , paths(pathsIn(scratch.path()))
    {
        createNotes(paths.database, keys.add("old"), rowCount);
        writeKeyFile(paths.sealedKey, "old");
        writeKeyFile(paths.recoveryWrap, "old");
        rows = dumpNotes(paths.database, keys.key("old"));
    }
};

} // namespace

TEST_CASE("Rotation re-encrypts under the new key", "[rotation]")
{
    Fixture fixture("rotation-basic");
    const auto& paths = fixture.paths;
    rotateTo(paths, fixture.keys, "new");

    CHECK(readFile(paths.sealedKey) == "new");
    CHECK(opensWith(paths.database, fixture.keys.key("new")));
    CHECK_FALSE(opensWith(paths.database, fixture.keys.key("old")));
    CHECK(dumpNotes(paths.database, fixture.keys.key("new")) == fixture.rows);
    checkSettled(paths, fixture.keys, fixture.rows);
    CHECK(finishRotation(paths, keyFileOpens(fixture.keys, paths.database)) == RotationRecovery::NothingPending);
}

TEST_CASE("Rotation keeps old key on failure", "[rotation]")
{
    Fixture fixture("rotation-refused");
    const auto& paths = fixture.paths;
    const auto& newKey = fixture.keys.add("new");
    // The sealed key is written, then the recovery wrap fails.
    CHECK_THROWS_AS(rotateDatabaseKey(paths, fixture.keys.key("old"), newKey,
                        [&](const SecretBytes&) {
                            writeKeyFile(paths.sealedKeyNext, "new");
                            throw std::runtime_error("the recovery wrap failed");
                        }),
        std::runtime_error);
    CHECK_FALSE(anyNextFile(paths));
    CHECK(readFile(paths.sealedKey) == "old");
    checkSettled(paths, fixture.keys, fixture.rows);
    CHECK(finishRotation(paths, keyFileOpens(fixture.keys, paths.database)) == RotationRecovery::NothingPending);
}

TEST_CASE("Rotation rejected while one is pending", "[rotation]")
{
    Fixture fixture("rotation-pending");
    writeKeyFile(fixture.paths.recoveryWrapNext, "stray");
    CHECK_THROWS_AS(rotateTo(fixture.paths, fixture.keys, "new"), std::logic_error);
    CHECK(readFile(fixture.paths.recoveryWrapNext) == "stray");
    CHECK(opensWith(fixture.paths.database, fixture.keys.key("old")));
}

TEST_CASE("finishRotation settles every crash state", "[rotation]")
{
    Fixture fixture("rotation-states");
    const auto& paths = fixture.paths;
    auto& keys = fixture.keys;
    const auto& newKey = keys.add("new");
    {
        // The protocol's export: an emptied log, then the copy.
        Database database(paths.database, keys.key("old").span(), OpenMode::MustExist);
        database.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        exportEncryptedCopy(database, paths.databaseNext, newKey);
    }
    CHECK_FALSE(fs::exists(paths.database.string() + "-wal"));
    CHECK_FALSE(fs::exists(paths.databaseNext.string() + "-wal"));
    const auto settle = [&] { return finishRotation(paths, keyFileOpens(keys, paths.database)); };

    SECTION("Crash during the export: a partial copy")
    {
        fs::resize_file(paths.databaseNext, fs::file_size(paths.databaseNext) / 2);
        CHECK(settle() == RotationRecovery::RolledBack);
        CHECK(readFile(paths.sealedKey) == "old");
    }
    SECTION("Crash before the new key was stored")
    {
        CHECK(settle() == RotationRecovery::RolledBack);
        CHECK(readFile(paths.sealedKey) == "old");
    }
    SECTION("Crash between storing the sealed key and the recovery wrap")
    {
        writeKeyFile(paths.sealedKeyNext, "new");
        CHECK(settle() == RotationRecovery::RolledBack);
        CHECK(readFile(paths.sealedKey) == "old");
    }
    SECTION("Crash after the new key was stored, before the database rename")
    {
        writeKeyFile(paths.sealedKeyNext, "new");
        writeKeyFile(paths.recoveryWrapNext, "new");
        CHECK(settle() == RotationRecovery::RolledBack);
        CHECK(readFile(paths.sealedKey) == "old");
    }
    SECTION("Crash after the database rename")
    {
        writeKeyFile(paths.sealedKeyNext, "new");
        writeKeyFile(paths.recoveryWrapNext, "new");
        fs::rename(paths.databaseNext, paths.database);
        CHECK(settle() == RotationRecovery::Completed);
        CHECK(readFile(paths.sealedKey) == "new");
    }
    SECTION("Crash between the renames of the two key files")
    {
        writeKeyFile(paths.recoveryWrapNext, "new");
        fs::rename(paths.databaseNext, paths.database);
        writeKeyFile(paths.sealedKey, "new");
        CHECK(settle() == RotationRecovery::Completed);
        CHECK(readFile(paths.recoveryWrap) == "new");
    }
    checkSettled(paths, keys, fixture.rows);
    CHECK(settle() == RotationRecovery::NothingPending);
}

TEST_CASE("finishRotation keeps files without a working key", "[rotation]")
{
    Fixture fixture("rotation-unknown");
    const auto& paths = fixture.paths;
    writeKeyFile(paths.sealedKey, "other");
    fixture.keys.add("other");
    writeKeyFile(paths.sealedKeyNext, "old-copy");
    fixture.keys.add("old-copy");
    CHECK_THROWS_AS(finishRotation(paths, keyFileOpens(fixture.keys, paths.database)), std::runtime_error);
    CHECK(fs::exists(paths.sealedKeyNext));
    CHECK(readFile(paths.sealedKey) == "other");
}

TEST_CASE("Rotation leaves no old log", "[rotation]")
{
    Fixture fixture("rotation-wal");
    const auto& paths = fixture.paths;
    // A child commits a row and dies without closing, so the log keeps a
    // committed frame that is not yet in the main file.
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        try {
            Database database(paths.database, fixture.keys.key("old").span(), OpenMode::MustExist);
            database.exec("PRAGMA wal_autocheckpoint = 0");
            database.exec("INSERT INTO notes (text) VALUES ('only in the log')");
            ::kill(getpid(), SIGKILL);
        } catch (...) {
        }
        _exit(1);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(fs::file_size(paths.database.string() + "-wal") > 0);

    rotateTo(paths, fixture.keys, "new");
    CHECK_FALSE(fs::exists(paths.database.string() + "-wal"));
    CHECK_FALSE(fs::exists(paths.database.string() + "-shm"));
    Database rotated(paths.database, fixture.keys.key("new").span(), OpenMode::MustExist);
    auto query = rotated.prepare("SELECT count(*) FROM notes WHERE text = 'only in the log'");
    REQUIRE(query.step());
    CHECK(query.columnInt(0) == 1);
}

TEST_CASE("Rotation stops while another connection reads", "[rotation]")
{
    Fixture fixture("rotation-busy");
    const auto& paths = fixture.paths;
    Database reader(paths.database, fixture.keys.key("old").span(), OpenMode::MustExist);
    reader.exec("BEGIN");
    reader.exec("SELECT count(*) FROM notes");
    {
        Database writer(paths.database, fixture.keys.key("old").span(), OpenMode::MustExist);
        writer.exec("INSERT INTO notes (text) VALUES ('after the reader began')");
    }
    // The checkpoint waits for the reader up to the busy timeout, then the
    // rotation fails without touching a file.
    CHECK_THROWS_AS(rotateTo(paths, fixture.keys, "new"), DatabaseError);
    reader.exec("COMMIT");
    CHECK_FALSE(anyNextFile(paths));
    CHECK(readFile(paths.sealedKey) == "old");
    CHECK(opensWith(paths.database, fixture.keys.key("old")));
}

// Starts a rotation to `next` in a child process, which the caller kills
// or waits for.
pid_t startChildRotation(const RotationPaths& paths, KeyFiles& keys, const std::string& next)
{
    keys.ensure(next);
    const pid_t child = fork();
    if (child == 0) {
        try {
            rotateTo(paths, keys, next);
            _exit(0);
        } catch (...) {
            _exit(1);
        }
    }
    return child;
}

int reap(pid_t child)
{
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    return status;
}

TEST_CASE("Rotation killed anywhere is recoverable", "[rotation]")
{
    Fixture fixture("rotation-kill", 4000);
    const auto& paths = fixture.paths;
    auto& keys = fixture.keys;

    // One rotation in a child that is not killed gives the time over which
    // the kill delays are spread, fork included.
    const auto started = std::chrono::steady_clock::now();
    const pid_t measured = startChildRotation(paths, keys, "key-0");
    REQUIRE(measured > 0);
    REQUIRE(reap(measured) == 0);
    const long full = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
    const auto seed = std::random_device{}();
    CAPTURE(seed, full);
    std::mt19937 random(seed);
    // Half the rounds aim at the end of the rotation, where the renames
    // take a tiny part of the time and uniform delays would rarely land.
    std::uniform_int_distribution<long> anywhere(0, full * 5 / 4);
    std::uniform_int_distribution<long> nearTheEnd(full * 8 / 10, full * 11 / 10);

    std::map<RotationRecovery, int> outcomes;
    for (int round = 1; round <= 20; ++round) {
        const std::string previous = readFile(paths.sealedKey);
        const std::string next = "key-" + std::to_string(round);
        const long delay = round % 2 == 0 ? anywhere(random) : nearTheEnd(random);
        CAPTURE(round, delay);
        const pid_t child = startChildRotation(paths, keys, next);
        REQUIRE(child > 0);
        const struct timespec pause = {delay / 1'000'000, (delay % 1'000'000) * 1000};
        nanosleep(&pause, nullptr);
        ::kill(child, SIGKILL);
        const int status = reap(child);
        CHECK((WIFSIGNALED(status) || WEXITSTATUS(status) == 0));

        ++outcomes[finishRotation(paths, keyFileOpens(keys, paths.database))];
        const std::string now = readFile(paths.sealedKey);
        CHECK((now == previous || now == next));
        checkSettled(paths, keys, fixture.rows);
    }
    CAPTURE(outcomes[RotationRecovery::NothingPending], outcomes[RotationRecovery::Completed],
        outcomes[RotationRecovery::RolledBack]);
    CHECK(outcomes[RotationRecovery::NothingPending] + outcomes[RotationRecovery::Completed]
            + outcomes[RotationRecovery::RolledBack]
        == 20);
}
