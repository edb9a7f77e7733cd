#include "QrCode.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

using Catch::Matchers::ContainsSubstring;
using meldpunt::staff::qrCodeSvg;

TEST_CASE("QR code as SVG", "[qrcode]")
{
    SECTION("an otpauth URI becomes a self-contained SVG document")
    {
        const std::string svg = qrCodeSvg("otpauth://totp/Meldpunt%3Aanna?secret=GEZDGNBVGY3TQOJQ&issuer=Meldpunt");
        CHECK(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        CHECK(svg.ends_with("</svg>"));
        CHECK_THAT(svg, ContainsSubstring("<path fill=\"#000\" d=\"M"));
        // Nothing is fetched from elsewhere: no links, no scripts.
        CHECK_THAT(svg, !ContainsSubstring("href"));
        CHECK_THAT(svg, !ContainsSubstring("<script"));
    }

    SECTION("different text gives a different symbol")
    {
        CHECK(qrCodeSvg("otpauth://totp/a") != qrCodeSvg("otpauth://totp/b"));
    }
}
