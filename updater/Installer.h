#pragma once

#include "BootEntries.h"
#include "BundleVerifier.h"
#include "UpdaterConfig.h"

#include <atomic>
#include <functional>
#include <string>

namespace meldpunt::updater {

// The named steps of an install, in order.
enum class InstallStep { Preflight, CheckingImages, Writing, CheckingSlot, Activating, Rebooting };

std::string_view describe(InstallStep step);

// Called at the start of each step and as it advances (0 to 100 over the
// whole install). Runs on the installing thread.
using InstallProgress = std::function<void(InstallStep step, unsigned percent)>;

// Returns the slot the box booted from, read from "meldpunt.slot=" on the
// kernel command line. Throws UpdateError when it is missing.
Slot bootedSlot(const UpdaterConfig& config);

// Writes a verified bundle into the inactive slot and makes it the next
// boot's target with boot counting. It checks the slot's size and the
// ESP's free space, and hashes every image through the bundle's
// descriptor. Then it removes the inactive slot's boot entries, copies the
// image while hashing the very bytes written, and reads the slot back to
// hash it again. Last, it records the slot's version and epoch, adds a
// counted boot entry and runs the reboot command. Nothing is written
// before the image hashes match, and the slot becomes a boot target only
// after the read-back matches. Holds an
// exclusive lock on the state folder, so a second install (CLI or
// service) is rejected while one runs. `cancel` is honoured until the
// boot entry is written. Throws UpdateError.
void installBundle(const VerifiedBundle& bundle, const UpdaterConfig& config,
    const InstallProgress& progress, const std::atomic<bool>& cancel);

// The updater's record of a written slot, read by the health check.
struct SlotRecord {
    std::string version;
    std::uint32_t securityEpoch = 0;
    std::string manifestSha256;
};

// Reads the record written when `slot` was installed; nullopt if none.
std::optional<SlotRecord> readSlotRecord(const UpdaterConfig& config, Slot slot);

} // namespace meldpunt::updater
