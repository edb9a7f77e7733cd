#include "Log.h"

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include <cstdio>
#include <mutex>
#include <string>

namespace meldpunt::log {

namespace {

std::mutex outputMutex;

void write(const char* prefix, std::string_view message)
{
    std::string line(prefix);
    line.append(message);
    line.push_back('\n');
    std::lock_guard lock(outputMutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

} // namespace

void error(std::string_view message)
{
    write(SD_ERR, message);
}

void warning(std::string_view message)
{
    write(SD_WARNING, message);
}

void notice(std::string_view message)
{
    write(SD_NOTICE, message);
}

void info(std::string_view message)
{
    write(SD_INFO, message);
}

void debug(std::string_view message)
{
    write(SD_DEBUG, message);
}

void securityEvent(std::string_view messageId, std::string_view message)
{
    const std::string id(messageId);
    const std::string text(message);
    if (std::getenv("JOURNAL_STREAM") != nullptr)
        sd_journal_send("MESSAGE=%s", text.c_str(), "MESSAGE_ID=%s", id.c_str(), "PRIORITY=5",
            "SYSLOG_IDENTIFIER=meldpunt", nullptr);
    write(SD_NOTICE, message);
}

} // namespace meldpunt::log
