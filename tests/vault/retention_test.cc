// Retention crypto-shreds (the data key goes first, synced, then the record)
// and the vault's data directory never holds case plaintext.
#include <fstream>
#include <iterator>

#include "vault_harness.h"

namespace letterbox::vault::testing {
namespace {

TEST_CASE("expiry destroys the wrapped data key first - then the case record") {
  VaultHarness h({.rocksdb = true});
  const std::string expiring = h.IngestValidCase("JP");
  h.clock.Advance(absl::Hours(24 * 100));
  const std::string young = h.IngestValidCase("JP");
  h.clock.Advance(absl::Hours(24 * 80) + absl::Seconds(1));
  const std::string sealed = h.stores_->GetCase(expiring).value().sealed_content;
  const uint64_t before = h.AuditSize();
  CHECK(h.vault_->ExpireCases().value() == 1);
  CHECK(absl::IsNotFound(h.stores_->GetCaseKey(expiring).status()));
  CHECK(absl::IsNotFound(h.stores_->GetCase(expiring).status()));
  CHECK(h.stores_->GetCase(young).ok());
  CHECK(h.stores_->GetCaseKey(young).ok());
  auto entries = h.AuditSince(before);
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].entry.action == "ShredCaseKey");
  CHECK(entries[1].entry.action == "ExpireCase");
  CHECK(entries[0].entry.target == "case:" + Hex(expiring));
  // The audit log keeps the fact and still verifies.
  REQUIRE(h.vault_->SignCheckpoint().ok());
  auto v = sv::VerifyAuditLog(h.stores_->ReadRawAudit().value(),
                              sv::ReadCheckpointFile(h.export_path_).value(), h.audit_public_);
  CHECK(v.ok);
  CHECK(h.vault_->ExpireCases().value() == 0);
}

std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_CASE("the vault data directory holds no case plaintext or real account id") {
  VaultHarness h({.rocksdb = true});
  StaffClient admin = h.Admin();
  StaffClient reviewer = h.Enrol(admin, v1::STAFF_ROLE_REVIEWER, "JP", kJpOffice);
  std::vector<std::string> canaries;
  for (int i = 0; i < 5; ++i) {
    auto reporter = Address(RandomBytes(16), 1);
    auto sender = Address(RandomBytes(16), 1);
    const std::string text = "CANARY-PLAINTEXT-" + Hex(RandomBytes(8));
    const std::string comment = "CANARY-COMMENT-" + Hex(RandomBytes(8));
    ReportBuilder b(h.franking, reporter);
    b.Add(sender, text);
    b.content.set_comment(comment);
    IntakeOutcome o = h.Ingest(b.Seal(h.intake_public_), reporter);
    REQUIRE(o.accepted);
    canaries.insert(canaries.end(), {text, comment, reporter.account_id(), sender.account_id()});
    // Open it too, so the decrypt path has run against this directory.
    v1::BreakGlassRequest bg;
    bg.set_case_id(o.case_id);
    bg.set_justification("canary check");
    v1::Grant g;
    auto ctx = reviewer.Ctx();
    REQUIRE(reviewer.stub->BreakGlass(ctx.get(), bg, &g).ok());
    v1::OpenCaseRequest req;
    req.set_case_id(o.case_id);
    v1::OpenCaseResponse resp;
    auto ctx2 = reviewer.Ctx();
    REQUIRE(reviewer.stub->OpenCase(ctx2.get(), req, &resp).ok());
    REQUIRE(resp.messages(0).plaintext() == text);
  }
  REQUIRE(h.rocks_->Flush().ok());
  h.Stop();
  int files = 0, hits = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(h.data_dir_)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    const std::string bytes = Slurp(entry.path());
    for (const auto& c : canaries) {
      if (bytes.find(c) != std::string::npos) {
        ++hits;
        FAIL_CHECK("canary found in " << entry.path());
      }
    }
  }
  CHECK(files > 3);
  CHECK(hits == 0);
  std::printf("vault canary search: %zu canaries, %d files, %d hits\n", canaries.size(), files,
              hits);
}

}  // namespace
}  // namespace letterbox::vault::testing
