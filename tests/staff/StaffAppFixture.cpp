#include "StaffAppFixture.h"

#include "Accounts.h"
#include "AuditLog.h"

#include <stdexcept>

namespace meldpunt::test {

StaffAppFixture::StaffAppFixture(const std::string& name, staff::StaffSettings settings)
    : db(name)
    , catalog(std::filesystem::path(MELDPUNT_BINARY_DIR) / "webui" / "locale",
          "/usr/share/iso-codes/json/iso_3166-1.json", "/usr/share/locale",
          {"en", "nl", "fr", "de", "es", "ru"})
    , pages(std::filesystem::path(MELDPUNT_SOURCE_DIR) / "webui" / "templates" / "staff", catalog)
{
    if (settings.setupCodeFile.empty())
        settings.setupCodeFile = db.scratch.path() / "setup-code";
    app = std::make_unique<staff::StaffApp>(*db.database, mutex, pages, settings, db.clock());
}

StaffAppFixture::Member StaffAppFixture::addMember(const std::string& username, staff::Role role)
{
    std::lock_guard lock(mutex);
    staff::Accounts accounts(*db.database, db.clock());
    Member member{0, username, "password of " + username + " 123", staff::totp::newSecret()};
    member.id = accounts.create(username, role, member.password);
    accounts.startEnrolment(member.id, member.secret);
    if (!accounts.checkTotp(member.id, staff::totp::generate(member.secret, db.now), db.now))
        throw std::runtime_error("enrolling " + username + " failed");
    return member;
}

void StaffAppFixture::logIn(StaffClient& client, const Member& member)
{
    db.advance(std::chrono::seconds(30));
    client.get("/login");
    const auto password = client.post("/login", {{"username", member.username}, {"password", member.password}});
    if (password.status != 303 || header(password, "Location") != "/second-factor")
        throw std::runtime_error("the password of " + member.username + " was not accepted");
    client.get("/second-factor");
    const auto code = client.post("/second-factor", {{"code", staff::totp::generate(member.secret, db.now)}});
    if (code.status != 303)
        throw std::runtime_error("the TOTP code of " + member.username + " was not accepted");
    // The start page sends each role on to its own first page, whose forms
    // carry the session's CSRF token.
    const auto home = client.get("/");
    client.get(header(home, "Location"));
}

std::vector<staff::AuditEntry> StaffAppFixture::auditEntries()
{
    std::lock_guard lock(mutex);
    return staff::AuditLog(*db.database, db.clock()).allEntries();
}

} // namespace meldpunt::test
