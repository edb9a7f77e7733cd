#pragma once

#include <cstdint>
#include <memory>
#include <string>

struct TSS2_TCTI_OPAQUE_CONTEXT_BLOB;
struct ESYS_CONTEXT;

namespace meldpunt::updater {

// The highest security epoch this box has run, kept in a TPM NV index of
// type bits. The TPM can only set bits in such an index, never clear them,
// so no software path on the box can lower the value short of deleting
// the index with the owner authorization. Epoch n is bit n-1; the recorded
// epoch is the highest bit set, so epochs run from 0 to 64. Not
// thread-safe: one connection to the TPM per object.
class SecurityEpochStore {
public:
    // Connects through the TCTI ("device:/dev/tpmrm0", "swtpm:port=2321").
    // Throws UpdateError naming the TCTI when the TPM does not respond.
    SecurityEpochStore(const std::string& tcti, std::uint32_t nvIndex);
    ~SecurityEpochStore();

    SecurityEpochStore(const SecurityEpochStore&) = delete;
    SecurityEpochStore& operator=(const SecurityEpochStore&) = delete;

    // Returns the recorded epoch; 0 when the index does not exist yet (a
    // new or cleared TPM) or was never written.
    std::uint32_t read();

    // Records `epoch`, defining the index first if needed. A lower value
    // than the recorded one changes nothing. Throws UpdateError.
    void raise(std::uint32_t epoch);

private:
    struct TctiDeleter {
        void operator()(TSS2_TCTI_OPAQUE_CONTEXT_BLOB* context) const;
    };
    struct EsysDeleter {
        void operator()(ESYS_CONTEXT* context) const;
    };

    std::string tcti_;
    std::uint32_t nvIndex_;
    std::unique_ptr<TSS2_TCTI_OPAQUE_CONTEXT_BLOB, TctiDeleter> tctiContext_;
    std::unique_ptr<ESYS_CONTEXT, EsysDeleter> esys_;
};

} // namespace meldpunt::updater
