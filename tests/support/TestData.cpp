#include "TestData.h"

#include <fstream>
#include <stdexcept>

namespace meldpunt::test {

namespace {

// Appends the UTF-8 encoding of a code point.
void appendUtf8(std::string& out, unsigned long codePoint)
{
    if (codePoint < 0x80) {
        out.push_back(static_cast<char>(codePoint));
    } else if (codePoint < 0x800) {
        out.push_back(static_cast<char>(0xc0 | codePoint >> 6));
        out.push_back(static_cast<char>(0x80 | (codePoint & 0x3f)));
    } else {
        out.push_back(static_cast<char>(0xe0 | codePoint >> 12));
        out.push_back(static_cast<char>(0x80 | (codePoint >> 6 & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (codePoint & 0x3f)));
    }
}

bool isHex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Decodes the escapes that the file's header names: \r, \n, \uXXXX and
// %XX. A backslash or percent sign that starts no such escape is kept.
std::string decodeEscapes(const std::string& line)
{
    std::string out;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (c == '\\' && i + 1 < line.size() && (line[i + 1] == 'r' || line[i + 1] == 'n')) {
            out.push_back(line[i + 1] == 'r' ? '\r' : '\n');
            ++i;
        } else if (c == '\\' && i + 5 < line.size() && line[i + 1] == 'u' && isHex(line[i + 2])
            && isHex(line[i + 3]) && isHex(line[i + 4]) && isHex(line[i + 5])) {
            appendUtf8(out, std::stoul(line.substr(i + 2, 4), nullptr, 16));
            i += 5;
        } else if (c == '%' && i + 2 < line.size() && isHex(line[i + 1]) && isHex(line[i + 2])) {
            out.push_back(static_cast<char>(std::stoi(line.substr(i + 1, 2), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(c);
        }
    }
    return out;
}

} // namespace

std::vector<std::string> hostileInputs()
{
    const std::string path = std::string(MELDPUNT_SOURCE_DIR) + "/tests/data/hostile-inputs.txt";
    std::ifstream in(path, std::ios::binary);
    if (!in.is_open())
        throw std::runtime_error("cannot open " + path);
    std::vector<std::string> inputs;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line.starts_with("#"))
            continue;
        inputs.push_back(decodeEscapes(line));
    }
    return inputs;
}

} // namespace meldpunt::test
