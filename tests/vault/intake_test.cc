// Intake: a valid report becomes a case; forged, altered, misattributed and
// duplicate reports are rejected, counted and audited, and nothing reaches
// the case store (threat model P3).
#include "vault_harness.h"

namespace letterbox::vault::testing {
namespace {

using Family = sv::VaultBatch::Family;

size_t CaseRows(VaultHarness& h) {
  return h.memory_->RawFamily(Family::kCases).size() +
         h.memory_->RawFamily(Family::kCaseKeys).size();
}

// Checks a rejection: the reason, nothing in cases/case_keys, the counter,
// and an audit entry naming the reason.
void ExpectRejected(VaultHarness& h, const IntakeOutcome& o, IntakeRejection reason) {
  CHECK_FALSE(o.accepted);
  CHECK(o.rejection == reason);
  CHECK(CaseRows(h) == 0);
  CHECK(h.vault_->intake_counters().rejected[static_cast<int>(reason)] == 1);
  auto last = h.LastAudit().entry;
  CHECK(last.action == "Intake");
  CHECK(last.decision == sv::Decision::kDeny);
  CHECK(last.reason == IntakeRejectionName(reason));
}

TEST_CASE("a valid report becomes a case with pseudonyms and encrypted content") {
  VaultHarness h;
  auto reporter = Address(RandomBytes(16), 1);
  auto sender = Address(RandomBytes(16), 3);
  ReportBuilder b(h.franking, reporter);
  b.Add(sender, "first message");
  b.Add(sender, "second message");
  IntakeOutcome o = h.Ingest(b.Seal(h.intake_public_), reporter);
  REQUIRE(o.accepted);
  CHECK(o.case_id.size() == 16);
  CHECK(h.franking.calls == 1);  // both tags in one batch
  auto rec = h.stores_->GetCase(o.case_id).value();
  CHECK(rec.jurisdiction == "JP");
  CHECK(rec.message_count == 2);
  CHECK(rec.sender_pseudonyms.size() == 1);
  CHECK(rec.reporter_pseudonym.size() == 32);
  CHECK(rec.reporter_pseudonym != reporter.account_id());
  // No real id and no plaintext in the stored record or key.
  const std::string stored = h.memory_->RawFamily(Family::kCases).at(o.case_id);
  CHECK(stored.find(reporter.account_id()) == std::string::npos);
  CHECK(stored.find(sender.account_id()) == std::string::npos);
  CHECK(stored.find("first message") == std::string::npos);
  auto key = h.stores_->GetCaseKey(o.case_id).value();
  CHECK(key.kek_id == "kek-1");
  CHECK(h.LastAudit().entry.reason == "accepted case:" + Hex(o.case_id));
  CHECK(h.vault_->intake_counters().accepted == 1);
}

TEST_CASE("a report whose franking tag the server does not confirm is rejected as forged") {
  VaultHarness h;
  auto reporter = Address(RandomBytes(16), 1);
  ReportBuilder b(h.franking, reporter);
  auto& m = b.Add(Address(RandomBytes(16), 1), "I never said this");
  std::string tag = m.franking_tag();
  tag[0] ^= 1;
  m.set_franking_tag(tag);
  ExpectRejected(h, h.Ingest(b.Seal(h.intake_public_), reporter), IntakeRejection::kForgedTag);
  CHECK(h.LastAudit().entry.severity == sv::Severity::kHigh);
}

TEST_CASE("a report framing a sender who never sent the message is rejected as forged") {
  VaultHarness h;
  auto reporter = Address(RandomBytes(16), 1);
  ReportBuilder b(h.franking, reporter);
  auto& m = b.Add(Address(RandomBytes(16), 1), "genuine text");
  *m.mutable_sender() = Address(RandomBytes(16), 1);  // blame someone else
  ExpectRejected(h, h.Ingest(b.Seal(h.intake_public_), reporter), IntakeRejection::kForgedTag);
}

TEST_CASE("a report with altered plaintext is rejected: the commitment does not open") {
  VaultHarness h;
  auto reporter = Address(RandomBytes(16), 1);
  ReportBuilder b(h.franking, reporter);
  b.Add(Address(RandomBytes(16), 1), "see you tomorrow").set_plaintext("I will hurt you");
  ExpectRejected(h, h.Ingest(b.Seal(h.intake_public_), reporter),
                 IntakeRejection::kCommitmentMismatch);
}

TEST_CASE("a report whose inner reporter is not the authenticated reporter is misattributed") {
  VaultHarness h;
  auto reporter = Address(RandomBytes(16), 1);
  ReportBuilder b(h.franking, reporter);
  b.Add(Address(RandomBytes(16), 1), "hello");
  ExpectRejected(h, h.Ingest(b.Seal(h.intake_public_), Address(RandomBytes(16), 1)),
                 IntakeRejection::kMisattributed);
}

TEST_CASE("a report of a message received by someone else is misattributed") {
  VaultHarness h;
  auto reporter = Address(RandomBytes(16), 1);
  auto other = Address(RandomBytes(16), 1);
  // A genuine message from sender to `other`, which `reporter` got hold of.
  ReportBuilder genuine(h.franking, other);
  v1::ReportedMessage m = genuine.Add(Address(RandomBytes(16), 1), "private to other");
  ReportBuilder b(h.franking, reporter);
  *b.content.add_messages() = m;
  ExpectRejected(h, h.Ingest(b.Seal(h.intake_public_), reporter), IntakeRejection::kMisattributed);
}

TEST_CASE("reporting an already reported message again is rejected as duplicate") {
  VaultHarness h;
  auto reporter = Address(RandomBytes(16), 1);
  ReportBuilder b(h.franking, reporter);
  b.Add(Address(RandomBytes(16), 1), "spam spam");
  REQUIRE(h.Ingest(b.Seal(h.intake_public_), reporter).accepted);
  const size_t cases_before = h.memory_->RawFamily(Family::kCases).size();
  IntakeOutcome again = h.Ingest(b.Seal(h.intake_public_), reporter);  // new relay id
  CHECK_FALSE(again.accepted);
  CHECK(again.rejection == IntakeRejection::kDuplicate);
  CHECK(h.memory_->RawFamily(Family::kCases).size() == cases_before);
  CHECK(h.LastAudit().entry.reason == "duplicate");
}

TEST_CASE("a redelivered relay id returns the first outcome and writes nothing") {
  VaultHarness h;
  auto reporter = Address(RandomBytes(16), 1);
  ReportBuilder b(h.franking, reporter);
  b.Add(Address(RandomBytes(16), 1), "once");
  const std::string relay_id = RandomBytes(16);
  const std::string sealed = b.Seal(h.intake_public_);
  IntakeOutcome first = h.Ingest(sealed, reporter, "JP", relay_id);
  REQUIRE(first.accepted);
  const uint64_t audit_size = h.AuditSize();
  IntakeOutcome second = h.Ingest(sealed, reporter, "JP", relay_id);
  CHECK(second.accepted);
  CHECK(second.redelivered);
  CHECK(second.case_id == first.case_id);
  CHECK(h.AuditSize() == audit_size);
  CHECK(h.memory_->RawFamily(Family::kCases).size() == 1);
}

TEST_CASE("garbage that does not open with the intake key is rejected as unreadable") {
  VaultHarness h;
  ExpectRejected(h, h.Ingest(RandomBytes(200), Address(RandomBytes(16), 1)),
                 IntakeRejection::kUnreadable);
}

TEST_CASE("malformed report contents are rejected") {
  VaultHarness h;
  auto reporter = Address(RandomBytes(16), 1);
  ReportBuilder b(h.franking, reporter);
  SECTION("no messages") {}
  SECTION("wrong version") {
    b.Add(Address(RandomBytes(16), 1), "x");
    b.content.set_version(2);
  }
  SECTION("unspecified category") {
    b.Add(Address(RandomBytes(16), 1), "x");
    b.content.set_category(v1::REPORT_CATEGORY_UNSPECIFIED);
  }
  SECTION("21 messages") {
    for (int i = 0; i < 21; ++i) b.Add(Address(RandomBytes(16), 1), "x");
  }
  SECTION("oversized plaintext") { b.Add(Address(RandomBytes(16), 1), std::string(65537, 'a')); }
  SECTION("short message id") { b.Add(Address(RandomBytes(16), 1), "x").set_message_id("short"); }
  ExpectRejected(h, h.Ingest(b.Seal(h.intake_public_), reporter), IntakeRejection::kMalformed);
}

TEST_CASE("a franking verifier failure is an error and records nothing - so the relay retries") {
  VaultHarness h;
  auto reporter = Address(RandomBytes(16), 1);
  ReportBuilder b(h.franking, reporter);
  b.Add(Address(RandomBytes(16), 1), "retry me");
  const std::string relay_id = RandomBytes(16);
  const uint64_t audit_size = h.AuditSize();
  h.franking.fail_next = true;
  IncomingReport r{relay_id, "JP", reporter, h.clock.NowMicros(), b.Seal(h.intake_public_)};
  CHECK(absl::IsUnavailable(h.vault_->Ingest(r).status()));
  CHECK(h.AuditSize() == audit_size);
  CHECK(h.vault_->Ingest(r).value().accepted);  // the redelivery succeeds
}

TEST_CASE("a storage failure during intake is an error and leaves nothing behind") {
  VaultHarness h;
  auto reporter = Address(RandomBytes(16), 1);
  ReportBuilder b(h.franking, reporter);
  b.Add(Address(RandomBytes(16), 1), "disk full");
  IncomingReport r{RandomBytes(16), "JP", reporter, h.clock.NowMicros(), b.Seal(h.intake_public_)};
  h.memory_->FailCommits(1);
  CHECK_FALSE(h.vault_->Ingest(r).ok());
  CHECK(CaseRows(h) == 0);
  CHECK(h.vault_->Ingest(r).value().accepted);
}

TEST_CASE("a report for a jurisdiction the vault does not serve is rejected") {
  VaultHarness h;
  auto reporter = Address(RandomBytes(16), 1);
  ReportBuilder b(h.franking, reporter);
  b.Add(Address(RandomBytes(16), 1), "x");
  ExpectRejected(h, h.Ingest(b.Seal(h.intake_public_), reporter, "ZZ"),
                 IntakeRejection::kUnknownJurisdiction);
}

}  // namespace
}  // namespace letterbox::vault::testing
