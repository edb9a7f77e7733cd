// Runs the whole appliance for a test written in another language (the
// browser tests): prints one line "PORT CA_FILE" when it serves, then
// answers each line read from standard input:
//   reports   waits until the spool is empty, prints the stored count
//   reply REFERENCE TEXT
//             stores a staff message to the reporter while meldpuntd is
//             stopped, starts it again, prints "ok" once it is published
//   messages REFERENCE
//             waits until the spool is empty, prints the number of
//             messages from the reporter
// and stops everything at end of input.

#include "Appliance.h"
#include "StoredReports.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <thread>

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
            } else if (command.starts_with("reply ")) {
                const std::string rest = command.substr(6);
                const std::string reference = rest.substr(0, rest.find(' '));
                appliance.stopDaemon();
                meldpunt::test::addStaffMessage(appliance.stateFolder(), appliance.tpm().tcti(), reference,
                    rest.substr(reference.size() + 1));
                appliance.startDaemon();
                // meldpuntd publishes changed receipts after its first
                // ingest pass.
                appliance.waitForEmptySpool();
                std::this_thread::sleep_for(std::chrono::seconds(1));
                std::cout << "ok" << std::endl;
            } else if (command.starts_with("messages ")) {
                appliance.waitForEmptySpool();
                const auto messages = meldpunt::test::readReporterMessages(appliance.stateFolder(),
                    appliance.tpm().tcti(), command.substr(9));
                const auto fromReporter = std::count_if(messages.begin(), messages.end(),
                    [](const auto& message) { return message.first == "from_reporter"; });
                std::cout << fromReporter << std::endl;
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
