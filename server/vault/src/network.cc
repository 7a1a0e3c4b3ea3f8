// Peer-address parsing and CIDR matching.
#include "letterbox/vault/network.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_replace.h"

namespace letterbox::vault {

absl::StatusOr<IpAddress> ParseIpAddress(std::string_view text) {
  const std::string s(text);
  IpAddress out;
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    std::memcpy(out.bytes.data(), &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(&v6, kMapped, 12) == 0) {
      std::memcpy(out.bytes.data(), reinterpret_cast<const uint8_t*>(&v6) + 12, 4);
      return out;
    }
    out.v6 = true;
    std::memcpy(out.bytes.data(), &v6, 16);
    return out;
  }
  return absl::InvalidArgumentError("not an IP address");
}

absl::StatusOr<IpAddress> ParsePeerAddress(std::string_view peer) {
  std::string p =
      absl::StrReplaceAll(std::string(peer), {{"%5B", "["}, {"%5D", "]"}, {"%25", "%"}});
  std::string_view v(p);
  if (v.substr(0, 5) == "ipv4:") {
    v.remove_prefix(5);
    const size_t colon = v.rfind(':');
    if (colon == std::string_view::npos) return absl::InvalidArgumentError("bad peer");
    return ParseIpAddress(v.substr(0, colon));
  }
  if (v.substr(0, 5) == "ipv6:") {
    v.remove_prefix(5);
    if (v.empty() || v.front() != '[') return absl::InvalidArgumentError("bad peer");
    const size_t close = v.find(']');
    if (close == std::string_view::npos) return absl::InvalidArgumentError("bad peer");
    std::string_view addr = v.substr(1, close - 1);
    // Drop a zone id ("fe80::1%eth0").
    if (const size_t pct = addr.find('%'); pct != std::string_view::npos)
      addr = addr.substr(0, pct);
    return ParseIpAddress(addr);
  }
  return absl::InvalidArgumentError("peer is not an IP address");
}

absl::StatusOr<Cidr> Cidr::Parse(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return absl::InvalidArgumentError("CIDR needs /prefix");
  auto base = ParseIpAddress(text.substr(0, slash));
  if (!base.ok()) return base.status();
  int prefix = -1;
  if (!absl::SimpleAtoi(std::string(text.substr(slash + 1)), &prefix) || prefix < 0 ||
      prefix > (base->v6 ? 128 : 32)) {
    return absl::InvalidArgumentError("bad CIDR prefix");
  }
  Cidr c;
  c.base_ = *base;
  c.prefix_ = prefix;
  // Host bits must be zero.
  const int total = base->v6 ? 128 : 32;
  for (int bit = prefix; bit < total; ++bit) {
    if (base->bytes[bit / 8] & (0x80 >> (bit % 8))) {
      return absl::InvalidArgumentError("CIDR has host bits set");
    }
  }
  return c;
}

bool Cidr::Contains(const IpAddress& address) const {
  if (address.v6 != base_.v6) return false;
  const int full = prefix_ / 8;
  if (std::memcmp(address.bytes.data(), base_.bytes.data(), full) != 0) return false;
  const int rest = prefix_ % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (address.bytes[full] & mask) == (base_.bytes[full] & mask);
}

bool InAnyNetwork(const IpAddress& address, const std::vector<Cidr>& networks) {
  for (const auto& n : networks) {
    if (n.Contains(address)) return true;
  }
  return false;
}

}  // namespace letterbox::vault
