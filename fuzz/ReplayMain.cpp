// Runs a fuzz target over stored inputs without libFuzzer, so that the
// default build (g++, no fuzzing engine) checks the seed corpus and every
// crash input found so far on each test run.
//
// Usage: <program> FOLDER_OR_FILE...
// A folder that does not exist counts as empty: a target need not have
// any regression inputs. Names that start with a dot are skipped, so that
// placeholder files of version control are no inputs.

#include "FuzzSupport.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

namespace {

namespace fs = std::filesystem;

// Inputs larger than this are not seeds or minimised crashes. Rejecting
// them keeps a stray large file from making a replay slow.
constexpr std::uintmax_t kMaxInputSize = 4 * 1024 * 1024;

// A bound on the files replayed per folder, so that a folder filled by
// mistake cannot make the test run for long.
constexpr std::size_t kMaxInputsPerFolder = 10000;

std::vector<fs::path> inputsOf(const fs::path& place)
{
    std::vector<fs::path> inputs;
    std::error_code error;
    if (fs::is_regular_file(place, error)) {
        inputs.push_back(place);
        return inputs;
    }
    if (!fs::is_directory(place, error))
        return inputs;
    for (const auto& item : fs::directory_iterator(place)) {
        if (item.path().filename().string().starts_with("."))
            continue;
        if (!item.is_regular_file())
            continue;
        inputs.push_back(item.path());
        if (inputs.size() > kMaxInputsPerFolder) {
            std::fprintf(stderr, "more than %zu inputs in %s\n", kMaxInputsPerFolder, place.c_str());
            std::exit(2);
        }
    }
    // A fixed order makes a failing run repeatable.
    std::sort(inputs.begin(), inputs.end());
    return inputs;
}

} // namespace

int main(int argc, char** argv)
{
    std::size_t count = 0;
    for (int i = 1; i < argc; ++i) {
        for (const auto& input : inputsOf(argv[i])) {
            if (fs::file_size(input) > kMaxInputSize) {
                std::fprintf(stderr, "%s is larger than %ju bytes\n", input.c_str(), kMaxInputSize);
                return 2;
            }
            std::ifstream stream(input, std::ios::binary);
            const std::vector<std::uint8_t> bytes(
                (std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
            // The name goes out before the call, so that a crash names its input.
            std::fprintf(stderr, "replaying %s\n", input.c_str());
            std::fflush(stderr);
            LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
            ++count;
        }
    }
    std::printf("replayed %zu inputs\n", count);
    return 0;
}
