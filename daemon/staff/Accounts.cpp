#include "Accounts.h"

#include "Crypto.h"
#include "FormData.h"
#include "PasswordHash.h"
#include "Totp.h"

#include <openssl/sha.h>

#include <algorithm>
#include <array>

namespace meldpunt::staff {

namespace {

constexpr std::size_t kMaxUsernameLength = 64;
constexpr std::size_t kMaxPasswordBytes = 1024;
constexpr int kRecoveryCodeCount = 10;
// Codes are random letters and digits from a Base32 alphabet without the
// look-alikes 0, 1, 8 and 9. A recovery code has 16 of them (80 bits), a
// setup code 20 (100 bits), so neither can be guessed within the login
// rate limits.
constexpr std::string_view kCodeAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::size_t kRecoveryCodeLength = 16;
constexpr std::size_t kSetupCodeLength = 20;

std::vector<std::uint8_t> sha256(const std::string& text)
{
    std::vector<std::uint8_t> hash(SHA256_DIGEST_LENGTH);
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), hash.data());
    return hash;
}

std::string randomCode(std::size_t length)
{
    const auto bytes = crypto::randomBytes(length);
    std::string code;
    for (std::size_t index = 0; index < length; ++index) {
        // 256 is a multiple of 32, so every character is equally likely.
        code += kCodeAlphabet[bytes[index] % kCodeAlphabet.size()];
        if (index % 4 == 3 && index + 1 < length)
            code += '-';
    }
    return code;
}

bool isValidUsername(const std::string& name)
{
    if (name.empty() || name.size() > kMaxUsernameLength)
        return false;
    return std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    });
}

void checkPassword(const std::string& password)
{
    if (!isValidUtf8(password) || hasForbiddenControl(password))
        throw AccountError("The password contains characters that cannot be used. Choose another password.");
    if (countCodePoints(password) < kMinPasswordLength)
        throw AccountError("The password is too short. Use at least " + std::to_string(kMinPasswordLength)
            + " characters; a few unrelated words make a good one.");
    if (password.size() > kMaxPasswordBytes)
        throw AccountError("The password is too long. Use at most " + std::to_string(kMaxPasswordBytes) + " bytes.");
}

constexpr const char* kAccountColumns = "id, username, role, password_hash, totp_secret, totp_confirmed, "
                                        "totp_last_step, created_at, disabled_at IS NOT NULL";

Account readAccount(const storage::Statement& row)
{
    Account account;
    account.id = row.columnInt(0);
    account.username = row.columnText(1);
    account.role = parseRole(row.columnText(2)).value_or(Role::Caseworker);
    account.passwordHash = row.columnText(3);
    if (!row.columnIsNull(4))
        account.totpSecret = row.columnBlob(4);
    account.totpConfirmed = row.columnInt(5) == 1;
    account.totpLastStep = row.columnInt(6);
    account.createdAt = row.columnText(7);
    account.disabled = row.columnInt(8) == 1;
    return account;
}

} // namespace

const char* roleName(Role role)
{
    switch (role) {
    case Role::Admin:
        return "admin";
    case Role::Coordinator:
        return "coordinator";
    case Role::Caseworker:
        return "caseworker";
    case Role::Auditor:
        return "auditor";
    }
    return "caseworker";
}

std::optional<Role> parseRole(const std::string& name)
{
    for (Role role : allRoles()) {
        if (name == roleName(role))
            return role;
    }
    return std::nullopt;
}

const std::vector<Role>& allRoles()
{
    static const std::vector<Role> roles = {Role::Admin, Role::Coordinator, Role::Caseworker, Role::Auditor};
    return roles;
}

std::string normaliseCode(const std::string& typed)
{
    std::string code;
    for (unsigned char c : typed) {
        if (c == '-' || c == ' ')
            continue;
        code += static_cast<char>(std::toupper(c));
    }
    return code;
}

Accounts::Accounts(storage::Database& database, Clock clock)
    : database_(database)
    , clock_(std::move(clock))
{
}

std::int64_t Accounts::create(const std::string& username, Role role, const std::string& password)
{
    if (!isValidUsername(username))
        throw AccountError("The user name may contain only lower-case letters, digits, '.', '-' and '_', at most "
            + std::to_string(kMaxUsernameLength) + " of them.");
    checkPassword(password);
    if (findByName(username))
        throw AccountError("The user name '" + username + "' is taken. Choose another one.");
    database_.prepare("INSERT INTO staff_accounts (username, role, password_hash, created_at) VALUES (?, ?, ?, ?)")
        .bind(1, username)
        .bind(2, std::string(roleName(role)))
        .bind(3, hashPassword(password))
        .bind(4, formatUtc(clock_()))
        .run();
    return database_.lastInsertId();
}

std::optional<Account> Accounts::find(std::int64_t id)
{
    auto query = database_.prepare(std::string("SELECT ") + kAccountColumns + " FROM staff_accounts WHERE id = ?");
    query.bind(1, id);
    if (!query.step())
        return std::nullopt;
    return readAccount(query);
}

std::optional<Account> Accounts::findByName(const std::string& username)
{
    auto query = database_.prepare(std::string("SELECT ") + kAccountColumns + " FROM staff_accounts WHERE username = ?");
    query.bind(1, username);
    if (!query.step())
        return std::nullopt;
    return readAccount(query);
}

