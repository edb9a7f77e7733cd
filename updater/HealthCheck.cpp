#include "HealthCheck.h"

#include "BootEntries.h"
#include "Installer.h"
#include "UpdateError.h"

#include "FaultPoint.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>

#include <algorithm>
#include <sstream>
#include <thread>

namespace meldpunt::updater {

namespace {

constexpr int kRequestTimeoutMs = 5000;
constexpr std::size_t kMaxBody = 1024 * 1024;
constexpr auto kRetryPause = std::chrono::seconds(1);

struct LocalResponse {
    int status = -1;
    std::string body;
    std::string error;
};

LocalResponse getLocal(const std::filesystem::path& socketPath, const std::string& path)
{
    LocalResponse result;
    try {
        Poco::Net::StreamSocket socket;
        socket.connect(
            Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL, socketPath.string()),
            Poco::Timespan(0, kRequestTimeoutMs * 1000));
        Poco::Net::HTTPClientSession session(socket);
        session.setTimeout(Poco::Timespan(0, kRequestTimeoutMs * 1000));
        Poco::Net::HTTPRequest request(
            Poco::Net::HTTPRequest::HTTP_GET, path, Poco::Net::HTTPMessage::HTTP_1_1);
        request.setHost("localhost");
        session.sendRequest(request);
        Poco::Net::HTTPResponse response;
        std::istream& body = session.receiveResponse(response);
        std::ostringstream text;
        Poco::StreamCopier::copyStream(body, text, 8192);
        result.status = static_cast<int>(response.getStatus());
        result.body = text.str().substr(0, kMaxBody);
    } catch (const Poco::Exception& error) {
        result.error = error.displayText();
    }
    return result;
}

std::string describeFailure(const LocalResponse& response)
{
    if (response.status < 0)
        return "no answer (" + response.error + ")";
    return "HTTP status " + std::to_string(response.status);
}

} // namespace

HealthReport checkHealth(const UpdaterConfig& config)
{
    HealthReport report;
    const LocalResponse daemon = getLocal(config.daemonSocket, "/healthz");
    if (daemon.status != 200) {
        report.failures.push_back("meldpuntd on '" + config.daemonSocket.string() +
            "' is not ready: " + describeFailure(daemon));
    } else {
        // meldpuntd returns its status page with 503 while the database
        // key is not released, so 200 means the database is open.
        const LocalResponse status = getLocal(config.daemonSocket, "/");
        if (status.status != 200)
            report.failures.push_back(
                "meldpuntd has not opened its database: " + describeFailure(status));
    }
    const LocalResponse form = getLocal(config.publicSocket, "/en/report");
    if (form.status != 200 || form.body.find("<form") == std::string::npos)
        report.failures.push_back("meldpunt-public on '" + config.publicSocket.string() +
            "' does not serve the report form: " + describeFailure(form));
    return report;
}

MarkResult markBootedSlotGood(
    const UpdaterConfig& config, SecurityEpochStore& epochs, HealthReport& report)
{
    const Slot booted = bootedSlot(config);
    BootEntries entries(config.esp);
    const std::vector<BootEntry> all = entries.list();
    const auto entry = std::find_if(all.begin(), all.end(),
        [&](const BootEntry& candidate) { return candidate.slot == booted; });
    if (entry == all.end())
        throw UpdateError(
            std::string("No boot entry exists for the booted slot ") + slotLetter(booted) + ".");

    // A slot marked good is never checked again, so power cuts after this
    // point cannot count it down or roll it back.
    const std::optional<SlotRecord> record = readSlotRecord(config, booted);
    const std::uint32_t epoch = record ? record->securityEpoch : config.runningEpoch;
    if (!entry->triesLeft) {
        // Recording the epoch again is harmless, and it completes a mark
        // that a power cut interrupted between the rename and the TPM write.
        epochs.raise(epoch);
        return MarkResult::AlreadyGood;
    }

    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(config.healthTimeoutSeconds);
    report = checkHealth(config);
    while (!report.healthy() && std::chrono::steady_clock::now() + kRetryPause < deadline) {
        std::this_thread::sleep_for(kRetryPause);
        report = checkHealth(config);
    }
    if (!report.healthy())
        return MarkResult::Unhealthy;

    entries.markGood(*entry);
    faultPoint("updater-after-mark-good");
    epochs.raise(epoch);
    return MarkResult::MarkedGood;
}

} // namespace meldpunt::updater
