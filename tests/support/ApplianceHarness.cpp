// Runs the whole appliance for a test written in another language (the
// browser tests): prints one line "PORT CA_FILE" when it serves, then
// answers each line read from standard input:
//   reports   waits until the spool is empty, prints the stored count
//   staff     prints "STAFF_PORT SETUP_CODE": the staff edge's port and
//             the first admin's one-time setup code
// and stops everything at end of input.

#include "Appliance.h"
#include "StoredReports.h"

#include <iostream>

int main()
{
    try {
        meldpunt::test::Appliance appliance("harness");
        appliance.startAll();
        std::cout << appliance.publicPort() << ' ' << appliance.caFile().string() << std::endl;
        std::string command;
        while (std::getline(std::cin, command)) {
            if (command == "reports") {
                appliance.waitForEmptySpool();
                const auto reports = meldpunt::test::readStoredReports(appliance.stateFolder(), appliance.tpm().tcti());
                std::cout << reports.size() << std::endl;
            } else if (command == "staff") {
                std::string code = meldpunt::test::readFile(appliance.setupCodeFile());
                while (!code.empty() && code.back() == '\n')
                    code.pop_back();
                std::cout << appliance.staffPort() << ' ' << code << std::endl;
            } else {
                std::cout << "unknown command" << std::endl;
            }
        }
    } catch (const std::exception& error) {
        std::cerr << "appliance-harness: " << error.what() << '\n';
        return 1;
    }
    return 0;
}
