// File: letterbox/vault/relay_client.h
//
// The vault's side of RelayService (proto/letterbox/v1/relay.proto): the only
// connection between the vault and the messaging server, opened by the vault.
//
//  - Login: GetRelayChallenge, then RelayLogin with the vault's Ed25519 relay
//    key signing ByteWriter Label("letterbox.relay-auth.v1").Bytes(nonce)
//    (server::RelayLoginMessage). The session token is kept in memory only;
//    any call answered UNAUTHENTICATED logs in again and is retried once.
//  - FrankingVerifier: the vault's intake asks the server to check franking
//    tags (the franking key never leaves the server), in batches of at most
//    1000 claims per VerifyFranking call.
//  - Pull loop: PullReports -> Vault::Ingest each report in order ->
//    AckReports for the reports whose Ingest returned an outcome (accepted,
//    rejected or redelivered). A report is acknowledged only after Ingest
//    returned, so a crash of either process redelivers it, and Ingest's
//    de-duplication by relay id stores it once. An Ingest error (storage, or
//    the server unreachable for VerifyFranking) leaves that report and every
//    later one in the outbox for the next round.
//
// Every RPC has a deadline; failures back off exponentially (with jitter)
// up to max_backoff and retry for ever; Stop() ends the loop promptly.
//
//   RelayClient relay(RelayClientOptions{.server_address = "127.0.0.1:7443"},
//                     std::move(relay_key));
//   LB_ASSIGN_OR_RETURN(auto vault, Vault::Open(config, stores, clock, std::move(keys), relay));
//   relay.Start(*vault);
//   ...
//   relay.Stop();   // before the vault is destroyed
#pragma once

#include <grpcpp/channel.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/v1/relay.grpc.pb.h"
#include "letterbox/vault/vault.h"

namespace letterbox::vault {

struct RelayClientOptions {
  // The messaging server, "host:port". Plaintext gRPC (loopback or a private
  // link); TLS for the relay is not implemented yet.
  std::string server_address;
  // Deadline of each RPC.
  absl::Duration rpc_timeout = absl::Seconds(10);
  // Wait between pulls when the outbox was empty.
  absl::Duration idle_interval = absl::Milliseconds(500);
  // Backoff after a failed round: min_backoff, doubled per failure, capped.
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(10);
  // Reports per PullReports (1..500). Halved down to 1 when the server
  // answers RESOURCE_EXHAUSTED (its send limit), doubled back after success.
  uint32_t pull_batch = 32;
  // Largest response accepted from the server.
  int max_receive_message_bytes = 64 << 20;
};

// What the loop has done since Start (for logs and tests).
struct RelayCounters {
  uint64_t pulled = 0;        // reports received (a redelivery counts again)
  uint64_t ingested = 0;      // Ingest returned an outcome
  uint64_t accepted = 0;      // ... that was a new case
  uint64_t acknowledged = 0;  // report ids the server acknowledged
  uint64_t errors = 0;        // failed rounds
  uint64_t logins = 0;        // successful RelayLogin calls
};

// Thread-safe. Verify may run on the pull thread (through Ingest) and on
// others at the same time.
class RelayClient final : public FrankingVerifier {
 public:
  // Does not connect yet (the first call does). `relay_key` is the vault's
  // relay key pair; its public half must be the server's
  // --vault-relay-public-key.
  RelayClient(RelayClientOptions options, crypto::Ed25519KeyPair relay_key);
  // Stops the loop if it runs.
  ~RelayClient() override;
  RelayClient(const RelayClient&) = delete;
  RelayClient& operator=(const RelayClient&) = delete;

  // FrankingVerifier: one VerifyFranking call per 1000 claims. UNAVAILABLE
  // (with the server's status) if the server cannot be reached or refuses;
  // INTERNAL if it answers with the wrong number of verdicts.
  [[nodiscard]] absl::StatusOr<std::vector<bool>> Verify(
      const std::vector<letterbox::v1::FrankingClaim>& claims) override;

  // Starts the pull loop on its own thread, feeding `vault` (which must
  // outlive Stop()). Only the first call starts a loop; after Stop() none.
  void Start(Vault& vault);

  // Ends the loop: cancels the RPC in flight and joins the thread. Reports
  // ingested but not yet acknowledged are redelivered to the next run, which
  // is harmless. Idempotent.
  void Stop();

  // One round, synchronously: pull up to one batch, ingest, acknowledge.
  // Returns how many reports were pulled. Errors: the failing RPC's status,
  // or the first Ingest error (the reports before it are acknowledged).
  [[nodiscard]] absl::StatusOr<size_t> PullOnce(Vault& vault);

  [[nodiscard]] RelayCounters counters() const;

 private:
  // Runs `call(context)` with a deadline and the session token, logging in
  // first if there is no token, and once more after UNAUTHENTICATED.
  template <typename Call>
  grpc::Status CallWithSession(Call call);
  grpc::Status Login();
  // Tracks `context` so Stop() can cancel it; false once stopping.
  bool Register(grpc::ClientContext* context);
  void Unregister(grpc::ClientContext* context);
  void SetDeadline(grpc::ClientContext& context) const;
  void Loop(Vault* vault);

  const RelayClientOptions options_;
  const crypto::Ed25519KeyPair relay_key_;
  // Set in the constructor, then only read (gRPC stubs are thread-safe).
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<letterbox::v1::RelayService::Stub> stub_;

  mutable absl::Mutex mu_;
  // The relay session token; empty when logged out.
  crypto::SecretBytes token_ ABSL_GUARDED_BY(mu_);
  uint32_t pull_batch_ ABSL_GUARDED_BY(mu_);
  RelayCounters counters_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Contexts of the RPCs in flight, cancelled by Stop().
  std::vector<grpc::ClientContext*> in_flight_ ABSL_GUARDED_BY(mu_);

  std::thread thread_;
};

}  // namespace letterbox::vault
