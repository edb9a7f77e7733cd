// Fuzzes what a partner's receiver parses from a referral: the manifest
// JSON, the receipt JSON, and the DER of CMS content. Each input goes to
// every parser.

#include "FuzzSupport.h"

#include "Cms.h"
#include "Manifest.h"

using namespace meldpunt;

namespace {

void checkManifest(std::string_view json)
{
    referral::Manifest manifest;
    try {
        manifest = referral::parseManifest(json);
    } catch (const referral::ReferralError&) {
        return;
    }
    for (const auto& attachment : manifest.attachments)
        FUZZ_CHECK(referral::isAttachmentFileName(attachment.file),
            "an accepted attachment file name is unsafe");
    const auto again = referral::parseManifest(referral::toJson(manifest));
    FUZZ_CHECK(again == manifest, "a manifest changes when written and read again");
}

void checkReceipt(std::string_view json)
{
    referral::Receipt receipt;
    try {
        receipt = referral::parseReceipt(json);
    } catch (const referral::ReferralError&) {
        return;
    }
    FUZZ_CHECK(referral::parseReceipt(referral::toJson(receipt)) == receipt,
        "a receipt changes when written and read again");
}

// With no trusted certificate nothing can verify, so every input must end
// in ReferralError.
void checkSignedContent(std::span<const std::uint8_t> der)
{
    try {
        referral::verifySignedContent(der, {});
    } catch (const referral::ReferralError&) {
        return;
    }
    FUZZ_CHECK(false, "signed content verified without a trusted certificate");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const auto text = fuzz::asText(data, size);
    checkManifest(text);
    checkReceipt(text);
    checkSignedContent({data, size});
    return 0;
}
