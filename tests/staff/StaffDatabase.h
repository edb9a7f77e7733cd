#pragma once

#include "Clock.h"
#include "Database.h"
#include "Process.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace meldpunt::test {

// A migrated SQLCipher database in a scratch folder, with a clock the
// test moves by hand.
struct StaffDatabase {
    explicit StaffDatabase(const std::string& name);

    staff::Clock clock() const
    {
        return [this] { return now; };
    }
    void advance(std::chrono::seconds seconds) { now += seconds; }

    // Stores a report as the ingester would, with the given text in every
    // text field, and returns its id.
    std::int64_t addReport(const std::string& text, const std::string& receivedAt, bool anonymous = false,
        const std::string& country = "NL");

    ScratchFolder scratch;
    std::vector<std::uint8_t> key; // the database's data key
    std::unique_ptr<storage::Database> database;
    staff::TimePoint now;
};

} // namespace meldpunt::test
