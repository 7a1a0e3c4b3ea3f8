// File: letterbox/vault/policy.h
//
// The vault's access policy as one pure function: the facts about a request
// in, a decision and the rule that decided out. No I/O, no clock, no state:
// the caller gathers the facts (role, jurisdictions, whether the source
// address is inside the staff member's networks, the best grant, the rate)
// and then acts on the decision. docs/vault.md has the table; tests/vault
// checks it row by row.
//
//   PolicyDecision d = Decide({.action = Action::kOpenCase, .role = Role::kReviewer, ...});
//   if (!d.allowed) return absl::PermissionDeniedError(d.reason);
//
// Rules are checked in this order, and the first that fails is the reason:
//   network ("denied: network") → role ("denied: role") → jurisdiction
//   ("denied: jurisdiction") → self-approval ("denied: self-approval") →
//   grant ("denied: no live grant") → rate ("denied: rate limit, account suspended").
#pragma once

#include <string_view>

#include "letterbox/storage/vault/vault_stores.h"

namespace letterbox::vault {

using storage::vault::Role;

enum class Action {
  kListQueue,       // reviewer, approver
  kListGrants,      // reviewer, approver
  kRequestGrant,    // reviewer of the case's jurisdiction
  kDecideGrant,     // approve / reject: approver of the case's jurisdiction, not the requester
  kRevokeGrant,     // the requester, or an approver / admin of the case's jurisdiction
  kBreakGlass,      // reviewer of the case's jurisdiction
  kOpenCase,        // reviewer of the case's jurisdiction + live OPEN grant + rate
  kRevealIdentity,  // reviewer of the case's jurisdiction + live REVEAL grant + rate
  kAuditRead,       // auditor
  kCheckpoint,      // auditor, admin
  kManageStaff,     // admin (enrol, disable)
};

// The caller's best grant for (case, kind): kLive beats kPending beats
// kExpired beats kRevoked beats kRejected beats kNone.
enum class GrantStatus { kNone, kRejected, kRevoked, kExpired, kPending, kLive };

struct PolicyInput {
  Action action = Action::kListQueue;
  Role role = Role::kNone;
  std::string_view staff_jurisdiction;
  // The source address is inside one of the staff jurisdiction's networks.
  bool network_allowed = false;
  // The case's jurisdiction for case- and grant-bound actions; empty otherwise.
  std::string_view case_jurisdiction;
  // kDecideGrant / kRevokeGrant: the caller requested the grant.
  bool is_requester = false;
  // kOpenCase / kRevealIdentity: the caller's best grant of the needed kind.
  GrantStatus grant = GrantStatus::kNone;
  // kOpenCase / kRevealIdentity: the open-rate limiter would allow one more.
  bool rate_allows = true;
};

struct PolicyDecision {
  bool allowed = false;
  // "allowed", or one of the "denied: ..." rules.
  std::string_view reason;
};

inline constexpr std::string_view kAllowed = "allowed";
inline constexpr std::string_view kDeniedNetwork = "denied: network";
inline constexpr std::string_view kDeniedRole = "denied: role";
inline constexpr std::string_view kDeniedJurisdiction = "denied: jurisdiction";
inline constexpr std::string_view kDeniedSelfApproval = "denied: self-approval";
inline constexpr std::string_view kDeniedNoGrant = "denied: no live grant";
inline constexpr std::string_view kDeniedRate = "denied: rate limit, account suspended";

// The decision for `input`. Pure and thread-safe.
[[nodiscard]] PolicyDecision Decide(const PolicyInput& input);

}  // namespace letterbox::vault
