// The access policy table (docs/vault.md, "Policy").
#include "letterbox/vault/policy.h"

namespace letterbox::vault {

namespace {

bool RoleMayAct(Action action, Role role, bool is_requester) {
  switch (action) {
    case Action::kListQueue:
    case Action::kListGrants:
      return role == Role::kReviewer || role == Role::kApprover;
    case Action::kRequestGrant:
    case Action::kBreakGlass:
    case Action::kOpenCase:
    case Action::kRevealIdentity:
      return role == Role::kReviewer;
    case Action::kDecideGrant:
      return role == Role::kApprover;
    case Action::kRevokeGrant:
      return role == Role::kApprover || role == Role::kAdmin ||
             (role == Role::kReviewer && is_requester);
    case Action::kAuditRead:
      return role == Role::kAuditor;
    case Action::kCheckpoint:
      return role == Role::kAuditor || role == Role::kAdmin;
    case Action::kManageStaff:
      return role == Role::kAdmin;
  }
  return false;
}

PolicyDecision Deny(std::string_view reason) { return {false, reason}; }

}  // namespace

PolicyDecision Decide(const PolicyInput& in) {
  if (!in.network_allowed) return Deny(kDeniedNetwork);
  if (!RoleMayAct(in.action, in.role, in.is_requester)) return Deny(kDeniedRole);
  const bool case_bound = in.action == Action::kRequestGrant || in.action == Action::kDecideGrant ||
                          in.action == Action::kRevokeGrant || in.action == Action::kBreakGlass ||
                          in.action == Action::kOpenCase || in.action == Action::kRevealIdentity;
  if (case_bound &&
      (in.case_jurisdiction.empty() || in.case_jurisdiction != in.staff_jurisdiction)) {
    return Deny(kDeniedJurisdiction);
  }
  if (in.action == Action::kDecideGrant && in.is_requester) return Deny(kDeniedSelfApproval);
  if (in.action == Action::kOpenCase || in.action == Action::kRevealIdentity) {
    if (in.grant != GrantStatus::kLive) return Deny(kDeniedNoGrant);
    if (!in.rate_allows) return Deny(kDeniedRate);
  }
  return {true, kAllowed};
}

}  // namespace letterbox::vault
