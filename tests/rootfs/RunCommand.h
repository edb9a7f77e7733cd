#pragma once

// Runs a command to its end and returns its exit code and output, for the
// tests of the root file system's configuration files.

#include "Process.h"

#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace meldpunt::test {

struct CommandResult {
    int exitCode = -1; // -1: killed by a signal or did not finish in time
    std::string output; // standard output and error together
};

inline CommandResult runCommand(std::vector<std::string> argv, const std::filesystem::path& logFile,
    std::vector<std::string> environment = {})
{
    std::filesystem::remove(logFile);
    Process process(std::move(argv), Process::Options(std::move(environment), logFile));
    const auto status = process.wait(std::chrono::seconds(60));
    CommandResult result;
    result.output = readFile(logFile);
    if (status && WIFEXITED(*status))
        result.exitCode = WEXITSTATUS(*status);
    return result;
}

} // namespace meldpunt::test
