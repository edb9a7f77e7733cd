#pragma once

#include <string>

namespace meldpunt::staff {

// Renders `text` as a QR code (libqrencode, error correction level M) in an
// SVG document of black squares, to be served by meldpuntd itself, so that
// the TOTP secret never reaches a third party. Throws std::runtime_error
// when the text is too long for a QR code.
std::string qrCodeSvg(const std::string& text);

} // namespace meldpunt::staff
