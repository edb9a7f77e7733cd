#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

struct TSS2_TCTI_OPAQUE_CONTEXT_BLOB;
struct ESYS_CONTEXT;

namespace meldpunt::updater {

struct UpdaterConfig;

// The highest security epoch this box has run, kept in a TPM NV index of
// type bits. The TPM can only set bits in such an index, never clear them,
// so no software path on the box can lower the value short of deleting
// the index with the owner authorization. Epoch n is bit n-1; the recorded
// epoch is the highest bit set, so epochs run from 0 to 64.
//
// Reading and writing the index need its authorization value, 32 random
// bytes that the updater keeps in `authFile` (root's, mode 0600). Other
// processes with access to the TPM, such as meldpuntd in the group tss,
// cannot set bits. They can still delete the index with the empty owner
// authorization; read() and raise() then report an index that does not
// accept the value as replaced (docs/updates.md). Not thread-safe: one
// connection to the TPM per object.
class SecurityEpochStore {
public:
    // Connects through the TCTI ("device:/dev/tpmrm0", "swtpm:port=2321").
    // Throws UpdateError naming the TCTI when the TPM does not respond.
    SecurityEpochStore(const std::string& tcti, std::uint32_t nvIndex, std::filesystem::path authFile);
    explicit SecurityEpochStore(const UpdaterConfig& config);
    ~SecurityEpochStore();

    SecurityEpochStore(const SecurityEpochStore&) = delete;
    SecurityEpochStore& operator=(const SecurityEpochStore&) = delete;

    // Returns the recorded epoch; 0 when the index does not exist yet (a
    // new or cleared TPM) or was never written. Throws UpdateError when the
    // index exists but the authorization file is missing or not accepted.
    std::uint32_t read();

    // Records `epoch`, defining the index first if needed. Defining it
    // writes a new authorization file unless one exists. A lower value
    // than the recorded one changes nothing. Throws UpdateError.
    void raise(std::uint32_t epoch);

private:
    std::vector<std::uint8_t> loadAuthValue() const;
    std::vector<std::uint8_t> createAuthValue() const;
    std::string authFailure(const std::string& action, std::uint32_t rc) const;

    struct TctiDeleter {
        void operator()(TSS2_TCTI_OPAQUE_CONTEXT_BLOB* context) const;
    };
    struct EsysDeleter {
        void operator()(ESYS_CONTEXT* context) const;
    };

    std::string tcti_;
    std::uint32_t nvIndex_;
    std::filesystem::path authFile_;
    std::unique_ptr<TSS2_TCTI_OPAQUE_CONTEXT_BLOB, TctiDeleter> tctiContext_;
    std::unique_ptr<ESYS_CONTEXT, EsysDeleter> esys_;
};

} // namespace meldpunt::updater
