// File: letterbox/vault/vault.h
//
// The report vault: intake of sealed reports (open, verify franking, store an
// encrypted case) and the staff gRPC service (VaultService in
// proto/letterbox/v1/vault.proto) with its access policy and audit log.
// docs/vault.md describes the design, keys, policy table and audit format.
//
//   RocksDbVaultStores stores = ...;              // letterbox/storage/vault/rocksdb_vault_store.h
//   LB_ASSIGN_OR_RETURN(auto vault, Vault::Open(config, stores, SystemClock::Instance(),
//                                               std::move(keys), franking_verifier));
//   // At every start, before serving: data left under rotated-out keys moves to the current ones.
//   LB_RETURN_IF_ERROR(vault->RewrapCaseKeys().status());
//   LB_RETURN_IF_ERROR(vault->RekeyPseudonyms().status());
//   grpc::ServerBuilder builder;
//   builder.AddListeningPort(config.listen_address, grpc::InsecureServerCredentials());
//   builder.RegisterService(vault->service());
//   ...
//   // relay client loop (another thread):
//   LB_ASSIGN_OR_RETURN(IntakeOutcome outcome, vault->Ingest(report));   // then AckReports
//   // timers: vault->SignCheckpoint() every checkpoint_interval,
//   //         vault->ExpireCases() every expiry_interval.
#pragma once

#include <grpcpp/impl/codegen/service_type.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "letterbox/common/clock.h"
#include "letterbox/crypto/aead.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/crypto/hmac.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/x25519.h"
#include "letterbox/server/config.h"
#include "letterbox/storage/vault/audit_log.h"
#include "letterbox/storage/vault/vault_stores.h"
#include "letterbox/v1/relay.pb.h"

