#include "RawEsys.h"

namespace meldpunt::test {

TSS2_RC baseCode(TSS2_RC rc)
{
    const TSS2_RC code = rc & 0xFFFF;
    return (code & TPM2_RC_FMT1) != 0 ? (code & (TPM2_RC_FMT1 | 0x3F)) : code;
}

void forceLockout(const std::string& tcti)
{
    RawEsys esys(tcti);
    RawEsys::check(Esys_DictionaryAttackParameters(esys.get(), ESYS_TR_RH_LOCKOUT, ESYS_TR_PASSWORD,
                       ESYS_TR_NONE, ESYS_TR_NONE, 1, 1000, 1000),
        "Esys_DictionaryAttackParameters");
    const ESYS_TR object = esys.loadDaProtectedObject();
    const TSS2_RC wrong = baseCode(esys.unsealWithPassword(object, "wrong"));
    const TSS2_RC right = baseCode(esys.unsealWithPassword(object, "right"));
    Esys_FlushContext(esys.get(), object);
    if (wrong != TPM2_RC_AUTH_FAIL || right != TPM2_RC_LOCKOUT)
        throw std::runtime_error("the simulator did not enter dictionary-attack lockout");
}

} // namespace meldpunt::test
