// The policy as a pure function (a table) and the peer/CIDR parsing that
// feeds its network rule.
#include "letterbox/vault/policy.h"

#include <catch2/catch.hpp>

#include "letterbox/vault/network.h"

namespace letterbox::vault {
namespace {

TEST_CASE("policy table: the first failing rule is the reason") {
  struct Row {
    PolicyInput in;
    std::string_view reason;
  };
  auto open = [](Role role, bool net, std::string_view cj, GrantStatus g, bool rate) {
    PolicyInput in;
    in.action = Action::kOpenCase;
    in.role = role;
    in.staff_jurisdiction = "JP";
    in.network_allowed = net;
    in.case_jurisdiction = cj;
    in.grant = g;
    in.rate_allows = rate;
    return in;
  };
  const std::vector<Row> rows = {
      {open(Role::kReviewer, true, "JP", GrantStatus::kLive, true), kAllowed},
      {open(Role::kReviewer, false, "JP", GrantStatus::kLive, true), kDeniedNetwork},
      {open(Role::kAdmin, false, "KR", GrantStatus::kNone, false), kDeniedNetwork},
      {open(Role::kAdmin, true, "JP", GrantStatus::kLive, true), kDeniedRole},
      {open(Role::kAuditor, true, "JP", GrantStatus::kLive, true), kDeniedRole},
      {open(Role::kApprover, true, "JP", GrantStatus::kLive, true), kDeniedRole},
      {open(Role::kReviewer, true, "KR", GrantStatus::kLive, true), kDeniedJurisdiction},
      {open(Role::kReviewer, true, "JP", GrantStatus::kPending, true), kDeniedNoGrant},
      {open(Role::kReviewer, true, "JP", GrantStatus::kExpired, true), kDeniedNoGrant},
      {open(Role::kReviewer, true, "JP", GrantStatus::kRevoked, true), kDeniedNoGrant},
      {open(Role::kReviewer, true, "JP", GrantStatus::kRejected, true), kDeniedNoGrant},
      {open(Role::kReviewer, true, "JP", GrantStatus::kLive, false), kDeniedRate},
  };
  for (const auto& row : rows) {
    const PolicyDecision d = Decide(row.in);
    CHECK(d.reason == row.reason);
    CHECK(d.allowed == (row.reason == kAllowed));
  }
}

TEST_CASE("policy: approvers decide others' requests only - in their jurisdiction") {
  PolicyInput in;
  in.action = Action::kDecideGrant;
  in.role = Role::kApprover;
  in.staff_jurisdiction = "JP";
  in.network_allowed = true;
  in.case_jurisdiction = "JP";
  CHECK(Decide(in).allowed);
  in.is_requester = true;
  CHECK(Decide(in).reason == kDeniedSelfApproval);
  in.is_requester = false;
  in.case_jurisdiction = "KR";
  CHECK(Decide(in).reason == kDeniedJurisdiction);
  in.case_jurisdiction = "JP";
  in.role = Role::kAdmin;
  CHECK(Decide(in).reason == kDeniedRole);
}

TEST_CASE("peer strings from gRPC parse to addresses") {
  CHECK(ParsePeerAddress("ipv4:127.0.0.2:5555").ok());
  CHECK(ParsePeerAddress("ipv6:[::1]:5555").ok());
  CHECK(ParsePeerAddress("ipv6:%5B::1%5D:5555").ok());
  CHECK_FALSE(ParsePeerAddress("unix:/tmp/sock").ok());
  CHECK_FALSE(ParsePeerAddress("").ok());
  // An IPv4-mapped IPv6 peer matches IPv4 networks.
  auto mapped = ParsePeerAddress("ipv6:[::ffff:127.0.0.2]:1");
  REQUIRE(mapped.ok());
  CHECK(Cidr::Parse("127.0.0.2/32")->Contains(*mapped));
}

TEST_CASE("CIDRs contain exactly their range") {
  auto net = Cidr::Parse("10.1.0.0/16").value();
  CHECK(net.Contains(ParseIpAddress("10.1.255.3").value()));
  CHECK_FALSE(net.Contains(ParseIpAddress("10.2.0.1").value()));
  CHECK_FALSE(net.Contains(ParseIpAddress("::1").value()));
  CHECK(Cidr::Parse("2001:db8::/32")->Contains(ParseIpAddress("2001:db8::7").value()));
  CHECK_FALSE(Cidr::Parse("10.1.0.1/16").ok());  // host bits set
  CHECK_FALSE(Cidr::Parse("10.1.0.0/33").ok());
  CHECK_FALSE(Cidr::Parse("10.1.0.0").ok());
}

}  // namespace
}  // namespace letterbox::vault
