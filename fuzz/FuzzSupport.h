#pragma once

// Helpers shared by the fuzz targets. Each target defines
// LLVMFuzzerTestOneInput, which libFuzzer calls in the fuzz build and
// ReplayMain.cpp calls for every stored input in the default build.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace meldpunt::fuzz {

// A broken contract ends the process with abort(), which libFuzzer reports
// as a crash and which makes a replay test fail.
[[noreturn]] inline void contractBroken(const char* file, int line, const std::string& what)
{
    std::fprintf(stderr, "%s:%d: contract broken: %s\n", file, line, what.c_str());
    std::fflush(stderr);
    std::abort();
}

inline std::string_view asText(const std::uint8_t* data, std::size_t size)
{
    return {reinterpret_cast<const char*>(data), size};
}

// A private folder under the system's temporary folder for the targets
// that must hand a file path to the parser. It is made once per process
// and removed when the process exits normally.
const std::filesystem::path& scratchFolder();

// Replaces the file at `path` with `bytes`.
void writeFile(const std::filesystem::path& path, std::span<const std::uint8_t> bytes);

} // namespace meldpunt::fuzz

#define FUZZ_CHECK(condition, what)                                                       \
    do {                                                                                  \
        if (!(condition))                                                                 \
            ::meldpunt::fuzz::contractBroken(__FILE__, __LINE__, what);                   \
    } while (false)