namespace letterbox::vault {

using storage::vault::VaultStores;

// The vault's secrets. Move-only (the secret halves are Secret<> types).
struct VaultKeys {
  // Reports are sealed to intake.public_key (published to clients by the
  // messaging server); the vault opens them with the pair.
  crypto::X25519KeyPair intake;
  std::string intake_key_id;
  // Wraps every per-case data key (XChaCha20-Poly1305, AD = case id ‖ kek id).
  crypto::AeadKey kek;
  std::string kek_id;  // 1..64 bytes, stored beside each wrapped key
  // KEKs retired by rotation, with their ids. A case key still wrapped under
  // one of them opens with it until RewrapCaseKeys() has moved it under kek.
  std::vector<std::pair<std::string, crypto::AeadKey>> previous_keks;
  // Signs audit checkpoints.
  crypto::Ed25519KeyPair audit_signing;
  // Keys the pseudonyms of account ids shown in the queue and the intake
  // de-duplication marks.
  crypto::MacKey pseudonym_key;
  std::string pseudonym_key_id = {};  // 0..64 bytes, named in audit entries
  // Pseudonym keys retired by rotation, with their ids. RekeyPseudonyms()
  // uses them only to delete the de-duplication marks made under them.
  std::vector<std::pair<std::string, crypto::MacKey>> previous_pseudonym_keys = {};
};

// Every vault limit and setting with its safe default (docs/vault.md table).
struct VaultConfig {
  // For the binary; the library does not listen by itself.
  std::string listen_address = "127.0.0.1:0";
  // Jurisdiction -> allowed source networks ("127.0.0.2/32", "10.1.0.0/16",
  // "::1/128"). A jurisdiction not listed here has no staff access at all.
  std::map<std::string, std::vector<std::string>> jurisdiction_networks;
  absl::Duration grant_ttl = absl::Hours(1);
  absl::Duration break_glass_ttl = absl::Minutes(15);
  absl::Duration case_retention = absl::Hours(24 * 180);
  // Opens (OpenCase + RevealIdentity) per reviewer; exceeding it suspends.
  server::Rate opens_per_reviewer{1.0 / 360, 10};
  absl::Duration challenge_ttl = absl::Seconds(60);
  absl::Duration session_ttl = absl::Hours(8);
  // Failed logins per source address before RESOURCE_EXHAUSTED.
  server::Rate login_failures_per_address{0.2, 10};
  // Signed checkpoints are appended here (one line each); must be outside
  // the data directory. Empty: checkpoints are stored but not exported.
  std::string checkpoint_export_path;
  // For the binary's timers.
  absl::Duration checkpoint_interval = absl::Minutes(10);
  absl::Duration expiry_interval = absl::Minutes(10);
  // Intake limits.
  uint32_t max_sealed_report_bytes = (1 << 20) + 48;
  uint32_t max_messages_per_report = 20;
  uint32_t max_message_plaintext_bytes = 64 * 1024;
  uint32_t max_comment_bytes = 2 * 1024;
  // Staff request limits.
  uint32_t max_justification_bytes = 1000;
};

// Checks messaging-server franking tags. Implemented over
// RelayService.VerifyFranking by the relay client; tests use a fake holding
// the franking key. Called without any vault lock held; may block.
class FrankingVerifier {
 public:
  virtual ~FrankingVerifier() = default;
  // valid[i] says whether claims[i]'s tag is the server's. An error (server
  // unreachable, wrong answer size) makes Ingest fail so the report is
  // redelivered later; it never rejects a report.
  [[nodiscard]] virtual absl::StatusOr<std::vector<bool>> Verify(
      const std::vector<letterbox::v1::FrankingClaim>& claims) = 0;
};

// One report as the relay delivered it.
struct IncomingReport {
  std::string relay_report_id;  // 16 bytes, the outbox id (dedup key)
  std::string jurisdiction;
  letterbox::v1::DeviceAddress reporter;  // the device the server authenticated
  int64_t received_micros = 0;
  std::string sealed;  // crypto_box_seal ciphertext of a ReportContent
};

// Why a report was rejected. Each has a counter (Vault::intake_counters).
enum class IntakeRejection {
  kNone = 0,
  kUnreadable,           // does not open with the intake key, or is oversized
  kMalformed,            // not a valid ReportContent (version, sizes, counts, category)
  kForgedTag,            // the messaging server does not confirm a franking tag
  kCommitmentMismatch,   // plaintext altered: the commitment does not open
  kMisattributed,        // reporter != authenticated reporter or != a message's recipient
  kDuplicate,            // a message of this reporter was already reported
  kUnknownJurisdiction,  // the relay named a jurisdiction the vault does not serve
};
inline constexpr int kIntakeRejectionCount = 8;

// A short, stable name ("forged tag", "commitment mismatch", ...).
[[nodiscard]] std::string_view IntakeRejectionName(IntakeRejection r);

struct IntakeOutcome {
  bool accepted = false;
  std::string case_id;  // 16 bytes when accepted
  IntakeRejection rejection = IntakeRejection::kNone;
  // True when this relay id had been seen: the first outcome is returned and
  // nothing is written.
  bool redelivered = false;
};

// Counts since Open (not persisted). accepted + rejected[r] per reason.
struct IntakeCounters {
  uint64_t accepted = 0;
  uint64_t redelivered = 0;
  uint64_t rejected[kIntakeRejectionCount] = {};
};

// The first admin, enrolled offline on a vault store that no running vault
// holds (or before Open): refused with FAILED_PRECONDITION once any admin
// exists; INVALID_ARGUMENT for an unconfigured-looking jurisdiction (empty or
// longer than 16 bytes). Appends an audit entry (actor "offline") in the same
// batch. Returns the new staff id (16 bytes).
[[nodiscard]] absl::StatusOr<std::string> BootstrapAdmin(VaultStores& stores, const Clock& clock,
                                                         const crypto::Ed25519PublicKey& admin_key,
                                                         const std::string& jurisdiction);

class Vault {
 public:
  // Validates `config` (every CIDR parses, TTLs positive, export path not
  // empty-or-valid) and takes the keys. `stores`, `clock` and `verifier` must
  // outlive the vault. INVALID_ARGUMENT for a bad config; an error from the
  // store if it cannot be read.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Vault>> Open(
      const VaultConfig& config, VaultStores& stores, const Clock& clock, VaultKeys keys,
      FrankingVerifier& verifier, crypto::Random& random = crypto::SystemRandom::Instance());

