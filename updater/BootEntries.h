#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace meldpunt::updater {

enum class Slot { A, B };

char slotLetter(Slot slot);
Slot otherSlot(Slot slot);

// One systemd-boot loader entry of this product, named
// "meldpunt-<generation>-<slot>[+<left>[-<done>]].conf". systemd-boot
// counts boot attempts in the name: it lowers <left> and raises <done>
// before each boot, and sorts an entry with no tries left after all
// others. An entry without a counter is known good and is never counted.
struct BootEntry {
    std::filesystem::path file;
    unsigned generation = 0;
    Slot slot = Slot::A;
    std::optional<unsigned> triesLeft; // empty: marked good
    unsigned triesDone = 0;
};

// Parses an entry's file name; nullopt for files of other products.
std::optional<BootEntry> parseBootEntryName(const std::filesystem::path& file);

// The loader entries and loader.conf in an EFI system partition (a real
// mount point, or a plain folder in tests). Every change is a write to a
// temporary file, fsync, rename and fsync of the folder, so a power cut
// leaves the old state or the new one. Not thread-safe.
class BootEntries {
public:
    explicit BootEntries(std::filesystem::path esp);

    // Returns this product's entries, highest generation first.
    std::vector<BootEntry> list() const;

    // Removes every entry of `slot`, so that a slot being written is never
    // a boot target. Fsyncs the folder before returning.
    void removeSlot(Slot slot);

    // Writes a new entry for `slot` with `tries` boot attempts and a
    // generation above every existing one, so systemd-boot prefers it
    // while it has tries left. `kernelOptions` follow the root and slot
    // options. Returns the entry.
    BootEntry addCounted(Slot slot, const std::string& version, unsigned tries,
        const std::string& kernelOptions = {});

    // Renames the entry to drop its counter: the slot is good from now on.
    BootEntry markGood(const BootEntry& entry);

    // Makes loader.conf's default the pattern "meldpunt-*", keeping its
    // other lines, so systemd-boot picks the first of our entries in its
    // sort order.
    void ensureLoaderDefault();

    std::filesystem::path entriesFolder() const { return esp_ / "loader" / "entries"; }
    std::filesystem::path loaderConf() const { return esp_ / "loader" / "loader.conf"; }

private:
    std::filesystem::path esp_;
};

} // namespace meldpunt::updater
