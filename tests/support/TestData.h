#pragma once

#include <string>
#include <vector>

namespace meldpunt::test {

// Returns the values of tests/data/hostile-inputs.txt, one a line, with
// the escapes its header names (\r, \n, \uXXXX, %XX) decoded. Comment
// lines and empty lines are skipped. Throws std::runtime_error when the
// file cannot be read.
std::vector<std::string> hostileInputs();

} // namespace meldpunt::test