  ~Vault();
  Vault(const Vault&) = delete;
  Vault& operator=(const Vault&) = delete;

  // Intakes one report: idempotent by relay id (a redelivered report returns
  // the first outcome with redelivered = true and writes nothing). Returns
  // the outcome: accepted with a case id, or rejected with the reason (and
  // the rejection is audited; nothing goes to the case store). Only a
  // storage failure or a FrankingVerifier error is an error: then nothing
  // is recorded and the report must be redelivered. Thread-safe; reports are
  // ingested one at a time.
  [[nodiscard]] absl::StatusOr<IntakeOutcome> Ingest(const IncomingReport& report);

  // The VaultService implementation to register on a server the caller
  // builds. Owned by the vault; valid while it lives. The caller's source
  // address is read from CallbackServerContext::peer().
  [[nodiscard]] grpc::Service* service();

  // Signs a checkpoint of the audit log as it is now (even when unchanged),
  // stores it, and appends it to checkpoint_export_path (synced). Thread-safe.
  [[nodiscard]] absl::Status SignCheckpoint();

  // The newest stored checkpoint; NOT_FOUND if none.
  [[nodiscard]] absl::StatusOr<storage::vault::Checkpoint> LatestCheckpoint();

  // Crypto-shreds every case whose retention has passed: the wrapped data
  // key is deleted first (its own synced write), then the case record (with
  // its audit entry). Returns how many cases were expired. Thread-safe.
  [[nodiscard]] absl::StatusOr<uint64_t> ExpireCases();

  // Appends to checkpoint_export_path every stored checkpoint newer than the
  // file's last line (a crash between SignCheckpoint's store and its export
  // leaves one unexported) and returns how many. 0 without an export path.
  // Call at start, before the periodic SignCheckpoint. Thread-safe.
  [[nodiscard]] absl::StatusOr<uint64_t> ExportPendingCheckpoints();

  // Re-wraps every case data key still wrapped under a previous KEK under the
  // current one: one audited batch per case, so a crash leaves each case
  // under exactly one known KEK, then one synced "RewrapCaseKeys" audit entry
  // that makes them all durable. Returns how many were re-wrapped. INTERNAL
  // if a case key names a KEK the vault does not hold (nothing of that case
  // is changed); the previous KEK file may be deleted only after this has
  // returned OK.
  [[nodiscard]] absl::StatusOr<uint64_t> RewrapCaseKeys();

  // Re-keys every live case whose pseudonyms were made under a previous
  // pseudonym key: decrypts its content, recomputes the reporter and sender
  // pseudonyms under the current key, and in one audited batch per case
  // stores them, deletes the case's de-duplication marks made under every
  // previous key and writes them under the current key; one synced
  // "RekeyPseudonyms" audit entry at the end makes them all durable. A case whose
  // pseudonyms already match (migrated before, or never under another key)
  // is left alone, so the call is idempotent and resumes after a crash; a
  // case whose data key has been shredded is skipped. Every call decrypts
  // every live case once. Returns how many cases were re-keyed. An error
  // stops the migration with the cases before it re-keyed and the rest
  // unchanged: the store's error, DATA_LOSS naming a case whose content does
  // not decrypt or parse, INTERNAL for a data key under an unknown KEK.
  //
  // Call it before the service, intake and ExpireCases run (the binary does,
  // at start): it rewrites case records and marks without the locks they
  // take, and a report ingested before its case is re-keyed is de-duplicated
  // only against marks under the current key.
  [[nodiscard]] absl::StatusOr<uint64_t> RekeyPseudonyms();

  // The audit public key (for verifiers).
  [[nodiscard]] const crypto::Ed25519PublicKey& audit_public_key() const;

  // Intake counters so far. Thread-safe.
  [[nodiscard]] IntakeCounters intake_counters() const;

 private:
  class Impl;
  explicit Vault(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace letterbox::vault
