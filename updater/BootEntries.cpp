#include "BootEntries.h"

#include "UpdateError.h"

#include "FileSystem.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace meldpunt::updater {

namespace {

constexpr std::string_view kPrefix = "meldpunt-";
constexpr std::string_view kSuffix = ".conf";
constexpr std::string_view kDefaultLine = "default meldpunt-*";

std::optional<unsigned> parseNumber(std::string_view text)
{
    unsigned value = 0;
    if (text.empty() || text.size() > 6)
        return std::nullopt;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size())
        return std::nullopt;
    return value;
}

std::string entryName(unsigned generation, Slot slot, std::optional<unsigned> left, unsigned done)
{
    char name[64];
    std::snprintf(name, sizeof name, "meldpunt-%06u-%c", generation, slotLetter(slot));
    std::string result = name;
    if (left) {
        result += "+" + std::to_string(*left);
        if (done > 0)
            result += "-" + std::to_string(done);
    }
    return result + std::string(kSuffix);
}

void writeText(const fs::path& path, const std::string& text)
{
    fsutil::writeFileAtomically(path,
        std::span<const std::uint8_t>(
            reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
        0644);
}

} // namespace

char slotLetter(Slot slot)
{
    return slot == Slot::A ? 'a' : 'b';
}

Slot otherSlot(Slot slot)
{
    return slot == Slot::A ? Slot::B : Slot::A;
}

std::optional<BootEntry> parseBootEntryName(const fs::path& file)
{
    const std::string name = file.filename().string();
    if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix))
        return std::nullopt;
    std::string_view rest(name);
    rest.remove_prefix(kPrefix.size());
    rest.remove_suffix(kSuffix.size());
    // "000007-b", "000007-b+3" or "000007-b+2-1"
    if (rest.size() < 8 || rest[6] != '-' || (rest[7] != 'a' && rest[7] != 'b'))
        return std::nullopt;
    BootEntry entry;
    entry.file = file;
    const auto generation = parseNumber(rest.substr(0, 6));
    if (!generation)
        return std::nullopt;
    entry.generation = *generation;
    entry.slot = rest[7] == 'a' ? Slot::A : Slot::B;
    std::string_view counter = rest.substr(8);
    if (counter.empty())
        return entry;
    if (counter[0] != '+')
        return std::nullopt;
    counter.remove_prefix(1);
    const std::size_t dash = counter.find('-');
    entry.triesLeft = parseNumber(counter.substr(0, dash));
    if (!entry.triesLeft)
        return std::nullopt;
    if (dash != std::string_view::npos) {
        const auto done = parseNumber(counter.substr(dash + 1));
        if (!done)
            return std::nullopt;
        entry.triesDone = *done;
    }
    return entry;
}

BootEntries::BootEntries(fs::path esp)
    : esp_(std::move(esp))
{
}

std::vector<BootEntry> BootEntries::list() const
{
    std::vector<BootEntry> entries;
    std::error_code error;
    for (const fs::directory_entry& file : fs::directory_iterator(entriesFolder(), error)) {
        if (auto entry = parseBootEntryName(file.path()))
            entries.push_back(*entry);
    }
    if (error && error != std::errc::no_such_file_or_directory)
        throw UpdateError("Failed to list the boot entries in '" + entriesFolder().string() +
            "': " + error.message() + ".");
    std::sort(entries.begin(), entries.end(), [](const BootEntry& left, const BootEntry& right) {
        return left.generation > right.generation;
    });
    return entries;
}

void BootEntries::removeSlot(Slot slot)
{
    bool removed = false;
    for (const BootEntry& entry : list()) {
        if (entry.slot != slot)
            continue;
        std::error_code error;
        fs::remove(entry.file, error);
        if (error)
            throw UpdateError("Failed to remove the boot entry '" + entry.file.string() +
                "': " + error.message() + ".");
        removed = true;
    }
    if (removed)
        fsutil::syncDirectory(entriesFolder());
}

BootEntry BootEntries::addCounted(
    Slot slot, const std::string& version, unsigned tries, const std::string& kernelOptions)
{
    const std::vector<BootEntry> existing = list();
    const unsigned generation = existing.empty() ? 1 : existing.front().generation + 1;
    BootEntry entry;
    entry.generation = generation;
    entry.slot = slot;
    entry.triesLeft = tries;
    entry.file = entriesFolder() / entryName(generation, slot, tries, 0);

    const char letter = slotLetter(slot);
    std::ostringstream text;
    // The title names the version for the boot menu. There is no "version"
    // or "sort-key" field on purpose: systemd-boot would then order entries
    // by version, and a permitted downgrade would sort below the old slot.
    // NOTE: a bundle carries only the root file system, so the kernel and
    // initrd that the entry names must already be on the ESP. The mark can
    // go when bundles also carry the slot's kernel image.
    text << "title Meldpunt " << version << " (slot " << letter << ")\n"
         << "linux /meldpunt/" << letter << "/vmlinuz\n"
         << "initrd /meldpunt/" << letter << "/initrd.img\n"
         << "options root=PARTLABEL=meldpunt-root-" << letter << " ro meldpunt.slot=" << letter
         << (kernelOptions.empty() ? "" : " ") << kernelOptions << "\n";
    fs::create_directories(entriesFolder());
    writeText(entry.file, text.str());
    return entry;
}

BootEntry BootEntries::markGood(const BootEntry& entry)
{
    BootEntry good = entry;
    good.triesLeft.reset();
    good.triesDone = 0;
    good.file = entriesFolder() / entryName(entry.generation, entry.slot, std::nullopt, 0);
    std::error_code error;
    fs::rename(entry.file, good.file, error);
    if (error)
        throw UpdateError("Failed to mark the boot entry '" + entry.file.string() +
            "' good: " + error.message() + ".");
    fsutil::syncDirectory(entriesFolder());
    return good;
}

void BootEntries::ensureLoaderDefault()
{
    std::string current;
    std::error_code error;
    if (fs::exists(loaderConf(), error))
        current = fsutil::readSmallFile(loaderConf(), 64 * 1024);
    std::istringstream lines(current);
    std::string line;
    std::string updated;
    bool found = false;
    while (std::getline(lines, line)) {
        if (line == kDefaultLine) {
            found = true;
        } else if (line.starts_with("default ") || line.starts_with("default\t")) {
            continue;
        }
        updated += line + "\n";
    }
    if (found && updated.size() == current.size())
        return;
    if (!found)
        updated += std::string(kDefaultLine) + "\n";
    fs::create_directories(loaderConf().parent_path());
    writeText(loaderConf(), updated);
}

} // namespace meldpunt::updater
