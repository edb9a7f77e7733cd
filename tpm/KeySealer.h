#pragma once

#include "PcrSelection.h"
#include "SecretBytes.h"
#include "TpmError.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// Opaque tpm2-tss types, declared here so that users of this header do not
// need the tpm2-tss headers.
struct TSS2_TCTI_OPAQUE_CONTEXT_BLOB;
struct ESYS_CONTEXT;

namespace meldpunt::tpm {

// A secret sealed by the TPM under the storage primary key of the owner
// hierarchy. Only the TPM that sealed it can load it, and only while the
// selected PCRs hold the values they had when it was sealed.
struct SealedKey {
    std::vector<std::uint8_t> publicArea;  // marshalled TPM2B_PUBLIC
    std::vector<std::uint8_t> privateArea; // marshalled TPM2B_PRIVATE
    PcrSelection pcrs;
};

// One ESYS connection to a TPM. Not thread-safe: use one object per thread.
// Every method throws TpmError on a TPM failure, and no method leaves a
// transient object or session loaded in the TPM.
class Tpm {
public:
    // Connects through the TCTI configuration string, for example
    // "device:/dev/tpmrm0" or "swtpm:host=127.0.0.1,port=2321". Throws
    // TpmError(Unreachable) naming the TCTI when the connection fails.
    explicit Tpm(const std::string& tcti);
    ~Tpm();

    Tpm(const Tpm&) = delete;
    Tpm& operator=(const Tpm&) = delete;

    const std::string& tcti() const { return tcti_; }

    // Seals 1 to 128 bytes to the current values of the selected PCRs.
    // Throws std::invalid_argument for an empty or oversized secret or an
    // empty selection.
    SealedKey seal(std::span<const std::uint8_t> secret, const PcrSelection& pcrs);

    // Unseals a key made by seal(). The failure kind of a TpmError
    // distinguishes a PCR mismatch, a lockout, an unreachable TPM and a
    // rejected blob.
    meldpunt::SecretBytes unseal(const SealedKey& sealed);

    // Returns whether the TPM is in dictionary-attack lockout
    // (TPMA_PERMANENT_INLOCKOUT of TPM2_PT_PERMANENT).
    bool inLockout();

    // Extends a PCR of the SHA-256 bank with the SHA-256 digest of data.
    void extendPcr(unsigned index, std::string_view data);

private:
    struct TctiDeleter {
        void operator()(TSS2_TCTI_OPAQUE_CONTEXT_BLOB* context) const;
    };
    struct EsysDeleter {
        void operator()(ESYS_CONTEXT* context) const;
    };

    // The ESYS steps behind the public methods, defined in KeySealer.cpp.
    class Operations;

    std::string tcti_;
    // The TCTI context must outlive the ESYS context, so it is declared first.
    std::unique_ptr<TSS2_TCTI_OPAQUE_CONTEXT_BLOB, TctiDeleter> tctiContext_;
    std::unique_ptr<ESYS_CONTEXT, EsysDeleter> esys_;
};

} // namespace meldpunt::tpm
