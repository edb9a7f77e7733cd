#include "NetworkSettings.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

namespace meldpunt::network {

namespace {

// Far above any real value. Longer text is rejected before it is parsed.
constexpr std::size_t kMaxFieldLength = 1000;
constexpr std::size_t kMaxDnsServers = 4;
constexpr std::size_t kMaxLanRanges = 16;

struct Address {
    int family = AF_INET;
    std::array<unsigned char, 16> bytes {};

    std::size_t size() const { return family == AF_INET ? 4 : 16; }
    unsigned bits() const { return family == AF_INET ? 32 : 128; }
};

std::string trimmed(const std::string& text)
{
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos)
        return {};
    return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

// The value typed, quoted in a message only when it is short, printable
// ASCII; anything else is named by its field alone.
std::string quoted(const std::string& value)
{
    if (value.empty() || value.size() > 45
        || std::any_of(value.begin(), value.end(), [](unsigned char c) { return c < 0x20 || c > 0x7e; }))
        return "This entry";
    return "'" + value + "'";
}

std::optional<Address> parseAddress(const std::string& text)
{
    Address address;
    if (text.empty() || text.size() > INET6_ADDRSTRLEN)
        return std::nullopt;
    if (::inet_pton(AF_INET, text.c_str(), address.bytes.data()) == 1) {
        address.family = AF_INET;
        return address;
    }
    if (text.find(':') != std::string::npos && ::inet_pton(AF_INET6, text.c_str(), address.bytes.data()) == 1) {
        address.family = AF_INET6;
        return address;
    }
    return std::nullopt;
}

std::string format(const Address& address)
{
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(address.family, address.bytes.data(), text, sizeof text);
    return text;
}

bool isZero(const Address& address)
{
    return std::all_of(address.bytes.begin(), address.bytes.begin() + static_cast<long>(address.size()),
        [](unsigned char b) { return b == 0; });
}

bool isLoopback(const Address& address)
{
    if (address.family == AF_INET)
        return address.bytes[0] == 127;
    return std::all_of(address.bytes.begin(), address.bytes.begin() + 15, [](unsigned char b) { return b == 0; })
        && address.bytes[15] == 1;
}

bool isMulticast(const Address& address)
{
    return address.family == AF_INET ? (address.bytes[0] & 0xf0) == 0xe0 : address.bytes[0] == 0xff;
}

bool isLinkLocal(const Address& address)
{
    return address.family == AF_INET6 && address.bytes[0] == 0xfe && (address.bytes[1] & 0xc0) == 0x80;
}

Address masked(Address address, unsigned prefix)
{
    for (unsigned bit = prefix; bit < address.bits(); ++bit)
        address.bytes[bit / 8] &= static_cast<unsigned char>(~(0x80u >> (bit % 8)));
    return address;
}

bool sameNetwork(const Address& a, const Address& b, unsigned prefix)
{
    return a.family == b.family && masked(a, prefix).bytes == masked(b, prefix).bytes;
}

// The entries of a list field, split on spaces and commas.
std::vector<std::string> entries(const std::string& text)
{
    std::vector<std::string> list;
    std::string current;
    for (const char c : text) {
        if (c == ' ' || c == ',' || c == '\t' || c == '\r' || c == '\n') {
            if (!current.empty())
                list.push_back(current);
            current.clear();
        } else {
            current += c;
        }
    }
    if (!current.empty())
        list.push_back(current);
    return list;
}

// A decimal number of at most three digits, or -1.
int smallNumber(const std::string& text)
{
    if (text.empty() || text.size() > 3
        || !std::all_of(text.begin(), text.end(), [](unsigned char c) { return c >= '0' && c <= '9'; }))
        return -1;
    return std::stoi(text);
}

const char* kNotAnAddress = " is not an IPv4 or IPv6 address. Type an address such as 192.168.10.5 or fd00:10::5, "
                            "without a port, a name or a /prefix.";

} // namespace

std::vector<NetworkFieldError> checkNetworkForm(
    const NetworkForm& form, const LocalAddressCheck& isLocal, NetworkSettings& settings)
{
    std::vector<NetworkFieldError> errors;
    settings = NetworkSettings {};
    const auto tooLong = [&](const std::string& field, const std::string& value) {
        if (value.size() <= kMaxFieldLength)
            return false;
        errors.push_back({field, "This field is longer than " + std::to_string(kMaxFieldLength)
                + " characters. Type only the addresses it asks for."});
        return true;
    };

    const std::string addressing = trimmed(form.addressing);
    if (addressing == "static")
        settings.staticAddressing = true;
    else if (addressing != "dhcp")
        errors.push_back({"addressing", "Choose how the box gets its address: by DHCP, or a fixed address."});

    std::optional<Address> ownAddress;
    std::optional<unsigned> prefix;
    if (settings.staticAddressing) {
        const std::string address = trimmed(form.address);
        if (tooLong("address", address)) {
        } else if (address.empty()) {
            errors.push_back({"address", "Type the box's fixed address, such as 192.168.10.5, or choose DHCP."});
        } else if (!(ownAddress = parseAddress(address))) {
            errors.push_back({"address", quoted(address) + kNotAnAddress});
        } else if (isZero(*ownAddress) || isLoopback(*ownAddress) || isMulticast(*ownAddress)
            || isLinkLocal(*ownAddress)) {
            errors.push_back({"address", quoted(address)
                    + " cannot be the box's address on a network. Type the address the network's administrator "
                      "gave the box, such as 192.168.10.5."});
            ownAddress.reset();
        }

        const std::string prefixText = trimmed(form.prefixLength);
        const int length = smallNumber(prefixText.starts_with('/') ? prefixText.substr(1) : prefixText);
        const unsigned maximum = ownAddress && ownAddress->family == AF_INET6 ? 128 : 32;
        if (prefixText.empty())
            errors.push_back({"prefix_length", "Type the prefix length of the network, such as 24 for the netmask "
                                               "255.255.255.0 or 64 for IPv6."});
        else if (length < 1 || static_cast<unsigned>(length) > maximum)
            errors.push_back({"prefix_length", "The prefix length is a number from 1 to " + std::to_string(maximum)
                    + ", such as 24 for the netmask 255.255.255.0. Type the number alone."});
        else
            prefix = static_cast<unsigned>(length);

        if (ownAddress && prefix && ownAddress->family == AF_INET && *prefix <= 30) {
            const Address network = masked(*ownAddress, *prefix);
            Address broadcast = *ownAddress;
            for (unsigned bit = *prefix; bit < 32; ++bit)
                broadcast.bytes[bit / 8] |= static_cast<unsigned char>(0x80u >> (bit % 8));
            if (network.bytes == ownAddress->bytes || broadcast.bytes == ownAddress->bytes) {
                errors.push_back({"address", quoted(trimmed(form.address)) + " is the network's own address or its "
                        "broadcast address with prefix length " + std::to_string(*prefix)
                        + ". Type an address for the box inside the network."});
                ownAddress.reset();
            }
        }
        if (ownAddress && prefix) {
            settings.address = format(*ownAddress);
            settings.prefixLength = *prefix;
        }

        const std::string gateway = trimmed(form.gateway);
        if (tooLong("gateway", gateway) || gateway.empty()) {
        } else if (const auto parsed = parseAddress(gateway); !parsed) {
            errors.push_back({"gateway", quoted(gateway) + kNotAnAddress});
        } else if (ownAddress && parsed->family != ownAddress->family) {
            errors.push_back({"gateway", "The gateway is " + std::string(parsed->family == AF_INET ? "IPv4" : "IPv6")
                    + " and the box's address is not. Type a gateway of the same kind as the address, or leave it "
                      "empty."});
        } else if (ownAddress && parsed->bytes == ownAddress->bytes) {
            errors.push_back({"gateway", "The gateway is the box's own address. Type the router's address, or leave "
                                         "the field empty when the box needs no route beyond its network."});
        } else if (ownAddress && prefix && !isLinkLocal(*parsed) && !sameNetwork(*parsed, *ownAddress, *prefix)) {
            errors.push_back({"gateway", quoted(gateway) + " is outside the box's network " + format(masked(*ownAddress, *prefix))
                    + "/" + std::to_string(*prefix)
                    + ". The box reaches its gateway directly, so type a router address in that network, or check "
                      "the prefix length."});
        } else if (isZero(*parsed) || isMulticast(*parsed) || isLoopback(*parsed)) {
            errors.push_back({"gateway", quoted(gateway) + " cannot be a gateway. Type the router's address."});
        } else {
            settings.gateway = format(*parsed);
        }

        const std::string dns = trimmed(form.dnsServers);
        if (!tooLong("dns", dns)) {
            const auto servers = entries(dns);
            if (servers.size() > kMaxDnsServers)
                errors.push_back({"dns", "Type at most " + std::to_string(kMaxDnsServers)
                        + " DNS servers; the box uses only the first few."});
            for (const auto& server : servers) {
                const auto parsed = parseAddress(server);
                if (!parsed || isZero(*parsed) || isMulticast(*parsed)) {
                    errors.push_back({"dns", quoted(server)
                            + " is not the address of a DNS server. Type IPv4 or IPv6 addresses, separated by "
                              "spaces, such as 192.168.10.1 9.9.9.9, or leave the field empty."});
                    break;
                }
                settings.dnsServers.push_back(format(*parsed));
            }
        }
    }

    const std::string staff = trimmed(form.staffAddress);
    if (tooLong("staff_address", staff)) {
    } else if (staff.empty()) {
        errors.push_back({"staff_address", "Type the address on which staff reach the staff page: one of this box's "
                                           "addresses on the office network, such as 192.168.10.5."});
    } else if (const auto parsed = parseAddress(staff); !parsed) {
        errors.push_back({"staff_address", quoted(staff) + kNotAnAddress});
    } else if (isZero(*parsed)) {
        errors.push_back({"staff_address", quoted(staff) + " would make the staff page listen on every network, the "
                "public one included. Type this box's address on the office network."});
    } else if (isMulticast(*parsed) || isLinkLocal(*parsed)) {
        errors.push_back({"staff_address", quoted(staff) + " cannot be listened on by the staff page. Type this "
                "box's address on the office network, such as 192.168.10.5."});
    } else {
        const bool isStatic = settings.staticAddressing && ownAddress && ownAddress->bytes == parsed->bytes
            && ownAddress->family == parsed->family;
        if (!isStatic && isLocal && !isLocal(format(*parsed)))
            errors.push_back({"staff_address", quoted(staff) + " is not one of this box's addresses"
                    + std::string(settings.staticAddressing ? ", and not the fixed address above" : "")
                    + ". Type the box's own address on the office network"
                    + (settings.staticAddressing ? " (the fixed address above)" : " (the one DHCP gave it)") + "."});
        else
            settings.staffAddress = format(*parsed);
    }

    const std::string lan = trimmed(form.staffLan);
    if (!tooLong("staff_lan", lan)) {
        const auto ranges = entries(lan);
        if (ranges.empty())
            errors.push_back({"staff_lan", "Type at least one office network from which staff reach the staff page, "
                                           "such as 192.168.10.0/24. Without one, the firewall lets no one in."});
        else if (ranges.size() > kMaxLanRanges)
            errors.push_back({"staff_lan", "Type at most " + std::to_string(kMaxLanRanges)
                    + " office networks; combine neighbouring ones into a shorter prefix."});
        std::vector<std::pair<Address, unsigned>> accepted;
        for (const auto& range : ranges) {
            if (ranges.size() > kMaxLanRanges)
                break;
            const auto slash = range.find('/');
            const auto parsed = parseAddress(range.substr(0, slash));
            int length = -1;
            if (parsed)
                length = slash == std::string::npos ? static_cast<int>(parsed->bits()) : smallNumber(range.substr(slash + 1));
            if (!parsed || length < 0 || static_cast<unsigned>(length) > parsed->bits()) {
                errors.push_back({"staff_lan", quoted(range)
                        + " is not a network. Type each office network as an address and a prefix length, such as "
                          "192.168.10.0/24 or fd00:10::/64, separated by spaces."});
                break;
            }
            if (length < 8) {
                errors.push_back({"staff_lan", quoted(range)
                        + " would let a large part of the internet reach the staff page. Type the office's own "
                          "network, such as 192.168.10.0/24."});
                break;
            }
            const Address network = masked(*parsed, static_cast<unsigned>(length));
            if (network.bytes != parsed->bytes) {
                errors.push_back({"staff_lan", quoted(range) + " has bits set after its prefix; the network is "
                        + format(network) + "/" + std::to_string(length) + ". Type that instead."});
                break;
            }
            // nft rejects a set whose networks overlap, and the firewall would
            // then load no rules at all.
            const auto unsignedLength = static_cast<unsigned>(length);
            const auto overlap = std::find_if(accepted.begin(), accepted.end(), [&](const auto& other) {
                return sameNetwork(other.first, network, std::min(other.second, unsignedLength));
            });
            if (overlap != accepted.end()) {
                const bool inside = overlap->second <= unsignedLength;
                const std::string larger = inside ? format(overlap->first) + "/" + std::to_string(overlap->second)
                                                  : format(network) + "/" + std::to_string(length);
                errors.push_back({"staff_lan", quoted(range) + " overlaps another office network in the list. Keep "
                        "only the larger one, " + larger + ", and remove the other."});
                break;
            }
            accepted.emplace_back(network, unsignedLength);
            const std::string text = format(network) + "/" + std::to_string(length);
            (parsed->family == AF_INET ? settings.staffLanV4 : settings.staffLanV6).push_back(text);
        }
    }
    return errors;
}

bool addressIsOnThisBox(const std::string& text)
{
    const auto address = parseAddress(text);
    if (!address)
        return false;
    const int fd = ::socket(address->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool bound = false;
    if (address->family == AF_INET) {
        sockaddr_in socketAddress {};
        socketAddress.sin_family = AF_INET;
        std::memcpy(&socketAddress.sin_addr, address->bytes.data(), 4);
        bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&socketAddress), sizeof socketAddress) == 0;
    } else {
        sockaddr_in6 socketAddress {};
        socketAddress.sin6_family = AF_INET6;
        std::memcpy(&socketAddress.sin6_addr, address->bytes.data(), 16);
        bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&socketAddress), sizeof socketAddress) == 0;
    }
    ::close(fd);
    return bound;
}

std::string formatNetworkSettings(const NetworkSettings& settings)
{
    const auto joined = [](const std::vector<std::string>& list) {
        std::string text;
        for (const auto& item : list)
            text += (text.empty() ? "" : " ") + item;
        return text;
    };
    std::vector<std::string> lan = settings.staffLanV4;
    lan.insert(lan.end(), settings.staffLanV6.begin(), settings.staffLanV6.end());
    std::string text = "; The network settings made on the setup page, written by meldpunt-updated.\n"
                       "; apply-network renders them into /run at every boot (docs/operations.md).\n"
                       "[network]\n";
    text += "addressing = " + std::string(settings.staticAddressing ? "static" : "dhcp") + "\n";
    if (settings.staticAddressing) {
        text += "address = " + settings.address + "/" + std::to_string(settings.prefixLength) + "\n";
        text += "gateway = " + settings.gateway + "\n";
        text += "dns = " + joined(settings.dnsServers) + "\n";
    }
    text += "staff_address = " + settings.staffAddress + "\n";
    text += "staff_lan = " + joined(lan) + "\n";
    return text;
}

} // namespace meldpunt::network
