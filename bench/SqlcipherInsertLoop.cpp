// The reference for the ingestion benchmark: the bare database cost of what
// meldpuntd does for each spool entry. Each iteration commits one
// transaction with the same two inserts the ingester makes (the entry's
// UUID, then a report row carrying a text of the entry's size), through
// meldpunt_storage's Database, which opens the file with the appliance's
// settings: a raw 256-bit key, WAL, synchronous=FULL and secure_delete.
// There is no spool reading, decryption or unlinking. The loop stops after
// `count` commits or `seconds`, whichever comes first, and prints one JSON
// line.

#include "Database.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using meldpunt::storage::Database;
using meldpunt::storage::OpenMode;

namespace {

int usage()
{
    std::fprintf(stderr, "usage: meldpunt-bench-sqlcipher --database FILE --size BYTES --count N --seconds S\n");
    return 2;
}

void removeDatabase(const fs::path& path)
{
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
        fs::remove(path.string() + suffix);
}

} // namespace

int main(int argc, char** argv)
{
    fs::path path;
    std::size_t size = 0;
    long count = 0;
    double seconds = 0;
    for (int index = 1; index + 1 < argc; index += 2) {
        const std::string name = argv[index];
        const char* value = argv[index + 1];
        if (name == "--database")
            path = value;
        else if (name == "--size")
            size = std::strtoul(value, nullptr, 10);
        else if (name == "--count")
            count = std::strtol(value, nullptr, 10);
        else if (name == "--seconds")
            seconds = std::strtod(value, nullptr);
        else
            return usage();
    }
    if (path.empty() || size == 0 || count <= 0 || seconds <= 0)
        return usage();

    try {
        removeDatabase(path);
        std::array<std::uint8_t, 32> key{};
        if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1)
            throw std::runtime_error("no random bytes for the key");
        std::vector<double> latencies;
        double elapsed = 0;
        long done = 0;
        {
            Database database(path, key, OpenMode::CreateNew);
            database.exec("CREATE TABLE spool_entries (entry_uuid BLOB PRIMARY KEY, kind INTEGER NOT NULL, "
                          "ingested_at TEXT NOT NULL) STRICT");
            database.exec("CREATE TABLE reports (id INTEGER PRIMARY KEY, entry_uuid BLOB NOT NULL UNIQUE "
                          "REFERENCES spool_entries (entry_uuid), received_at TEXT NOT NULL, what TEXT NOT NULL) STRICT");
            const std::string text(size, 'x');
            const auto start = std::chrono::steady_clock::now();
            const auto deadline = start + std::chrono::duration<double>(seconds);
            while (done < count && std::chrono::steady_clock::now() < deadline) {
                const auto begin = std::chrono::steady_clock::now();
                std::vector<std::uint8_t> uuid(16);
                if (RAND_bytes(uuid.data(), static_cast<int>(uuid.size())) != 1)
                    throw std::runtime_error("no random bytes for a UUID");
                database.transaction([&] {
                    database.prepare("INSERT INTO spool_entries (entry_uuid, kind, ingested_at) VALUES (?, 1, ?)")
                        .bind(1, uuid)
                        .bind(2, std::string("2024-01-01T00:00:00Z"))
                        .run();
                    database.prepare("INSERT INTO reports (entry_uuid, received_at, what) VALUES (?, ?, ?)")
                        .bind(1, uuid)
                        .bind(2, std::string("2024-01-01T00:00:00Z"))
                        .bind(3, text)
                        .run();
                });
                latencies.push_back(
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count());
                ++done;
            }
            elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        }
        removeDatabase(path);

        double p99 = 0;
        if (!latencies.empty()) {
            std::sort(latencies.begin(), latencies.end());
            p99 = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
        }
        std::printf("{\"commits\": %ld, \"seconds\": %.3f, \"per_second\": %.1f, \"p99_ms\": %.3f}\n", done, elapsed,
            elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0, p99);
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "meldpunt-bench-sqlcipher: %s\n", error.what());
        return 1;
    }
}
