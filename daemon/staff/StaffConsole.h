#pragma once

#include "KeyUnlock.h"
#include "RecoveryKey.h"

#include <ostream>

namespace meldpunt::staff {

// The console's staff commands in meldpunt-keys. Both open the database
// beside a running meldpuntd, which SQLite's locking allows.

// Makes a one-time setup code that creates a staff admin on the page
// /setup, and writes it to `out` (the console). The recovery key proves
// the right to do so without the TPM's help, so that a box whose admins
// all left or lost their second factor gets a new admin. The code is
// audited, never logged. Returns the exit status. Throws
// keys::WrongRecoveryKey for a key that does not open the database.
int printNewAdminCode(const keys::KeySettings& settings, const keys::RecoveryKey& recoveryKey, std::ostream& out);

// Verifies the audit log's hash chain with the data key from the TPM and
// writes the result to `out`. Returns 0 when the chain is intact and 1,
// after naming the first broken entry, when it is not.
int verifyAuditChain(const keys::KeySettings& settings, std::ostream& out);

} // namespace meldpunt::staff
