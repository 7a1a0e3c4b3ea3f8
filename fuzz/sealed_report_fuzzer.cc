// Fuzz target: the vault's intake of sealed reports (Vault::Ingest over the
// in-memory vault store, with a fake FrankingVerifier): open the sealed box,
// parse the ReportContent protobuf, check its shape, attribution,
// commitments and franking tags, de-duplicate, store the case.
// Input: U8(mode) ‖ payload.
//   mode bit 0 = 0: payload is a serialized ReportContent, which the target
//                   seals to the vault's intake key (so the fuzzer reaches
//                   the parser and the checks behind it);
//   mode bit 0 = 1: payload is the raw `sealed` field as the relay delivers
//                   it (the size check and the sealed-box open);
//   mode bit 1:     the relay names jurisdiction "JP" (0) or "XX" (1).
// Properties (reliability check 15):
//  - Ingest never crashes and never errors (with a store that cannot fail
//    and a verifier that always answers, every report gets an outcome);
//  - a rejected report writes no case; an accepted one writes exactly one;
//  - a raw payload that is not a sealed box is rejected as unreadable, and
//    a report naming an unserved jurisdiction is rejected as such;
//  - every outcome is counted exactly once in intake_counters().
// The vault is rebuilt every kInputsPerWorld inputs so its audit log stays
// small; each input gets a fresh relay id (no redelivery).
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "fuzz_check.h"
#include "letterbox/crypto/sealed_box.h"
#include "vault_world.h"

namespace crypto = letterbox::crypto;
namespace fuzz = letterbox::fuzz;
namespace vault = letterbox::vault;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!letterbox::crypto::Initialize().ok()) std::abort();
  // Invalid UTF-8 in a string field is expected input here; protobuf's log
  // line for each one would only slow the run down.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

namespace {

constexpr uint64_t kInputsPerWorld = 1000;

std::unique_ptr<fuzz::VaultWorld> NewWorld() {
  auto world = fuzz::VaultWorld::Create();
  FUZZ_CHECK(world != nullptr, "the fuzz vault opens");
  return world;
}

size_t CaseCount(fuzz::VaultWorld& w) {
  auto cases = w.stores.ListCases("", 1u << 20);
  FUZZ_CHECK(cases.ok(), "the memory store lists cases");
  return cases->size();
}

uint64_t OutcomeCount(const vault::IntakeCounters& c) {
  uint64_t n = c.accepted + c.redelivered;
  for (uint64_t r : c.rejected) n += r;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::unique_ptr<fuzz::VaultWorld> world = NewWorld();
  static uint64_t inputs = 0;
  if (++inputs % kInputsPerWorld == 0) world = NewWorld();
  if (size < 1) return 0;
  auto& w = *world;
  w.clock.Advance(absl::Seconds(1));

  const uint8_t mode = data[0];
  const crypto::ByteView payload(data + 1, size - 1);
  const bool raw = (mode & 1) != 0;
  const bool unknown_jurisdiction = (mode & 2) != 0;

  vault::IncomingReport report;
  report.relay_report_id =
      std::string(8, '\0') + std::string(reinterpret_cast<const char*>(&inputs), sizeof inputs);
  report.jurisdiction = unknown_jurisdiction ? "XX" : "JP";
  report.reporter = fuzz::VaultWorld::Reporter();
  report.received_micros = w.clock.NowMicros();
  if (raw) {
    report.sealed = crypto::ToString(payload);
  } else {
    auto sealed = crypto::SealedBoxSeal(w.intake_public_key, payload);
    FUZZ_CHECK(sealed.ok(), "sealing to the intake key");
    report.sealed = crypto::ToString(*sealed);
  }

  const size_t cases_before = CaseCount(w);
  const uint64_t outcomes_before = OutcomeCount(w.vault->intake_counters());
  auto outcome = w.vault->Ingest(report);
  FUZZ_CHECK(outcome.ok(), "every report gets an outcome");
  FUZZ_CHECK(!outcome->redelivered, "a fresh relay id is not a redelivery");
  FUZZ_CHECK(outcome->accepted == (outcome->rejection == vault::IntakeRejection::kNone),
             "accepted exactly when there is no rejection reason");
  FUZZ_CHECK(CaseCount(w) == cases_before + (outcome->accepted ? 1 : 0),
             "a rejected report writes no case; an accepted one writes one");
  FUZZ_CHECK(OutcomeCount(w.vault->intake_counters()) == outcomes_before + 1,
             "each outcome is counted once");
  if (unknown_jurisdiction) {
    FUZZ_CHECK(outcome->rejection == vault::IntakeRejection::kUnknownJurisdiction,
               "an unserved jurisdiction is rejected");
  } else if (raw && payload.size() < crypto::kSealedBoxOverhead) {
    FUZZ_CHECK(outcome->rejection == vault::IntakeRejection::kUnreadable,
               "a payload shorter than a sealed box is unreadable");
  }
  return 0;
}
