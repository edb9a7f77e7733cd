// Fuzzes the JSON key files: the published intake key (which the public
// site reads), the recovery public key, the recovery wrap and the sealed
// key file. Every parser gets every input, since a file of one format
// must be rejected cleanly by the others as well.

#include "FuzzSupport.h"

#include "IntakeKeyFile.h"
#include "RecoveryKey.h"
#include "RecoveryWrap.h"
#include "SealedKeyFile.h"

#include <stdexcept>

using namespace meldpunt;

namespace {

void checkIntakeKey(const std::string& json)
{
    spool::IntakePublicKey key;
    try {
        key = parseIntakeKey(json);
    } catch (const std::runtime_error&) {
        return;
    }
    const auto again = parseIntakeKey(serializeIntakeKey(key, "2024-05-31T12:00:00Z"));
    FUZZ_CHECK(again.id == key.id && again.key == key.key, "an intake key changes when written and read again");
}

void checkRecoveryPublicKey(const std::string& json)
{
    keys::RecoveryPublicKey key;
    try {
        key = keys::RecoveryPublicKey::fromJson(json);
    } catch (const std::runtime_error&) {
        return;
    }
    const auto again = keys::RecoveryPublicKey::fromJson(key.toJson());
    FUZZ_CHECK(again.publicKey == key.publicKey && again.salt == key.salt && again.argon2 == key.argon2,
        "a recovery public key changes when written and read again");
}

void checkRecoveryWrap(const std::string& json)
{
    keys::RecoveryWrap wrap;
    try {
        wrap = keys::RecoveryWrap::fromJson(json);
    } catch (const std::runtime_error&) {
        return;
    }
    FUZZ_CHECK(!wrap.databaseId.empty(), "a recovery wrap without a database id");
    const auto again = keys::RecoveryWrap::fromJson(wrap.toJson());
    FUZZ_CHECK(again.databaseId == wrap.databaseId && again.ephemeralKey == wrap.ephemeralKey
            && again.nonce == wrap.nonce && again.ciphertext == wrap.ciphertext,
        "a recovery wrap changes when written and read again");
}

void checkSealedKeyFile(std::span<const std::uint8_t> bytes)
{
    const auto path = fuzz::scratchFolder() / "sealed-key.json";
    fuzz::writeFile(path, bytes);
    tpm::SealedKeyFile file;
    try {
        file = tpm::SealedKeyFile::read(path);
    } catch (const tpm::SealedKeyFileError&) {
        return;
    }
    const auto copy = fuzz::scratchFolder() / "sealed-key-copy.json";
    file.writeAtomically(copy);
    const auto again = tpm::SealedKeyFile::read(copy);
    FUZZ_CHECK(again.databaseId == file.databaseId && again.databaseFile == file.databaseFile
            && again.key.pcrs == file.key.pcrs && again.key.publicArea == file.key.publicArea
            && again.key.privateArea == file.key.privateArea,
        "a sealed key file changes when written and read again");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string json(fuzz::asText(data, size));
    checkIntakeKey(json);
    checkRecoveryPublicKey(json);
    checkRecoveryWrap(json);
    checkSealedKeyFile({data, size});
    return 0;
}
