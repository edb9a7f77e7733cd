#include "QrCode.h"

#include <qrencode.h>

#include <memory>
#include <stdexcept>

namespace meldpunt::staff {

namespace {

struct QrCodeFree {
    void operator()(QRcode* code) const { QRcode_free(code); }
};

// Four modules of white around the symbol, as ISO/IEC 18004 requires for
// readers to find it.
constexpr int kQuietZone = 4;

} // namespace

std::string qrCodeSvg(const std::string& text)
{
    const std::unique_ptr<QRcode, QrCodeFree> code(
        QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1));
    if (!code)
        throw std::runtime_error("the text cannot be encoded as a QR code");
    const int width = code->width;
    const int size = width + 2 * kQuietZone;
    std::string path;
    for (int y = 0; y < width; ++y) {
        for (int x = 0; x < width; ++x) {
            // The lowest bit of each module byte says whether it is dark.
            if (code->data[y * width + x] & 1)
                path += "M" + std::to_string(x + kQuietZone) + " " + std::to_string(y + kQuietZone) + "h1v1h-1z";
        }
    }
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + std::to_string(size) + " "
        + std::to_string(size) + "\" width=\"" + std::to_string(size * 6) + "\" height=\"" + std::to_string(size * 6)
        + "\" shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code\"><rect width=\"100%\" height=\"100%\" "
          "fill=\"#fff\"/><path fill=\"#000\" d=\""
        + path + "\"/></svg>";
}

} // namespace meldpunt::staff
