// Runs the whole appliance for a test written in another language (the
// browser tests): prints one line "PORT CA_FILE" when it serves, then
// answers each line read from standard input:
//   reports       waits until the spool is empty, prints the stored count
//   attachments   waits likewise, prints the count of stored attachments
//                 and the SHA-256 (hex) of each one's decrypted bytes
// and stops everything at end of input.

#include "Appliance.h"
#include "StoredReports.h"

#include "Crypto.h"

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
            } else if (command == "attachments") {
                appliance.waitForEmptySpool();
                const auto attachments =
                    meldpunt::test::readStoredAttachments(appliance.stateFolder(), appliance.tpm().tcti());
                std::cout << attachments.size();
                for (const auto& attachment : attachments) {
                    meldpunt::crypto::Sha256 hash;
                    hash.update(meldpunt::crypto::asBytes(attachment.content));
                    std::cout << ' ' << meldpunt::crypto::toHex(hash.finish());
                }
                std::cout << std::endl;
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
