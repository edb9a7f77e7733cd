#pragma once

#include "Clock.h"
#include "Database.h"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace meldpunt::staff {

enum class Role { Admin, Coordinator, Caseworker, Auditor };

const char* roleName(Role role);
std::optional<Role> parseRole(const std::string& name);
const std::vector<Role>& allRoles();

struct Account {
    std::int64_t id = 0;
    std::string username;
    Role role = Role::Caseworker;
    std::string passwordHash;
    std::vector<std::uint8_t> totpSecret; // empty until enrolment starts
    bool totpConfirmed = false;
    std::int64_t totpLastStep = 0;
    std::string createdAt;
    bool disabled = false;
};

// Input a staff member can correct: the message says what is wrong and
// what to do.
class AccountError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Staff accounts, their second factor and one-time codes, in the
// database. Not thread-safe: the caller holds the database's lock.
class Accounts {
public:
    Accounts(storage::Database& database, Clock clock);

    // Creates an account with a password and no second factor yet, which
    // is enrolled at the first login. Throws AccountError for a user name
    // that is invalid or taken, or a password that is too short.
    std::int64_t create(const std::string& username, Role role, const std::string& password);

    std::optional<Account> find(std::int64_t id);
    std::optional<Account> findByName(const std::string& username);
    std::vector<Account> list();
    bool hasEnabledAdmin();

    void setDisabled(std::int64_t id, bool disabled);
    void setRole(std::int64_t id, Role role);
    // Throws AccountError for a password that is too short.
    void setPassword(std::int64_t id, const std::string& password);

    // Clears the second factor and the recovery codes; the next login
    // enrols a new one.
    void resetSecondFactor(std::int64_t id);
    // Stores a new, unconfirmed TOTP secret.
    void startEnrolment(std::int64_t id, const std::vector<std::uint8_t>& secret);
    // Checks a TOTP code against the stored secret, at most once per time
    // step, and confirms an enrolment with it. Returns false for a wrong
    // or reused code.
    bool checkTotp(std::int64_t id, const std::string& code, TimePoint now);

    // Replaces the account's recovery codes with ten new ones and returns
    // them, to be shown once.
    std::vector<std::string> newRecoveryCodes(std::int64_t id);
    // Returns true and removes the code when it is one of the account's.
    bool useRecoveryCode(std::int64_t id, const std::string& code);
    std::int64_t recoveryCodesLeft(std::int64_t id);

    // Stores a new one-time setup code, which lets its holder create an
    // admin, and returns it, to be shown once.
    std::string newSetupCode();
    bool hasSetupCode();
    // Returns true when the code is valid, and keeps it.
    bool isSetupCode(const std::string& code);
    // Returns true and removes the code when it is valid.
    bool useSetupCode(const std::string& code);

private:
    storage::Database& database_;
    Clock clock_;
};

// Normalises a typed code: letters upper-cased, spaces and hyphens
// dropped, so that "abcd-efgh" and "ABCDEFGH" are the same code.
std::string normaliseCode(const std::string& typed);

} // namespace meldpunt::staff
