#include "ReporterCode.h"

#include "Crypto.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>

namespace meldpunt {

namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::size_t kDataPerGroup = 4;
constexpr std::size_t kGroupLength = kDataPerGroup + 1;
constexpr std::size_t kDataCharacters = ReporterCode::kGroups * kDataPerGroup; // 16 * 5 = 80 bits
constexpr std::size_t kCodeCharacters = ReporterCode::kGroups * kGroupLength;
constexpr std::array<unsigned, kDataPerGroup> kCheckWeights{1, 3, 5, 7};
constexpr unsigned kGroupWeight = 7;

unsigned kindTerm(ReporterCode::Kind kind)
{
    return kind == ReporterCode::Kind::Receipt ? 16 : 0;
}

unsigned checkValue(std::size_t group, std::span<const std::uint8_t> values, ReporterCode::Kind kind)
{
    unsigned sum = kGroupWeight * static_cast<unsigned>(group) + kindTerm(kind);
    for (std::size_t i = 0; i < kDataPerGroup; ++i)
        sum += kCheckWeights[i] * values[i];
    return sum % 32;
}

// Splits 10 bytes into 16 five-bit values, most significant bit first.
void toFiveBitValues(std::span<const std::uint8_t> bytes, std::span<std::uint8_t> values)
{
    for (std::size_t chunk = 0; chunk < ReporterCode::kSize / 5; ++chunk) {
        std::uint64_t bits = 0;
        for (std::size_t i = 0; i < 5; ++i)
            bits = bits << 8 | bytes[5 * chunk + i];
        for (std::size_t i = 0; i < 8; ++i)
            values[8 * chunk + i] = static_cast<std::uint8_t>(bits >> (35 - 5 * i) & 0x1f);
        OPENSSL_cleanse(&bits, sizeof bits);
    }
}

void fromFiveBitValues(std::span<const std::uint8_t> values, std::span<std::uint8_t> bytes)
{
    for (std::size_t chunk = 0; chunk < ReporterCode::kSize / 5; ++chunk) {
        std::uint64_t bits = 0;
        for (std::size_t i = 0; i < 8; ++i)
            bits = bits << 5 | values[8 * chunk + i];
        for (std::size_t i = 0; i < 5; ++i)
            bytes[5 * chunk + i] = static_cast<std::uint8_t>(bits >> (32 - 8 * i) & 0xff);
        OPENSSL_cleanse(&bits, sizeof bits);
    }
}

int characterValue(char typed)
{
    char upper = typed >= 'a' && typed <= 'z' ? static_cast<char>(typed - 'a' + 'A') : typed;
    if (upper == 'I' || upper == 'L')
        upper = '1';
    else if (upper == 'O')
        upper = '0';
    const auto position = kAlphabet.find(upper);
    return position == std::string_view::npos ? -1 : static_cast<int>(position);
}

bool isSeparator(char typed)
{
    return typed == '-' || typed == ' ' || typed == '\t' || typed == '\n' || typed == '\r';
}

// Returns the first group whose check character does not match for
// `kind`, or 0 when all match.
std::size_t firstMismatch(std::span<const std::uint8_t> values, ReporterCode::Kind kind)
{
    for (std::size_t group = 0; group < ReporterCode::kGroups; ++group) {
        const auto groupValues = values.subspan(group * kGroupLength, kGroupLength);
        if (checkValue(group, groupValues, kind) != groupValues[kDataPerGroup])
            return group + 1;
    }
    return 0;
}

ReporterCode::Kind otherKind(ReporterCode::Kind kind)
{
    return kind == ReporterCode::Kind::Resume ? ReporterCode::Kind::Receipt : ReporterCode::Kind::Resume;
}

} // namespace

ReporterCode ReporterCode::generate(Kind kind)
{
    ReporterCode code(kind);
    code.bytes_ = SecretBytes::random(kSize);
    return code;
}

ReporterCode ReporterCode::fromBytes(std::span<const std::uint8_t> bytes, Kind kind)
{
    if (bytes.size() != kSize)
        throw std::invalid_argument("a reporter code has " + std::to_string(kSize) + " bytes, not "
            + std::to_string(bytes.size()));
    ReporterCode code(kind);
    std::copy(bytes.begin(), bytes.end(), code.bytes_.data());
    return code;
}

ParsedCode ReporterCode::parse(std::string_view text, Kind kind)
{
    ParsedCode result;
    SecretBytes values(kCodeCharacters);
    std::size_t count = 0;
    for (const char typed : text) {
        if (isSeparator(typed))
            continue;
        const int value = characterValue(typed);
        if (value < 0) {
            result.problem = CodeProblem::InvalidCharacter;
            result.group = count < kCodeCharacters ? count / kGroupLength + 1 : 0;
            return result;
        }
        if (count < kCodeCharacters)
            values.data()[count] = static_cast<std::uint8_t>(value);
        ++count;
    }
    if (count != kCodeCharacters) {
        result.problem = count == 0 ? CodeProblem::Empty : CodeProblem::WrongLength;
        return result;
    }
    if (const std::size_t group = firstMismatch(values.span(), kind); group != 0) {
        const bool other = firstMismatch(values.span(), otherKind(kind)) == 0;
        result.problem = other ? CodeProblem::OtherKind : CodeProblem::CheckMismatch;
        result.group = other ? 0 : group;
        return result;
    }
    SecretBytes dataValues(kDataCharacters);
    for (std::size_t group = 0; group < kGroups; ++group) {
        const auto source = values.span().subspan(group * kGroupLength, kDataPerGroup);
        std::copy(source.begin(), source.end(), dataValues.data() + group * kDataPerGroup);
    }
    ReporterCode code(kind);
    fromFiveBitValues(dataValues.span(), code.bytes_.span());
    result.code.emplace(std::move(code));
    return result;
}

std::string ReporterCode::toString() const
{
    SecretBytes values(kDataCharacters);
    toFiveBitValues(bytes_.span(), values.span());
    std::string text;
    text.reserve(kCodeCharacters + kGroups - 1);
    for (std::size_t group = 0; group < kGroups; ++group) {
        if (group > 0)
            text.push_back('-');
        const auto groupValues = values.span().subspan(group * kDataPerGroup, kDataPerGroup);
        for (const std::uint8_t value : groupValues)
            text.push_back(kAlphabet[value]);
        text.push_back(kAlphabet[checkValue(group, groupValues, kind_)]);
    }
    return text;
}

} // namespace meldpunt
