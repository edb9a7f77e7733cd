#include "UpdaterConfig.h"

#include "Signature.h"
#include "UpdateError.h"

#include <Poco/AutoPtr.h>
#include <Poco/Util/IniFileConfiguration.h>

#include <sstream>

namespace meldpunt::updater {

namespace {

std::string required(const Poco::Util::AbstractConfiguration& ini, const std::string& key,
    const std::filesystem::path& file)
{
    const std::string value = ini.getString(key, "");
    if (value.empty())
        throw UpdateError(
            "The updater configuration '" + file.string() + "' lacks the key '" + key + "'.");
    return value;
}

std::vector<std::string> splitWords(const std::string& text)
{
    std::istringstream in(text);
    std::vector<std::string> words;
    for (std::string word; in >> word;)
        words.push_back(word);
    return words;
}

} // namespace

UpdaterConfig loadUpdaterConfig(const std::filesystem::path& file)
{
    Poco::AutoPtr<Poco::Util::IniFileConfiguration> ini;
    try {
        ini = new Poco::Util::IniFileConfiguration(file.string());
    } catch (const Poco::Exception& error) {
        throw UpdateError("Failed to read the updater configuration '" + file.string() +
            "': " + error.displayText() + ".");
    }

    UpdaterConfig config;
    try {
        config.product = required(*ini, "image.product", file);
        config.hardwareId = required(*ini, "image.hardware_id", file);
        config.runningEpoch = ini->getUInt("image.security_epoch", 0);
        const std::string buildTime = required(*ini, "image.build_time", file);
        if (!parseUtcTimestamp(buildTime, config.timeFloor))
            throw UpdateError("The key 'image.build_time' in '" + file.string() +
                "' is not a UTC time such as "
                "2026-12-04T19:00:00Z.");
        config.caFile = required(*ini, "trust.ca_file", file);
        config.crlFile = required(*ini, "trust.crl_file", file);
        config.downgradeCaFile = required(*ini, "trust.downgrade_ca_file", file);
        config.downgradeCrlFile = required(*ini, "trust.downgrade_crl_file", file);
        config.slotA = required(*ini, "slots.a", file);
        config.slotB = required(*ini, "slots.b", file);
        config.esp = required(*ini, "slots.esp", file);
        config.kernelCommandLine = ini->getString("slots.kernel_command_line", "/proc/cmdline");
        config.kernelOptions = ini->getString("slots.kernel_options", "");
        config.stateFolder = required(*ini, "slots.state_folder", file);
        config.bootTries = ini->getUInt("slots.boot_tries", 3);
        config.rebootCommand =
            splitWords(ini->getString("slots.reboot_command", "systemctl reboot"));
        config.tcti = required(*ini, "tpm.tcti", file);
        config.epochNvIndex = static_cast<std::uint32_t>(
            std::stoul(required(*ini, "tpm.epoch_nv_index", file), nullptr, 0));
        config.epochAuthFile = ini->getString(
            "tpm.epoch_auth_file", (config.stateFolder / "epoch-nv-auth").string());
        config.daemonSocket = ini->getString("health.daemon_socket", "/run/meldpuntd/http.sock");
        config.publicSocket =
            ini->getString("health.public_socket", "/run/meldpunt-public/http.sock");
        config.healthTimeoutSeconds = ini->getUInt("health.timeout_seconds", 120);
        config.tlsFolder = ini->getString("tls.folder", "/etc/meldpunt/tls");
        config.publicEdgeRestartCommand = splitWords(
            ini->getString("tls.public_restart_command", "systemctl restart meldpunt-edge-public.service"));
        config.staffEdgeRestartCommand = splitWords(
            ini->getString("tls.staff_restart_command", "systemctl --no-block restart meldpunt-edge-staff.service"));
        config.networkSettingsFile
            = ini->getString("network.settings_file", "/var/lib/meldpunt/network/network.ini");
        config.networkApplyCommand = splitWords(ini->getString("network.apply_command",
            "/usr/libexec/meldpunt/apply-network --reload /var/lib/meldpunt/network/network.ini"));
    } catch (const Poco::Exception& error) {
        throw UpdateError("The updater configuration '" + file.string() +
            "' is invalid: " + error.displayText() + ".");
    } catch (const std::logic_error&) {
        throw UpdateError("The key 'tpm.epoch_nv_index' in '" + file.string() +
            "' is not a number such as 0x01800100.");
    }
    if (config.bootTries < 1 || config.bootTries > 10)
        throw UpdateError("The key 'slots.boot_tries' must be between 1 and 10.");
    for (const std::string& option : splitWords(config.kernelOptions)) {
        if (option.rfind("root=", 0) == 0 || option.rfind("meldpunt.slot=", 0) == 0 || option == "ro" ||
            option == "rw")
            throw UpdateError("The key 'slots.kernel_options' may not contain '" + option +
                "': the updater writes the root and slot options of each boot entry itself.");
    }
    if (config.rebootCommand.empty())
        throw UpdateError("The key 'slots.reboot_command' is empty.");
    if (config.publicEdgeRestartCommand.empty() || config.staffEdgeRestartCommand.empty())
        throw UpdateError("The keys 'tls.public_restart_command' and 'tls.staff_restart_command' may not be empty.");
    if (config.networkApplyCommand.empty())
        throw UpdateError("The key 'network.apply_command' may not be empty.");
    if (config.networkSettingsFile.empty() || !config.networkSettingsFile.is_absolute())
        throw UpdateError("The key 'network.settings_file' must be an absolute path, such as "
                          "/var/lib/meldpunt/network/network.ini.");
    if (config.tlsFolder.empty() || !config.tlsFolder.is_absolute())
        throw UpdateError("The key 'tls.folder' must be an absolute path, such as /etc/meldpunt/tls.");
    return config;
}

} // namespace meldpunt::updater
