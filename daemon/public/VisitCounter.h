#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace meldpunt::site {

// Counts page views per day (UTC), page and language for the yearly
// figures, in memory, with no cookie and no address: a count is all that
// is kept of a visit. Thread-safe.
class VisitCounter {
public:
    using Key = std::tuple<std::string, std::string, std::string>; // day, page, language

    void count(const std::string& page, const std::string& language);

    // Hands over the counts so far and starts again from zero.
    std::map<Key, std::uint64_t> take();
    // Puts counts back, when they could not be handed on.
    void restore(const std::map<Key, std::uint64_t>& counts);

    // The counts as the JSON of a visit-counts spool entry.
    static std::string toJson(const std::map<Key, std::uint64_t>& counts);

private:
    std::mutex mutex_;
    std::map<Key, std::uint64_t> counts_;
};

} // namespace meldpunt::site
