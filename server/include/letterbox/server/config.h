// File: letterbox/server/config.h
//
// Every limit, TTL, rate and setting of the messaging server, with its safe
// default. docs/limits.md is the table of these fields; a new limit goes in
// both places. Loaded from flags and an optional TOML file by
// LoadServerConfig (letterbox/server/config_loader.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "letterbox/storage/rocksdb_store.h"

namespace letterbox::server {

// A token-bucket rate: `burst` events at once, refilled at `per_second`.
struct Rate {
  double per_second = 0;
  double burst = 0;
};

struct Limits {
  // Accounts and devices.
  uint32_t max_devices_per_account = 6;
  uint32_t max_profile_bytes = 4096;
  // Authentication.
  absl::Duration challenge_ttl = absl::Seconds(60);
  absl::Duration session_ttl = absl::Hours(24);
  Rate login_failures_per_device{0.1, 5};  // after the burst: RESOURCE_EXHAUSTED
  Rate login_failures_per_address{1, 20};
  Rate challenges_per_address{50, 200};
  Rate registrations_per_address{10, 50};
  // Key directory.
  uint32_t max_prekeys_per_upload = 100;
  uint32_t max_prekey_pool = 1000;
  uint32_t prekey_low_water = 10;
  Rate claims_per_claimant_target{1, 10};
  // Mailboxes.
  uint32_t max_ciphertext_bytes = 256 * 1024;
  absl::Duration envelope_ttl = absl::Hours(24 * 30);
  uint32_t max_mailbox_envelopes = 10'000;
  uint64_t max_mailbox_bytes = 256ull << 20;
  Rate sends_per_sender{1000, 2000};
  uint32_t max_fetch_page = 100;
  uint32_t max_ack_batch = 1000;
  // Reports.
  uint32_t max_report_bytes = 1 << 20;
  Rate reports_per_device{1, 20};
  // Lookups.
  Rate lookups_per_device{5, 50};
  // Transport (gRPC).
  uint32_t max_receive_message_bytes = 2 << 20;  // > max ciphertext + framing
  uint32_t max_send_message_bytes = 4 << 20;
  uint32_t max_concurrent_streams = 256;       // per HTTP/2 connection
  uint64_t resource_quota_bytes = 1ull << 30;  // gRPC memory quota
  int max_threads = 64;                        // gRPC resource quota threads
  absl::Duration keepalive_min_ping_interval = absl::Seconds(10);
  absl::Duration shutdown_grace = absl::Seconds(5);
};

struct ServerConfig {
  std::string listen_address = "127.0.0.1:7443";
  std::string data_dir;  // RocksDB directory (required)
  std::string keys_dir;  // franking key, discovery pepper (default: <data_dir>/../keys)
  storage::Durability durability = storage::Durability::kProcess;
  // fsync mode: unary calls and SendStream messages are handled on this many
  // threads so that synced writes wait together and RocksDB commits them as
  // one group; 0 handles them on gRPC's callback threads. Ignored in process
  // mode. (docs/performance.md, "Durability")
  int fsync_writer_threads = 32;
  std::vector<std::string> jurisdictions = {"JP", "US", "EU", "KR"};
  // TLS: both empty means plaintext (loopback development only).
  std::string tls_cert_file;
  std::string tls_key_file;
  // Metrics on a separate loopback HTTP listener; empty disables.
  std::string metrics_address = "127.0.0.1:0";
  // The vault's intake X25519 public key (hex) that clients seal reports to,
  // and the vault's Ed25519 relay public key (hex) that may pull them.
  std::string vault_intake_public_key_hex;
  std::string vault_relay_public_key_hex;
  bool enable_diagnostics = true;  // the no-op RPCs for same-run ceilings
  Limits limits;
};

}  // namespace letterbox::server
