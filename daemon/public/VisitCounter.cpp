#include "VisitCounter.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <sstream>

namespace meldpunt::site {

void VisitCounter::count(const std::string& page, const std::string& language)
{
    const std::string day = Poco::DateTimeFormatter::format(Poco::DateTime(), "%Y-%m-%d");
    std::lock_guard lock(mutex_);
    ++counts_[Key{day, page, language}];
}

std::map<VisitCounter::Key, std::uint64_t> VisitCounter::take()
{
    std::lock_guard lock(mutex_);
    return std::exchange(counts_, {});
}

void VisitCounter::restore(const std::map<Key, std::uint64_t>& counts)
{
    std::lock_guard lock(mutex_);
    for (const auto& [key, count] : counts)
        counts_[key] += count;
}

std::string VisitCounter::toJson(const std::map<Key, std::uint64_t>& counts)
{
    Poco::JSON::Array list;
    for (const auto& [key, count] : counts) {
        Poco::JSON::Object item;
        item.set("day", std::get<0>(key));
        item.set("page", std::get<1>(key));
        item.set("language", std::get<2>(key));
        item.set("count", count);
        list.add(item);
    }
    Poco::JSON::Object root;
    root.set("schema", 1);
    root.set("counts", list);
    std::ostringstream out;
    root.stringify(out);
    return out.str();
}

} // namespace meldpunt::site
