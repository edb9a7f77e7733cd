#include "Markdown.h"

#include "Pages.h"

#include <optional>

namespace meldpunt::markdown {

namespace {

// Emphasis inside emphasis deeper than this is shown as written, so that
// a text of nothing but asterisks cannot recurse without bound.
constexpr int kMaxNesting = 8;

bool isSpace(char c)
{
    return c == ' ' || c == '\t' || c == '\n';
}

bool isAsciiPunctuation(char c)
{
    const auto byte = static_cast<unsigned char>(c);
    return (byte >= '!' && byte <= '/') || (byte >= ':' && byte <= '@') || (byte >= '[' && byte <= '`')
        || (byte >= '{' && byte <= '~');
}

bool isAsciiAlphanumeric(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool startsWithNoCase(std::string_view text, std::string_view prefix)
{
    if (text.size() < prefix.size())
        return false;
    for (std::size_t index = 0; index < prefix.size(); ++index) {
        if (lower(text[index]) != prefix[index])
            return false;
    }
    return true;
}

std::string_view trim(std::string_view text)
{
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos)
        return {};
    const auto last = text.find_last_not_of(" \t");
    return text.substr(first, last - first + 1);
}

struct Link {
    std::string_view label;
    std::string_view target;
    std::size_t end = 0; // just past the closing parenthesis
};

// Reads "[label](target)" starting at the '[' at `position`.
std::optional<Link> readLink(std::string_view text, std::size_t position)
{
    int depth = 0;
    std::size_t index = position;
    for (; index < text.size(); ++index) {
        const char c = text[index];
        if (c == '\\') {
            ++index;
        } else if (c == '[') {
            ++depth;
        } else if (c == ']' && --depth == 0) {
            break;
        }
    }
    if (index + 1 >= text.size() || text[index + 1] != '(')
        return std::nullopt;
    const auto close = text.find(')', index + 2);
    if (close == std::string_view::npos)
        return std::nullopt;
    return Link{text.substr(position + 1, index - position - 1), trim(text.substr(index + 2, close - index - 2)),
        close + 1};
}

// The position of the delimiter of `length` characters `c` that closes
// emphasis opened just before `from`, or npos.
std::size_t findClosing(std::string_view text, std::size_t from, char c, std::size_t length)
{
    for (std::size_t index = from; index < text.size(); ++index) {
        if (text[index] == '\\') {
            ++index;
            continue;
        }
        if (text[index] != c)
            continue;
        std::size_t run = 1;
        while (index + run < text.size() && text[index + run] == c)
            ++run;
        const bool closesAfterText = index > from && !isSpace(text[index - 1]);
        const std::size_t after = index + length;
        const bool insideWord = c == '_' && after < text.size() && isAsciiAlphanumeric(text[after]);
        const bool fits = length == 1 ? run == 1 : run >= 2;
        if (fits && closesAfterText && !insideWord)
            return index;
        index += run - 1;
    }
    return std::string_view::npos;
}

class InlineRenderer {
public:
    explicit InlineRenderer(std::vector<std::string>* refused)
        : refused_(refused)
    {
    }

    void render(std::string_view text, int depth, bool linksAllowed, std::string& out)
    {
        std::size_t index = 0;
        while (index < text.size()) {
            const char c = text[index];
            if (c == '\\' && index + 1 < text.size() && isAsciiPunctuation(text[index + 1])) {
                out += escapeHtml(text.substr(index + 1, 1));
                index += 2;
                continue;
            }
            if (c == '[' && linksAllowed) {
                if (const auto link = readLink(text, index)) {
                    renderLink(*link, depth, out);
                    index = link->end;
                    continue;
                }
            }
            if ((c == '*' || c == '_') && depth < kMaxNesting) {
                if (const auto end = renderEmphasis(text, index, depth, linksAllowed, out)) {
                    index = end;
                    continue;
                }
            }
            out += escapeHtml(text.substr(index, 1));
            ++index;
        }
    }

private:
    void renderLink(const Link& link, int depth, std::string& out)
    {
        if (!isAllowedLink(link.target)) {
            if (refused_ != nullptr)
                refused_->emplace_back(link.target);
            render(link.label, depth + 1, false, out);
            return;
        }
        out += "<a href=\"" + escapeHtml(link.target) + "\">";
        render(link.label, depth + 1, false, out);
        out += "</a>";
    }

    // Renders the emphasis that opens at `index`; returns the position
    // after it, or 0 when the delimiter opens nothing.
    std::size_t renderEmphasis(std::string_view text, std::size_t index, int depth, bool linksAllowed,
        std::string& out)
    {
        const char c = text[index];
        const std::size_t length = index + 1 < text.size() && text[index + 1] == c ? 2 : 1;
        const std::size_t start = index + length;
        if (start >= text.size() || isSpace(text[start]))
            return 0;
        if (c == '_' && index > 0 && isAsciiAlphanumeric(text[index - 1]))
            return 0;
        const std::size_t close = findClosing(text, start, c, length);
        if (close == std::string_view::npos)
            return 0;
        const char* tag = length == 2 ? "strong" : "em";
        out += std::string("<") + tag + ">";
        render(text.substr(start, close - start), depth + 1, linksAllowed, out);
        out += std::string("</") + tag + ">";
        return close + length;
    }

