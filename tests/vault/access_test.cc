// Vault access over real gRPC from real loopback source addresses: the
// denial matrix (role x jurisdiction x network x grant state x rate), the
// grant workflow, self-approval, break-glass, reveal, expiry (threat model P4).
#include <map>
#include <tuple>

#include "letterbox/vault/policy.h"
#include "vault_harness.h"

namespace letterbox::vault::testing {
namespace {

using grpc::StatusCode;

grpc::Status Open(const StaffClient& c, const std::string& case_id,
                  v1::OpenCaseResponse* out = nullptr) {
  v1::OpenCaseRequest req;
  req.set_case_id(case_id);
  v1::OpenCaseResponse resp;
  auto ctx = c.Ctx();
  grpc::Status s = c.stub->OpenCase(ctx.get(), req, &resp);
  if (out) *out = resp;
  return s;
}

grpc::Status Reveal(const StaffClient& c, const std::string& case_id,
                    v1::RevealIdentityResponse* out = nullptr) {
  v1::RevealIdentityRequest req;
  req.set_case_id(case_id);
  v1::RevealIdentityResponse resp;
  auto ctx = c.Ctx();
  grpc::Status s = c.stub->RevealIdentity(ctx.get(), req, &resp);
  if (out) *out = resp;
  return s;
}

grpc::Status RequestGrant(const StaffClient& c, const std::string& case_id, v1::GrantKind kind,
                          v1::Grant* out) {
  v1::RequestGrantRequest req;
  req.set_case_id(case_id);
  req.set_kind(kind);
  req.set_justification("user complaint #4711, threats");
  auto ctx = c.Ctx();
  return c.stub->RequestGrant(ctx.get(), req, out);
}

grpc::Status Approve(const StaffClient& c, const std::string& grant_id, v1::Grant* out) {
  v1::ApproveGrantRequest req;
  req.set_grant_id(grant_id);
  auto ctx = c.Ctx();
  return c.stub->ApproveGrant(ctx.get(), req, out);
}

void ExpectDenied(VaultHarness& h, const grpc::Status& s, std::string_view reason,
                  const StaffClient& c, std::string_view action) {
  CHECK(s.error_code() == StatusCode::PERMISSION_DENIED);
  CHECK(s.error_message() == reason);
  auto e = h.LastAudit().entry;
  CHECK(e.action == action);
  CHECK(e.actor == Hex(c.staff_id));
  CHECK(e.decision == sv::Decision::kDeny);
  CHECK(e.reason == reason);
}

// ---------------------------------------------------------------- matrix

enum class GrantSetup { kNone, kPending, kApproved, kExpired, kRevoked };
const char* Name(GrantSetup g) {
  switch (g) {
    case GrantSetup::kNone:
      return "none";
    case GrantSetup::kPending:
      return "pending";
    case GrantSetup::kApproved:
      return "approved";
    case GrantSetup::kExpired:
      return "expired";
    case GrantSetup::kRevoked:
      return "revoked";
  }
  return "?";
}

TEST_CASE("denial matrix: role x jurisdiction x network x grant state x rate for OpenCase") {
  // Burst 2: a reviewer who has opened twice is over the rate.
  VaultHarness h({.opens = {1.0 / 3600, 2}});
  StaffClient admin = h.Admin();
  const std::map<std::string, std::string> office = {{"JP", kJpOffice}, {"KR", kKrOffice}};
  const std::vector<v1::StaffRole> roles = {v1::STAFF_ROLE_REVIEWER, v1::STAFF_ROLE_APPROVER,
                                            v1::STAFF_ROLE_AUDITOR, v1::STAFF_ROLE_ADMIN};
  const std::vector<GrantSetup> grants = {GrantSetup::kNone, GrantSetup::kPending,
                                          GrantSetup::kApproved, GrantSetup::kExpired,
                                          GrantSetup::kRevoked};
  int rows = 0, passed = 0;
  for (v1::StaffRole role : roles) {
    for (const std::string staff_j : {"JP", "KR"}) {
      for (const bool own_network : {true, false}) {
        for (GrantSetup grant : grants) {
          // The rate can only be exhausted by a reviewer (nobody else ever
          // opens), so the rate dimension exists for reviewers only.
          for (const bool rate_exceeded : {false, true}) {
            if (rate_exceeded && role != v1::STAFF_ROLE_REVIEWER) continue;
            ++rows;
            const std::string row =
                absl::StrCat("role=", v1::StaffRole_Name(role), " staff=", staff_j,
                             " network=", own_network ? "own" : "foreign", " grant=", Name(grant),
                             " rate=", rate_exceeded ? "exceeded" : "ok");
            INFO(row);
            const std::string case_id = h.IngestValidCase("JP");
            // Log in from the own office (login itself checks the network).
            StaffClient home = h.Enrol(admin, role, staff_j, office.at(staff_j));
            REQUIRE_FALSE(home.token_hex.empty());
            if (rate_exceeded) {
              // Use up the burst on a case of the reviewer's own jurisdiction.
              const std::string warmup = h.IngestValidCase(staff_j);
              h.PutGrant(home.staff_id, warmup, staff_j, sv::GrantKind::kOpen,
                         sv::GrantState::kApproved, h.clock.NowMicros() + 3'600'000'000);
              REQUIRE(Open(home, warmup).ok());
              REQUIRE(Open(home, warmup).ok());
            }
            const int64_t now = h.clock.NowMicros();
            switch (grant) {
              case GrantSetup::kNone:
                break;
              case GrantSetup::kPending:
                h.PutGrant(home.staff_id, case_id, "JP", sv::GrantKind::kOpen,
                           sv::GrantState::kPending, 0);
                break;
              case GrantSetup::kApproved:
                h.PutGrant(home.staff_id, case_id, "JP", sv::GrantKind::kOpen,
                           sv::GrantState::kApproved, now + 3'600'000'000);
                break;
              case GrantSetup::kExpired:
                h.PutGrant(home.staff_id, case_id, "JP", sv::GrantKind::kOpen,
                           sv::GrantState::kApproved, now - 1);
                break;
              case GrantSetup::kRevoked:
                h.PutGrant(home.staff_id, case_id, "JP", sv::GrantKind::kOpen,
                           sv::GrantState::kRevoked, now + 3'600'000'000);
                break;
            }
            // The request itself comes from the own or the other office.
            const std::string source =
                own_network ? office.at(staff_j) : office.at(staff_j == "JP" ? "KR" : "JP");
            StaffClient caller = h.From(home, source);

            // The expected answer, written out independently of policy.cc.
            std::string expect;
            if (!own_network) {
              expect = "denied: network";
            } else if (role != v1::STAFF_ROLE_REVIEWER) {
              expect = "denied: role";
            } else if (staff_j != "JP") {
              expect = "denied: jurisdiction";
            } else if (grant != GrantSetup::kApproved) {
              expect = "denied: no live grant";
            } else if (rate_exceeded) {
              expect = "denied: rate limit, account suspended";
            }
            v1::OpenCaseResponse resp;
            const uint64_t audit_before = h.AuditSize();
            grpc::Status s = Open(caller, case_id, &resp);
            bool ok_row = false;
            if (expect.empty()) {
              CHECK(s.ok());
              CHECK(resp.messages_size() == 1);
              CHECK(resp.messages(0).plaintext() == "you will regret this");
              auto e = h.LastAudit().entry;
              CHECK(e.decision == sv::Decision::kAllow);
              CHECK(e.action == "OpenCase");
              CHECK(e.peer.rfind(absl::StrCat("ipv4:", source, ":"), 0) == 0);
              ok_row = s.ok() && e.decision == sv::Decision::kAllow;
            } else {
              CHECK(s.error_code() == StatusCode::PERMISSION_DENIED);
              CHECK(s.error_message() == expect);
              auto entries = h.AuditSince(audit_before);
              REQUIRE_FALSE(entries.empty());
              const auto& e = entries.front().entry;
              CHECK(e.action == "OpenCase");
              CHECK(e.actor == Hex(home.staff_id));
              CHECK(e.decision == sv::Decision::kDeny);
              CHECK(e.reason == expect);
              CHECK(e.peer.rfind(absl::StrCat("ipv4:", source, ":"), 0) == 0);
              CHECK(resp.messages_size() == 0);
              ok_row = s.error_code() == StatusCode::PERMISSION_DENIED &&
                       s.error_message() == expect && e.reason == expect &&
                       e.decision == sv::Decision::kDeny;
              if (expect == "denied: rate limit, account suspended") {
                CHECK(entries.size() == 2);
                CHECK(entries.back().entry.action == "SuspendStaff");
                CHECK(entries.back().entry.severity == sv::Severity::kHigh);
                CHECK_FALSE(h.stores_->GetStaff(home.staff_id).value().enabled);
                // A suspended account's session no longer works at all.
                CHECK(Open(home, case_id).error_code() == StatusCode::UNAUTHENTICATED);
              }
            }
            if (ok_row) ++passed;
          }
        }
      }
    }
  }
  // 4 roles x 2 jurisdictions x 2 networks x 5 grant states = 80, plus the
  // rate-exceeded variant of the 20 reviewer rows = 100.
  CHECK(rows == 100);
  CHECK(passed == rows);
  std::printf("vault denial matrix: %d rows, %d passed\n", rows, passed);
}

// ---------------------------------------------------------- role x action

TEST_CASE("role table: what each role may call (own jurisdiction - own network)") {
  VaultHarness h;
  StaffClient admin = h.Admin();
  // action name -> (roles allowed)
  struct Row {
    std::string action;
    std::vector<v1::StaffRole> allowed;
  };
  const std::vector<Row> table = {
      {"ListQueue", {v1::STAFF_ROLE_REVIEWER, v1::STAFF_ROLE_APPROVER}},
      {"ListGrants", {v1::STAFF_ROLE_REVIEWER, v1::STAFF_ROLE_APPROVER}},
      {"RequestGrant", {v1::STAFF_ROLE_REVIEWER}},
      {"BreakGlass", {v1::STAFF_ROLE_REVIEWER}},
      {"OpenCase", {}},  // no grant: even the reviewer is denied (by grant, not role)
      {"AuditTail", {v1::STAFF_ROLE_AUDITOR}},
      {"GetCheckpoint", {v1::STAFF_ROLE_AUDITOR, v1::STAFF_ROLE_ADMIN}},
      {"SignCheckpoint", {v1::STAFF_ROLE_AUDITOR, v1::STAFF_ROLE_ADMIN}},
      {"ExportCheckpoints", {v1::STAFF_ROLE_AUDITOR, v1::STAFF_ROLE_ADMIN}},
      {"EnrolStaff", {v1::STAFF_ROLE_ADMIN}},
  };
  int rows = 0;
  for (v1::StaffRole role : {v1::STAFF_ROLE_REVIEWER, v1::STAFF_ROLE_APPROVER,
                             v1::STAFF_ROLE_AUDITOR, v1::STAFF_ROLE_ADMIN}) {
    StaffClient c = h.Enrol(admin, role, "JP", kJpOffice);
    for (const Row& row : table) {
      ++rows;
      INFO(v1::StaffRole_Name(role) << " " << row.action);
      const std::string case_id = h.IngestValidCase("JP");
      auto ctx = c.Ctx();
      grpc::Status s;
      if (row.action == "ListQueue") {
        v1::ListQueueResponse r;
        s = c.stub->ListQueue(ctx.get(), {}, &r);
      } else if (row.action == "ListGrants") {
        v1::ListGrantsResponse r;
        s = c.stub->ListGrants(ctx.get(), {}, &r);
      } else if (row.action == "RequestGrant") {
        v1::Grant g;
        s = RequestGrant(c, case_id, v1::GRANT_KIND_OPEN, &g);
      } else if (row.action == "BreakGlass") {
        v1::BreakGlassRequest req;
        req.set_case_id(case_id);
        req.set_justification("imminent harm");
        v1::Grant g;
        s = c.stub->BreakGlass(ctx.get(), req, &g);
      } else if (row.action == "OpenCase") {
        s = Open(c, case_id);
      } else if (row.action == "AuditTail") {
        v1::AuditTailResponse r;
        s = c.stub->AuditTail(ctx.get(), {}, &r);
      } else if (row.action == "GetCheckpoint" || row.action == "SignCheckpoint") {
        v1::Checkpoint r;
        if (row.action == "GetCheckpoint") REQUIRE(h.vault_->SignCheckpoint().ok());
        s = row.action == "GetCheckpoint" ? c.stub->GetCheckpoint(ctx.get(), {}, &r)
                                          : c.stub->SignCheckpoint(ctx.get(), {}, &r);
      } else if (row.action == "ExportCheckpoints") {
        v1::ExportCheckpointsResponse r;
        s = c.stub->ExportCheckpoints(ctx.get(), {}, &r);
      } else if (row.action == "EnrolStaff") {
        v1::EnrolStaffRequest req;
        req.set_public_key(
            crypto::Ed25519KeyPair::Generate(crypto::SystemRandom::Instance()).public_key.str());
        req.set_role(v1::STAFF_ROLE_REVIEWER);
        req.set_jurisdiction("JP");
        v1::EnrolStaffResponse r;
        s = c.stub->EnrolStaff(ctx.get(), req, &r);
      }
      const bool allowed =
          std::find(row.allowed.begin(), row.allowed.end(), role) != row.allowed.end();
      auto e = h.LastAudit().entry;
      CHECK(e.actor == Hex(c.staff_id));
      if (allowed) {
        CHECK(s.ok());
        CHECK(e.decision == sv::Decision::kAllow);
      } else {
        const std::string expect = row.action == "OpenCase" && role == v1::STAFF_ROLE_REVIEWER
                                       ? "denied: no live grant"
                                       : "denied: role";
        ExpectDenied(h, s, expect, c, row.action);
      }
    }
  }
  CHECK(rows == 40);
}

// ------------------------------------------------------- grant workflow

struct Team {
  StaffClient admin, reviewer, approver, approver_kr;
};

Team MakeTeam(VaultHarness& h) {
  StaffClient admin = h.Admin();
  StaffClient reviewer = h.Enrol(admin, v1::STAFF_ROLE_REVIEWER, "JP", kJpOffice);
  StaffClient approver = h.Enrol(admin, v1::STAFF_ROLE_APPROVER, "JP", kJpOffice);
  StaffClient approver_kr = h.Enrol(admin, v1::STAFF_ROLE_APPROVER, "KR", kKrOffice);
  return {std::move(admin), std::move(reviewer), std::move(approver), std::move(approver_kr)};
}

TEST_CASE("request - approval by another approver of the jurisdiction - then open") {
  VaultHarness h;
  Team t = MakeTeam(h);
  const std::string case_id = h.IngestValidCase("JP", "canary: meet me at the station");
  v1::Grant g;
  REQUIRE(RequestGrant(t.reviewer, case_id, v1::GRANT_KIND_OPEN, &g).ok());
  CHECK(g.state() == v1::GRANT_STATE_PENDING);
  ExpectDenied(h, Open(t.reviewer, case_id), "denied: no live grant", t.reviewer, "OpenCase");
  v1::Grant approved;
  ExpectDenied(h, Approve(t.approver_kr, g.grant_id(), &approved), "denied: jurisdiction",
               t.approver_kr, "ApproveGrant");
  REQUIRE(Approve(t.approver, g.grant_id(), &approved).ok());
  CHECK(approved.state() == v1::GRANT_STATE_APPROVED);
  v1::OpenCaseResponse opened;
  REQUIRE(Open(t.reviewer, case_id, &opened).ok());
  CHECK(opened.franking_verdict() == "verified");
  CHECK(opened.messages(0).commitment_verified());
  CHECK(opened.messages(0).plaintext() == "canary: meet me at the station");
  CHECK(opened.summary().status() == v1::CASE_STATUS_IN_REVIEW);
}

TEST_CASE("an approver cannot approve their own request") {
  VaultHarness h;
  Team t = MakeTeam(h);
  const std::string case_id = h.IngestValidCase("JP");
  // The approver's request is refused (role), so plant one as the approver.
  std::string grant_id = h.PutGrant(t.approver.staff_id, case_id, "JP", sv::GrantKind::kOpen,
                                    sv::GrantState::kPending, 0);
  v1::Grant out;
  ExpectDenied(h, Approve(t.approver, grant_id, &out), "denied: self-approval", t.approver,
               "ApproveGrant");
  CHECK(h.stores_->GetGrant(grant_id).value().state == sv::GrantState::kPending);
}

TEST_CASE("a grant expires after grant_ttl on the clock") {
  VaultHarness h;
  Team t = MakeTeam(h);
  const std::string case_id = h.IngestValidCase("JP");
  v1::Grant g, a;
  REQUIRE(RequestGrant(t.reviewer, case_id, v1::GRANT_KIND_OPEN, &g).ok());
  REQUIRE(Approve(t.approver, g.grant_id(), &a).ok());
  h.clock.Advance(absl::Minutes(59));
  CHECK(Open(t.reviewer, case_id).ok());
  h.clock.Advance(absl::Minutes(1));
  ExpectDenied(h, Open(t.reviewer, case_id), "denied: no live grant", t.reviewer, "OpenCase");
}

TEST_CASE("a revoked grant opens nothing") {
  VaultHarness h;
  Team t = MakeTeam(h);
  const std::string case_id = h.IngestValidCase("JP");
  v1::Grant g, a, r;
  REQUIRE(RequestGrant(t.reviewer, case_id, v1::GRANT_KIND_OPEN, &g).ok());
  REQUIRE(Approve(t.approver, g.grant_id(), &a).ok());
  v1::RevokeGrantRequest req;
  req.set_grant_id(g.grant_id());
  req.set_reason("case closed");
  auto ctx = t.admin.Ctx();
  REQUIRE(t.admin.stub->RevokeGrant(ctx.get(), req, &r).ok());
  CHECK(r.state() == v1::GRANT_STATE_REVOKED);
  ExpectDenied(h, Open(t.reviewer, case_id), "denied: no live grant", t.reviewer, "OpenCase");
}

TEST_CASE("break-glass opens at once - is flagged HIGH for auditors - and expires fast") {
  VaultHarness h;
  Team t = MakeTeam(h);
  const std::string case_id = h.IngestValidCase("JP");
  v1::BreakGlassRequest req;
  req.set_case_id(case_id);
  v1::Grant g;
  {
    auto ctx = t.reviewer.Ctx();
    req.set_justification("   ");
    CHECK(t.reviewer.stub->BreakGlass(ctx.get(), req, &g).error_code() ==
          StatusCode::INVALID_ARGUMENT);
  }
  req.set_justification("child safety: credible threat, police on the line");
  auto ctx = t.reviewer.Ctx();
  REQUIRE(t.reviewer.stub->BreakGlass(ctx.get(), req, &g).ok());
  CHECK(g.break_glass());
  auto e = h.LastAudit().entry;
  CHECK(e.action == "BreakGlass");
  CHECK(e.severity == sv::Severity::kHigh);
  CHECK(e.reason.find("BREAK-GLASS") != std::string::npos);
  CHECK(Open(t.reviewer, case_id).ok());
  // Auditors see it among the alerts.
  StaffClient auditor = h.Enrol(t.admin, v1::STAFF_ROLE_AUDITOR, "JP", kJpOffice);
  v1::AuditTailRequest tail;
  tail.set_alerts_only(true);
  v1::AuditTailResponse alerts;
  auto actx = auditor.Ctx();
  REQUIRE(auditor.stub->AuditTail(actx.get(), tail, &alerts).ok());
  bool flagged = false;
  for (const auto& a : alerts.entries()) flagged = flagged || a.action() == "BreakGlass";
  CHECK(flagged);
  h.clock.Advance(absl::Minutes(15));
  ExpectDenied(h, Open(t.reviewer, case_id), "denied: no live grant", t.reviewer, "OpenCase");
}

TEST_CASE("an OPEN grant does not reveal identities: reveal needs its own grant") {
  VaultHarness h;
  Team t = MakeTeam(h);
  auto reporter = Address(RandomBytes(16), 1);
  auto sender = Address(RandomBytes(16), 4);
  ReportBuilder b(h.franking, reporter);
  b.Add(sender, "reveal me");
  IntakeOutcome o = h.Ingest(b.Seal(h.intake_public_), reporter);
  REQUIRE(o.accepted);
  v1::Grant g, a;
  REQUIRE(RequestGrant(t.reviewer, o.case_id, v1::GRANT_KIND_OPEN, &g).ok());
  REQUIRE(Approve(t.approver, g.grant_id(), &a).ok());
  v1::OpenCaseResponse opened;
  REQUIRE(Open(t.reviewer, o.case_id, &opened).ok());
  CHECK(opened.SerializeAsString().find(sender.account_id()) == std::string::npos);
  CHECK(opened.SerializeAsString().find(reporter.account_id()) == std::string::npos);
  ExpectDenied(h, Reveal(t.reviewer, o.case_id), "denied: no live grant", t.reviewer,
               "RevealIdentity");
  REQUIRE(RequestGrant(t.reviewer, o.case_id, v1::GRANT_KIND_REVEAL_IDENTITY, &g).ok());
  REQUIRE(Approve(t.approver, g.grant_id(), &a).ok());
  v1::RevealIdentityResponse revealed;
  REQUIRE(Reveal(t.reviewer, o.case_id, &revealed).ok());
  CHECK(revealed.reporter().account_id() == reporter.account_id());
  CHECK(revealed.senders(0).sender().account_id() == sender.account_id());
  CHECK(h.LastAudit().entry.severity == sv::Severity::kHigh);
}

TEST_CASE("login from outside the jurisdiction's networks is refused and audited") {
  VaultHarness h;
  StaffClient admin = h.Admin();
  StaffClient r = h.Enrol(admin, v1::STAFF_ROLE_REVIEWER, "JP", kKrOffice);
  CHECK(r.token_hex.empty());
  auto e = h.LastAudit().entry;
  CHECK(e.action == "Login");
  CHECK(e.reason == "denied: network");
  CHECK(e.peer.rfind("ipv4:127.0.0.3:", 0) == 0);
}

TEST_CASE("a request without a valid session is UNAUTHENTICATED and audited") {
  VaultHarness h;
  StaffClient nobody{"", crypto::Ed25519KeyPair::Generate(crypto::SystemRandom::Instance()),
                     kJpOffice, h.StubFrom(kJpOffice), Hex(RandomBytes(32))};
  CHECK(Open(nobody, RandomBytes(16)).error_code() == StatusCode::UNAUTHENTICATED);
  auto e = h.LastAudit().entry;
  CHECK(e.action == "OpenCase");
  CHECK(e.decision == sv::Decision::kDeny);
  CHECK(e.reason == "invalid session");
}

TEST_CASE("the queue shows pseudonymous cases of the caller's jurisdiction only") {
  VaultHarness h;
  Team t = MakeTeam(h);
  auto reporter = Address(RandomBytes(16), 1);
  ReportBuilder b(h.franking, reporter);
  b.Add(Address(RandomBytes(16), 1), "queue canary text");
  REQUIRE(h.Ingest(b.Seal(h.intake_public_), reporter).accepted);
  h.IngestValidCase("KR");
  v1::ListQueueResponse q;
  auto ctx = t.reviewer.Ctx();
  REQUIRE(t.reviewer.stub->ListQueue(ctx.get(), {}, &q).ok());
  REQUIRE(q.cases_size() == 1);
  CHECK(q.cases(0).jurisdiction() == "JP");
  const std::string wire = q.SerializeAsString();
  CHECK(wire.find(reporter.account_id()) == std::string::npos);
  CHECK(wire.find("queue canary text") == std::string::npos);
}

}  // namespace
}  // namespace letterbox::vault::testing
