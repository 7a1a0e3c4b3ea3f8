// File: letterbox/vault/network.h
//
// Source-address checks for staff requests: parse the peer string gRPC
// reports (CallbackServerContext::peer(), "ipv4:127.0.0.2:5555",
// "ipv6:[::1]:5555") and match it against a jurisdiction's CIDRs.
//
//   LB_ASSIGN_OR_RETURN(Cidr office, Cidr::Parse("127.0.0.2/32"));
//   LB_ASSIGN_OR_RETURN(IpAddress peer, ParsePeerAddress(context->peer()));
//   bool inside = office.Contains(peer);
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace letterbox::vault {

// An IPv4 or IPv6 address. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are
// stored as IPv4, so a dual-stack listener matches IPv4 CIDRs.
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// Parses "a.b.c.d" or an IPv6 literal (no brackets). INVALID_ARGUMENT otherwise.
[[nodiscard]] absl::StatusOr<IpAddress> ParseIpAddress(std::string_view text);

// Parses gRPC's peer string: "ipv4:<addr>:<port>" or "ipv6:[<addr>]:<port>"
// (percent-encoded brackets are accepted too). Anything else (unix sockets,
// empty): INVALID_ARGUMENT, which callers treat as outside every network.
[[nodiscard]] absl::StatusOr<IpAddress> ParsePeerAddress(std::string_view peer);

// A network "addr/prefix". Immutable, copyable.
class Cidr {
 public:
  // INVALID_ARGUMENT for a bad address, a prefix beyond 32 (IPv4) or 128
  // (IPv6), or host bits set beyond the prefix.
  [[nodiscard]] static absl::StatusOr<Cidr> Parse(std::string_view text);
  // Whether `address` is inside (never across families).
  [[nodiscard]] bool Contains(const IpAddress& address) const;

 private:
  IpAddress base_;
  int prefix_ = 0;
};

// True if `address` is inside any of `networks`.
[[nodiscard]] bool InAnyNetwork(const IpAddress& address, const std::vector<Cidr>& networks);

}  // namespace letterbox::vault
