// The recovery key step of the first setup. A box without a recovery key
// gets one on the setup page, shown once and stored only after two of its
// groups are typed back. A box whose console made one skips the step.

#include "StaffAppFixture.h"

#include "Database.h"
#include "KeyUnlock.h"
#include "RecoveryKey.h"
#include "RecoveryWrap.h"
#include "SecretBytes.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <regex>
#include <sstream>

using namespace meldpunt;
using namespace meldpunt::staff;
using namespace meldpunt::test;
using Catch::Matchers::ContainsSubstring;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

Fields adminForm(const std::string& code)
{
    return {{"setup_code", code}, {"organisation", "Stichting Meldpunt Test"}, {"contact_email", ""},
        {"time_zone", "Europe/Amsterdam"}, {"working_days_sent", "1"}, {"working_day", "1"}, {"working_day", "5"},
        {"end_of_day", "17:00"}, {"username", "root"}, {"password", "correct horse battery"},
        {"password_again", "correct horse battery"}};
}

std::string readText(const std::filesystem::path& path)
{
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Sends what meldpuntd writes to stderr (its log) to a file while it lives.
class StderrCapture {
public:
    explicit StderrCapture(std::filesystem::path file)
        : file_(std::move(file))
    {
        std::fflush(stderr);
        saved_ = ::dup(STDERR_FILENO);
        const int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        REQUIRE(fd >= 0);
        ::dup2(fd, STDERR_FILENO);
        ::close(fd);
    }
    ~StderrCapture() { restore(); }
    std::string text()
    {
        restore();
        return readText(file_);
    }

private:
    void restore()
    {
        if (saved_ < 0)
            return;
        std::fflush(stderr);
        ::dup2(saved_, STDERR_FILENO);
        ::close(saved_);
        saved_ = -1;
    }
    std::filesystem::path file_;
    int saved_ = -1;
};

// The setup page's hooks over a state folder in the fixture's scratch
// folder, wrapping the fixture database's own data key.
struct RecoveryFixture {
    explicit RecoveryFixture(const std::string& name)
        : fixture(name, settings())
    {
        keySettings.stateFolder = fixture.db.scratch.path() / "state";
        std::filesystem::create_directories(keySettings.stateFolder);
    }

    StaffSettings settings()
    {
        StaffSettings result;
        result.recoveryKeyExists = [this] { return std::filesystem::exists(keys::recoveryWrapPath(keySettings.stateFolder)); };
        result.storeRecoveryKey = [this](const keys::RecoveryKey& key) { store(key); };
        return result;
    }

    void store(const keys::RecoveryKey& key)
    {
        SecretBytes dataKey(fixture.db.key.size());
        std::copy(fixture.db.key.begin(), fixture.db.key.end(), dataKey.data());
        keys::storeRecoveryKey(keySettings, *fixture.db.database, dataKey, kDatabaseId, key);
    }

    static constexpr const char* kDatabaseId = "setup-recovery-test";
    keys::KeySettings keySettings;
    StaffAppFixture fixture;
};

std::string match(const std::string& body, const std::string& pattern)
{
    std::smatch found;
    if (!std::regex_search(body, found, std::regex(pattern)))
        return {};
    return found[1];
}

std::string group(const std::string& key, int number)
{
    return key.substr(static_cast<std::size_t>(number - 1) * 6, 5);
}

// The same group with its last character changed to another valid one.
std::string misspelt(const std::string& group)
{
    std::string changed = group;
    changed[4] = changed[4] == 'A' ? 'B' : 'A';
    return changed;
}

} // namespace