    std::vector<std::string>* refused_;
};

bool isBlank(std::string_view line)
{
    return line.find_first_not_of(" \t") == std::string_view::npos;
}

std::size_t indentation(std::string_view line)
{
    std::size_t spaces = 0;
    while (spaces < line.size() && spaces < 4 && line[spaces] == ' ')
        ++spaces;
    return spaces;
}

struct ListMarker {
    bool ordered = false;
    std::size_t contentStart = 0;
};

std::optional<ListMarker> listMarker(std::string_view line)
{
    const std::size_t start = indentation(line);
    if (start > 3 || start >= line.size())
        return std::nullopt;
    const char c = line[start];
    if ((c == '-' || c == '*' || c == '+') && start + 1 < line.size() && (line[start + 1] == ' ' || line[start + 1] == '\t'))
        return ListMarker{false, start + 2};
    std::size_t digits = 0;
    while (start + digits < line.size() && digits < 10 && line[start + digits] >= '0' && line[start + digits] <= '9')
        ++digits;
    const std::size_t marker = start + digits;
    if (digits == 0 || digits > 9 || marker + 1 >= line.size())
        return std::nullopt;
    if ((line[marker] == '.' || line[marker] == ')') && (line[marker + 1] == ' ' || line[marker + 1] == '\t'))
        return ListMarker{true, marker + 2};
    return std::nullopt;
}

struct Heading {
    int level = 0;
    std::string_view text;
};

std::optional<Heading> heading(std::string_view line)
{
    const std::size_t start = indentation(line);
    if (start > 3)
        return std::nullopt;
    std::size_t level = 0;
    while (start + level < line.size() && line[start + level] == '#')
        ++level;
    if (level == 0 || level > 6)
        return std::nullopt;
    const std::size_t after = start + level;
    if (after < line.size() && line[after] != ' ' && line[after] != '\t')
        return std::nullopt;
    std::string_view text = trim(line.substr(after));
    // A closing run of '#' belongs to the syntax, not to the heading.
    const auto last = text.find_last_not_of('#');
    if (last == std::string_view::npos)
        text = {};
    else if (last + 1 < text.size() && (text[last] == ' ' || text[last] == '\t'))
        text = trim(text.substr(0, last + 1));
    return Heading{static_cast<int>(level), text};
}

std::vector<std::string_view> splitLines(const std::string& text)
{
    std::vector<std::string_view> lines;
    std::string_view rest(text);
    while (!rest.empty()) {
        const auto end = rest.find('\n');
        std::string_view line = rest.substr(0, end);
        const auto last = line.find_last_not_of(" \t");
        lines.push_back(last == std::string_view::npos ? std::string_view() : line.substr(0, last + 1));
        if (end == std::string_view::npos)
            break;
        rest.remove_prefix(end + 1);
    }
    return lines;
}

std::string withUnixLineBreaks(std::string_view text)
{
    std::string result;
    result.reserve(text.size());
    for (std::size_t index = 0; index < text.size(); ++index) {
        if (text[index] == '\r') {
            result.push_back('\n');
            if (index + 1 < text.size() && text[index + 1] == '\n')
                ++index;
        } else {
            result.push_back(text[index]);
        }
    }
    return result;
}

std::string render(std::string_view source, std::vector<std::string>* refused)
{
    const std::string text = withUnixLineBreaks(source);
    const auto lines = splitLines(text);
    InlineRenderer renderer(refused);
    const auto inlineHtml = [&](std::string_view content) {
        std::string html;
        renderer.render(content, 0, true, html);
        return html;
    };
    std::string out;
    std::size_t index = 0;
    while (index < lines.size()) {
        const std::string_view line = lines[index];
        if (isBlank(line)) {
            ++index;
            continue;
        }
        if (const auto title = heading(line)) {
            const std::string level = std::to_string(title->level);
            out += "<h" + level + ">" + inlineHtml(title->text) + "</h" + level + ">\n";
            ++index;
            continue;
        }
        if (const auto first = listMarker(line)) {
            const bool ordered = first->ordered;
            out += ordered ? "<ol>\n" : "<ul>\n";
            while (index < lines.size()) {
                const auto marker = listMarker(lines[index]);
                if (!marker || marker->ordered != ordered)
                    break;
                std::string item(trim(lines[index].substr(marker->contentStart)));
                ++index;
                while (index < lines.size() && !isBlank(lines[index]) && !listMarker(lines[index])
                    && !heading(lines[index])) {
                    item += "\n";
                    item += trim(lines[index]);
                    ++index;
                }
                out += "<li>" + inlineHtml(item) + "</li>\n";
                // One blank line between items keeps the list going.
                if (index + 1 < lines.size() && isBlank(lines[index])) {
                    const auto next = listMarker(lines[index + 1]);
                    if (next && next->ordered == ordered)
                        ++index;
                }
            }
            out += ordered ? "</ol>\n" : "</ul>\n";
            continue;
        }
        std::string paragraph(trim(line));
        ++index;
        while (index < lines.size() && !isBlank(lines[index]) && !listMarker(lines[index]) && !heading(lines[index])) {
            paragraph += "\n";
            paragraph += trim(lines[index]);
            ++index;
        }
        out += "<p>" + inlineHtml(paragraph) + "</p>\n";
    }
    return out;
}

} // namespace

std::string toHtml(std::string_view text)
{
    return render(text, nullptr);
}

bool isAllowedLink(std::string_view target)
{
    if (target.empty())
        return false;
    for (const char c : target) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte == 0x7f || c == '\\' || c == '"' || c == '<' || c == '>')
            return false;
    }
    if (startsWithNoCase(target, "https://"))
        return target.size() > 8;
    if (startsWithNoCase(target, "mailto:"))
        return target.size() > 7;
    // A path on the site: no scheme before the first '/', '?' or '#', and
    // not "//", which names another host.
    if (target.starts_with("//"))
        return false;
    const auto colon = target.find(':');
    const auto pathEnd = target.find_first_of("/?#");
    return colon == std::string_view::npos || (pathEnd != std::string_view::npos && pathEnd < colon);
}

std::vector<std::string> refusedLinks(std::string_view text)
{
    std::vector<std::string> refused;
    render(text, &refused);
    return refused;
}

} // namespace meldpunt::markdown
