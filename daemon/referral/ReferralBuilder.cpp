#include "ReferralBuilder.h"

namespace meldpunt::referral {

namespace {

Bytes readAttachment(const AttachmentInput& input, std::uint64_t& budget)
{
    if (input.plaintext == nullptr)
        throw ReferralError("attachment '" + input.name + "' has no stream to read");
    Bytes content;
    char buffer[65536];
    while (input.plaintext->read(buffer, sizeof buffer) || input.plaintext->gcount() > 0) {
        const auto count = static_cast<std::uint64_t>(input.plaintext->gcount());
        if (count > budget)
            throw ReferralError("the attachments are larger than a referral may be (256 MiB)");
        budget -= count;
        content.insert(content.end(), buffer, buffer + count);
    }
    if (input.plaintext->bad())
        throw ReferralError("reading attachment '" + input.name + "' failed");
    return content;
}

} // namespace

SealedReferral sealReferral(Manifest manifest, const std::vector<AttachmentInput>& attachments,
    const HotlineSigner& signer, const Certificate& recipient)
{
    if (attachments.size() > kMaxAttachments)
        throw ReferralError(
            "a referral may carry at most " + std::to_string(kMaxAttachments) + " attachments");
    SealedReferral sealed;
    manifest.hotline = signer.organisation;
    manifest.attachments.clear();
    std::uint64_t budget = kMaxReferralBytes;
    for (std::size_t index = 0; index < attachments.size(); ++index) {
        const auto& input = attachments[index];
        const Bytes content = readAttachment(input, budget);
        // The hash from intake is what the partner checks; a file that
        // changed since must not go out under it.
        const std::string hash = sha256Hex(content);
        if (hash != input.sha256AtIntake)
            throw ReferralError("attachment '" + input.name
                + "' does not match its SHA-256 from intake; it was not sent");
        ManifestAttachment entry{"attachment-" + std::to_string(index + 1) + ".cms", input.name,
            input.mediaType, content.size(), hash};
        sealed.files.push_back(
            {entry.file, sealReferralFile(content, signer.certificate, *signer.key, recipient)});
        manifest.attachments.push_back(std::move(entry));
    }
    sealed.manifestJson = toJson(manifest);
    // The manifest must read back as written, or the partner rejects it.
    parseManifest(sealed.manifestJson);
    sealed.manifestSha256 = sha256Hex(asBytes(sealed.manifestJson));
    sealed.files.insert(sealed.files.begin(),
        {"manifest.cms",
            sealReferralFile(
                asBytes(sealed.manifestJson), signer.certificate, *signer.key, recipient)});
    sealed.manifest = std::move(manifest);
    return sealed;
}

} // namespace meldpunt::referral
