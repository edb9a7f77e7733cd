#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace meldpunt::markdown {

// Renders the small part of Markdown that coordinators write the public
// site's texts in, as HTML:
//
//   # Heading ... ###### Heading   headings (one line each)
//   - item, * item, + item          bulleted lists
//   1. item, 1) item                numbered lists
//   *emphasis*, _emphasis_          <em>
//   **strong**, __strong__          <strong>
//   [text](target)                  links to https:, mailto: or a path on the site
//   \*                              a character that would otherwise mark something
//
// Everything else is text: every character that means something in HTML
// is escaped, so no tag, attribute or entity written by hand reaches the
// page. A link whose target is not allowed (see isAllowedLink) is shown
// as its text without a link. Blank lines separate paragraphs; line
// breaks inside a paragraph are kept as line breaks of the source.
std::string toHtml(std::string_view text);

// True for a link target that may go on the public site: an https: or
// mailto: address, or a path on the site itself ("/nl/report",
// "info/faq", "#contact"). Targets with white space, control characters,
// backslashes or another scheme (javascript:, data:, http:) are refused,
// and so is "//host", which would leave the site.
bool isAllowedLink(std::string_view target);

// The link targets in `text` that isAllowedLink refuses, in order, so that
// an editor can say which link to change.
std::vector<std::string> refusedLinks(std::string_view text);

} // namespace meldpunt::markdown