std::vector<Account> Accounts::list()
{
    auto query = database_.prepare(std::string("SELECT ") + kAccountColumns + " FROM staff_accounts ORDER BY username");
    std::vector<Account> accounts;
    while (query.step())
        accounts.push_back(readAccount(query));
    return accounts;
}

bool Accounts::hasEnabledAdmin()
{
    auto query = database_.prepare(
        "SELECT count(*) FROM staff_accounts WHERE role = 'admin' AND disabled_at IS NULL AND totp_confirmed = 1");
    return query.step() && query.columnInt(0) > 0;
}

void Accounts::setDisabled(std::int64_t id, bool disabled)
{
    auto update = database_.prepare("UPDATE staff_accounts SET disabled_at = ? WHERE id = ?");
    if (disabled)
        update.bind(1, formatUtc(clock_()));
    else
        update.bindNull(1);
    update.bind(2, id).run();
}

void Accounts::setRole(std::int64_t id, Role role)
{
    database_.prepare("UPDATE staff_accounts SET role = ? WHERE id = ?").bind(1, std::string(roleName(role))).bind(2, id).run();
}

void Accounts::setPassword(std::int64_t id, const std::string& password)
{
    checkPassword(password);
    database_.prepare("UPDATE staff_accounts SET password_hash = ? WHERE id = ?").bind(1, hashPassword(password)).bind(2, id).run();
}

void Accounts::resetSecondFactor(std::int64_t id)
{
    database_.transaction([&] {
        database_.prepare("UPDATE staff_accounts SET totp_secret = NULL, totp_confirmed = 0 WHERE id = ?").bind(1, id).run();
        database_.prepare("DELETE FROM staff_recovery_codes WHERE account_id = ?").bind(1, id).run();
    });
}

void Accounts::startEnrolment(std::int64_t id, const std::vector<std::uint8_t>& secret)
{
    database_.prepare("UPDATE staff_accounts SET totp_secret = ?, totp_confirmed = 0 WHERE id = ?")
        .bind(1, std::span<const std::uint8_t>(secret))
        .bind(2, id)
        .run();
}

bool Accounts::checkTotp(std::int64_t id, const std::string& code, TimePoint now)
{
    const auto account = find(id);
    if (!account || account->totpSecret.empty())
        return false;
    const auto step = totp::verify(account->totpSecret, now, code);
    if (!step || static_cast<std::int64_t>(*step) <= account->totpLastStep)
        return false;
    database_.prepare("UPDATE staff_accounts SET totp_last_step = ?, totp_confirmed = 1 WHERE id = ?")
        .bind(1, static_cast<std::int64_t>(*step))
        .bind(2, id)
        .run();
    return true;
}

std::vector<std::string> Accounts::newRecoveryCodes(std::int64_t id)
{
    std::vector<std::string> codes;
    database_.transaction([&] {
        database_.prepare("DELETE FROM staff_recovery_codes WHERE account_id = ?").bind(1, id).run();
        for (int count = 0; count < kRecoveryCodeCount; ++count) {
            codes.push_back(randomCode(kRecoveryCodeLength));
            database_.prepare("INSERT INTO staff_recovery_codes (account_id, code_hash) VALUES (?, ?)")
                .bind(1, id)
                .bind(2, std::span<const std::uint8_t>(sha256(normaliseCode(codes.back()))))
                .run();
        }
    });
    return codes;
}

bool Accounts::useRecoveryCode(std::int64_t id, const std::string& code)
{
    const auto hash = sha256(normaliseCode(code));
    database_.prepare("DELETE FROM staff_recovery_codes WHERE account_id = ? AND code_hash = ?")
        .bind(1, id)
        .bind(2, std::span<const std::uint8_t>(hash))
        .run();
    auto changes = database_.prepare("SELECT changes()");
    return changes.step() && changes.columnInt(0) == 1;
}

std::int64_t Accounts::recoveryCodesLeft(std::int64_t id)
{
    auto query = database_.prepare("SELECT count(*) FROM staff_recovery_codes WHERE account_id = ?");
    query.bind(1, id);
    return query.step() ? query.columnInt(0) : 0;
}

std::string Accounts::newSetupCode()
{
    const std::string code = randomCode(kSetupCodeLength);
    database_.prepare("INSERT INTO staff_setup_codes (code_hash, created_at) VALUES (?, ?)")
        .bind(1, std::span<const std::uint8_t>(sha256(normaliseCode(code))))
        .bind(2, formatUtc(clock_()))
        .run();
    return code;
}

bool Accounts::hasSetupCode()
{
    auto query = database_.prepare("SELECT count(*) FROM staff_setup_codes");
    return query.step() && query.columnInt(0) > 0;
}

bool Accounts::isSetupCode(const std::string& code)
{
    const auto hash = sha256(normaliseCode(code));
    auto query = database_.prepare("SELECT count(*) FROM staff_setup_codes WHERE code_hash = ?");
    query.bind(1, std::span<const std::uint8_t>(hash));
    return query.step() && query.columnInt(0) == 1;
}

bool Accounts::useSetupCode(const std::string& code)
{
    const auto hash = sha256(normaliseCode(code));
    database_.prepare("DELETE FROM staff_setup_codes WHERE code_hash = ?").bind(1, std::span<const std::uint8_t>(hash)).run();
    auto changes = database_.prepare("SELECT changes()");
    return changes.step() && changes.columnInt(0) == 1;
}

} // namespace meldpunt::staff
