#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace meldpunt::tpm {

// The kinds of TPM failure that an operator has to tell apart, because each
// calls for a different check by a technician (see docs/tpm.md).
enum class TpmFailure { Unreachable, PcrMismatch, Lockout, SealedKeyRejected, Other };

// A failed TPM operation. The message is a full sentence that names the TCTI
// that was tried, the decoded TPM response code where there is one, and what
// to check next.
class TpmError : public std::runtime_error {
public:
    TpmError(TpmFailure failure, const std::string& message)
        : std::runtime_error(message)
        , failure_(failure)
    {
    }

    TpmFailure failure() const { return failure_; }

private:
    TpmFailure failure_;
};

// Returns a short label for the failure kind, for status pages and logs.
inline std::string_view describe(TpmFailure failure)
{
    switch (failure) {
    case TpmFailure::Unreachable:
        return "TPM not reachable";
    case TpmFailure::PcrMismatch:
        return "PCR mismatch";
    case TpmFailure::Lockout:
        return "TPM in dictionary-attack lockout";
    case TpmFailure::SealedKeyRejected:
        return "sealed key rejected by the TPM";
    case TpmFailure::Other:
        break;
    }
    return "TPM error";
}

} // namespace meldpunt::tpm