TEST_CASE("Setup makes a confirmed recovery key", "[staff][setup][keys]")
{
    RecoveryFixture recovery("setup-recovery");
    auto& fixture = recovery.fixture;
    const auto wrapPath = keys::recoveryWrapPath(recovery.keySettings.stateFolder);
    StderrCapture log(fixture.db.scratch.path() / "stderr.log");

    const std::string code = fixture.app->prepareFirstSetup();
    StaffClient client(*fixture.app);
    const auto page = client.get("/setup");
    CHECK_THAT(page.body, ContainsSubstring("First: the recovery key"));
    CHECK_THAT(page.body, !ContainsSubstring("name=\"password\""));

    // The admin form waits for the recovery key.
    const auto early = client.post("/setup", adminForm(code));
    CHECK(early.status == 409);
    CHECK_THAT(early.body, ContainsSubstring("Make the recovery key first"));

    client.get("/setup");
    const auto noCode = client.post("/setup", {{"step", "recovery_key"}, {"setup_code", " "}});
    CHECK(noCode.status == 400);
    CHECK_THAT(noCode.body, ContainsSubstring("Type the setup code"));
    const auto wrongCode = client.post("/setup", {{"step", "recovery_key"}, {"setup_code", "WRONG-CODE-1234"}});
    CHECK(wrongCode.status == 403);
    CHECK_THAT(wrongCode.body, ContainsSubstring("wrong or was used already"));

    const auto shown = client.post("/setup", {{"step", "recovery_key"}, {"setup_code", code}});
    REQUIRE(shown.status == 200);
    const std::string key = match(shown.body, R"re(id="recovery-key">([0-9A-Z]{5}(?:-[0-9A-Z]{5}){7})<)re");
    REQUIRE_FALSE(key.empty());
    const int first = std::stoi(match(shown.body, R"re(for="first_group">Group ([1-8])<)re"));
    const int second = std::stoi(match(shown.body, R"re(for="second_group">Group ([1-8])<)re"));
    CHECK(first != second);
    const std::string token = match(shown.body, R"re(name="recovery_token" value="([^"]+)")re");
    CHECK_FALSE(std::filesystem::exists(wrapPath));

    struct Wrong {
        std::string firstGroup;
        std::string secondGroup;
        std::string message;
    };
    const Wrong wrongs[] = {
        {group(key, first), misspelt(group(key, second)), "does not match the recovery key above"},
        {group(key, first), "", "Type group " + std::to_string(second)},
        {group(key, first).substr(0, 3), group(key, second), "has 5 characters, and you typed 3"},
        {group(key, second), group(key, first), "does not match the recovery key above"},
    };
    for (const auto& wrong : wrongs) {
        INFO(wrong.message);
        const auto refused = client.post("/setup", {{"step", "recovery_confirm"}, {"recovery_token", token},
            {"first_group", wrong.firstGroup}, {"second_group", wrong.secondGroup}});
        CHECK(refused.status == 400);
        CHECK_THAT(refused.body, ContainsSubstring(wrong.message));
        CHECK_THAT(refused.body, ContainsSubstring("The key above is the same"));
        // The same key stays on the page, and nothing is stored.
        CHECK_THAT(refused.body, ContainsSubstring(key));
        CHECK_FALSE(std::filesystem::exists(wrapPath));
    }

    const auto stale = client.post("/setup", {{"step", "recovery_confirm"}, {"recovery_token", "not-the-token"},
        {"first_group", group(key, first)}, {"second_group", group(key, second)}});
    CHECK(stale.status == 409);
    CHECK_THAT(stale.body, ContainsSubstring("no longer waiting for confirmation"));
    CHECK_THAT(stale.body, !ContainsSubstring(key));

    // Typed as people do: lower case, with a space, O for 0 and L for 1.
    std::string typed = group(key, second);
    for (char& c : typed) {
        if (c == '0')
            c = 'o';
        else if (c == '1')
            c = 'l';
        else
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    typed.insert(2, " ");
    client.get("/setup");
    const auto confirmed = client.post("/setup", {{"step", "recovery_confirm"}, {"recovery_token", token},
        {"first_group", group(key, first)}, {"second_group", typed}});
    INFO(confirmed.body);
    REQUIRE(confirmed.status == 200);
    CHECK_THAT(confirmed.body, ContainsSubstring("The recovery key is stored"));
    CHECK_THAT(confirmed.body, !ContainsSubstring(key));
    REQUIRE(std::filesystem::exists(wrapPath));

    // The key shown releases the data key through the stored recovery
    // files, and that key opens the database.
    const auto recoveryKey = keys::RecoveryKey::parse(key);
    const auto publicKey = keys::RecoveryPublicKey::fromJson(readText(keys::recoveryPublicPath(recovery.keySettings.stateFolder)));
    const auto wrap = keys::RecoveryWrap::fromJson(readText(wrapPath));
    const SecretBytes dataKey = wrap.unwrap(publicKey.privateKeyFor(recoveryKey).span());
    CHECK(std::vector<std::uint8_t>(dataKey.data(), dataKey.data() + dataKey.size()) == fixture.db.key);
    {
        storage::Database reopened(fixture.db.scratch.path() / "meldpunt.db", dataKey.span(), storage::OpenMode::MustExist);
        auto events = reopened.prepare("SELECT count(*) FROM key_events "
                                       "WHERE event = 'recovery_key_replaced' AND detail = 'made on the setup page'");
        REQUIRE(events.step());
        CHECK(events.columnInt(0) == 1);
    }

    // The setup code still makes the first admin, and the step is done.
    const auto form = client.get("/setup");
    CHECK_THAT(form.body, !ContainsSubstring("First: the recovery key"));
    CHECK_THAT(form.body, !ContainsSubstring(key));
    const auto admin = client.post("/setup", adminForm(code));
    CHECK(admin.status == 200);
    CHECK_THAT(admin.body, ContainsSubstring("The admin account exists"));
    const auto again = client.post("/setup", {{"step", "recovery_key"}, {"setup_code", code}});
    CHECK_THAT(again.body, !ContainsSubstring("id=\"recovery-key\""));

    // Neither the audit log nor the daemon's log contains the key or a group.
    int created = 0;
    for (const auto& entry : fixture.auditEntries()) {
        created += entry.action == "recovery_key.created" ? 1 : 0;
        for (int number = 1; number <= 8; ++number) {
            CHECK_THAT(entry.action + entry.objectType + entry.objectId + entry.address, !ContainsSubstring(group(key, number)));
        }
    }
    CHECK(created == 1);
    const std::string logged = log.text();
    CHECK_THAT(logged, ContainsSubstring("Created a recovery key on the setup page"));
    for (int number = 1; number <= 8; ++number)
        CHECK_THAT(logged, !ContainsSubstring(group(key, number)));
}

TEST_CASE("Setup skips a console recovery key", "[staff][setup][keys]")
{
    RecoveryFixture recovery("setup-recovery-exists");
    auto& fixture = recovery.fixture;
    // As meldpunt-keys init leaves the box.
    recovery.store(keys::RecoveryKey::generate());
    const std::string wrap = readText(keys::recoveryWrapPath(recovery.keySettings.stateFolder));

    const std::string code = fixture.app->prepareFirstSetup();
    StaffClient client(*fixture.app);
    const auto page = client.get("/setup");
    CHECK_THAT(page.body, ContainsSubstring("has a recovery key already"));
    CHECK_THAT(page.body, ContainsSubstring("name=\"password\""));
    const auto step = client.post("/setup", {{"step", "recovery_key"}, {"setup_code", code}});
    CHECK(step.status == 409);
    CHECK_THAT(step.body, !ContainsSubstring("id=\"recovery-key\""));
    client.get("/setup");
    const auto admin = client.post("/setup", adminForm(code));
    CHECK(admin.status == 200);
    CHECK(readText(keys::recoveryWrapPath(recovery.keySettings.stateFolder)) == wrap);
    for (const auto& entry : fixture.auditEntries())
        CHECK(entry.action != "recovery_key.created");
}
