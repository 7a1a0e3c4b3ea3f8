#include "letterbox/server/config_loader.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "letterbox/common/status.h"
#include "letterbox/crypto/bytes.h"

namespace letterbox::server {
namespace {

template <typename... Args>
std::string Cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

std::string RateText(const Rate& r) {
  std::ostringstream out;
  out << r.per_second << ":" << r.burst;
  return out.str();
}

// "PER_SECOND:BURST", both finite, per_second > 0, burst >= 1.
absl::StatusOr<Rate> ParseRate(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError(
        Cat("not a rate: '", text, "' (write PER_SECOND:BURST, e.g. 0.5:10)"));
  }
  LB_ASSIGN_OR_RETURN(double per_second, cli::ParseDouble(text.substr(0, colon)));
  LB_ASSIGN_OR_RETURN(double burst, cli::ParseDouble(text.substr(colon + 1)));
  if (per_second <= 0 || burst < 1) {
    return absl::InvalidArgumentError(
        Cat("rate '", text, "' must have PER_SECOND > 0 and BURST >= 1"));
  }
  return Rate{per_second, burst};
}

void AddRate(cli::OptionSet& options, std::string name, Rate* out, std::string help) {
  options.Add(std::move(name), "PER_SECOND:BURST", std::move(help), RateText(*out),
              [out](std::string_view text) {
                LB_ASSIGN_OR_RETURN(*out, ParseRate(text));
                return absl::OkStatus();
              });
}

void AddLimitOptions(cli::OptionSet& o, Limits* l) {
  o.AddUint32("limit-max-devices-per-account", &l->max_devices_per_account,
              "devices an account may have");
  o.AddUint32("limit-max-profile-bytes", &l->max_profile_bytes, "encrypted profile blob size");
  o.AddDuration("limit-challenge-ttl", &l->challenge_ttl, "how long a login challenge is valid");
  o.AddDuration("limit-session-ttl", &l->session_ttl, "how long a session token is valid");
  AddRate(o, "limit-login-failures-per-device", &l->login_failures_per_device,
          "failed logins per device");
  AddRate(o, "limit-login-failures-per-address", &l->login_failures_per_address,
          "failed logins per source address");
  AddRate(o, "limit-challenges-per-address", &l->challenges_per_address,
          "login challenges per source address");
  AddRate(o, "limit-registrations-per-address", &l->registrations_per_address,
          "account registrations per source address");
  o.AddUint32("limit-max-prekeys-per-upload", &l->max_prekeys_per_upload,
              "one-time prekeys in one upload");
  o.AddUint32("limit-max-prekey-pool", &l->max_prekey_pool, "one-time prekeys held per device");
  o.AddUint32("limit-prekey-low-water", &l->prekey_low_water,
              "pool size below which the owner is told to refill");
  AddRate(o, "limit-claims-per-claimant-target", &l->claims_per_claimant_target,
          "prekey bundle claims per (claimant, target)");
  o.AddUint32("limit-max-ciphertext-bytes", &l->max_ciphertext_bytes,
              "ciphertext bytes of one envelope");
  o.AddDuration("limit-envelope-ttl", &l->envelope_ttl,
                "how long an unacknowledged envelope lives");
  o.AddUint32("limit-max-mailbox-envelopes", &l->max_mailbox_envelopes,
              "envelopes waiting per device");
  o.AddUint64("limit-max-mailbox-bytes", &l->max_mailbox_bytes,
              "ciphertext bytes waiting per device");
  AddRate(o, "limit-sends-per-sender", &l->sends_per_sender, "Send calls per sending device");
  o.AddUint32("limit-max-fetch-page", &l->max_fetch_page, "envelopes in one Fetch page");
  o.AddUint32("limit-max-ack-batch", &l->max_ack_batch, "envelope ids in one Ack");
  o.AddUint32("limit-max-report-bytes", &l->max_report_bytes, "sealed report size");
  AddRate(o, "limit-reports-per-device", &l->reports_per_device, "reports per device");
  AddRate(o, "limit-lookups-per-device", &l->lookups_per_device, "discovery lookups per device");
  o.AddUint32("limit-max-receive-message-bytes", &l->max_receive_message_bytes,
              "largest gRPC message accepted");
  o.AddUint32("limit-max-send-message-bytes", &l->max_send_message_bytes,
              "largest gRPC message sent");
  o.AddUint32("limit-max-concurrent-streams", &l->max_concurrent_streams,
              "HTTP/2 streams per connection");
  o.AddUint64("limit-resource-quota-bytes", &l->resource_quota_bytes, "gRPC memory quota");
  o.AddInt("limit-max-threads", &l->max_threads, "gRPC resource quota threads");
  o.AddDuration("limit-keepalive-min-ping-interval", &l->keepalive_min_ping_interval,
                "shortest client keepalive ping interval allowed");
  o.AddDuration("limit-shutdown-grace", &l->shutdown_grace,
                "how long SIGTERM waits for calls to finish");
}

absl::Status Invalid(std::string_view option, std::string_view why) {
  return absl::InvalidArgumentError(Cat("--", option, ": ", why));
}

absl::Status CheckVaultKey(std::string_view option, const std::string& hex) {
  if (hex.empty()) return absl::OkStatus();
  auto bytes = crypto::FromHex(hex);
  if (!bytes.ok() || bytes->size() != 32) {
    return Invalid(option, "must be 64 hex characters (a 32-byte public key)");
  }
  return absl::OkStatus();
}

absl::Status CheckPositive(std::string_view option, uint64_t v) {
  return v == 0 ? Invalid(option, "must be at least 1") : absl::OkStatus();
}

std::string DefaultKeysDir(const std::string& data_dir) {
  std::filesystem::path p = std::filesystem::path(data_dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  std::filesystem::path parent = p.parent_path();
  return (parent.empty() ? std::filesystem::path("keys") : parent / "keys").string();
}

}  // namespace

void AddServerConfigOptions(cli::OptionSet& o, ServerConfig* c) {
  o.AddString("listen", &c->listen_address, "gRPC address host:port (port 0: any free port)");
  o.AddString("data-dir", &c->data_dir, "RocksDB directory; created if missing (required)");
  o.AddString("keys-dir", &c->keys_dir,
              "directory of key files, created 0700 (default: <data-dir>/../keys)");
  o.Add("durability", "process|fsync",
        "process: survives kill -9; fsync: syncs the WAL before every ack, survives power loss",
        "process", [c](std::string_view text) {
          if (text == "process") {
            c->durability = storage::Durability::kProcess;
          } else if (text == "fsync") {
            c->durability = storage::Durability::kFsync;
          } else {
            return absl::InvalidArgumentError(Cat("must be process or fsync, not '", text, "'"));
          }
          return absl::OkStatus();
        });
  o.AddInt("fsync-writer-threads", &c->fsync_writer_threads,
           "fsync mode: threads that handle calls so synced writes commit in groups (0: gRPC's)");
  o.AddStringList("jurisdictions", &c->jurisdictions, "jurisdiction tags accounts may carry");
  o.AddString("tls-cert", &c->tls_cert_file, "PEM certificate chain; with --tls-key enables TLS");
  o.AddString("tls-key", &c->tls_key_file, "PEM private key for --tls-cert");
  o.Add("metrics-listen", "HOST:PORT|off", "Prometheus /metrics HTTP address, or off",
        c->metrics_address, [c](std::string_view text) {
          c->metrics_address = text == "off" ? std::string() : std::string(text);
          return absl::OkStatus();
        });
  o.AddString("vault-intake-public-key", &c->vault_intake_public_key_hex,
              "the vault's X25519 intake public key (hex) clients seal reports to");
  o.AddString("vault-relay-public-key", &c->vault_relay_public_key_hex,
              "the vault's Ed25519 relay public key (hex) allowed to pull reports");
  o.AddSwitch("no-diagnostics", &c->enable_diagnostics, false,
              "disable the diagnostics RPCs (no-op calls for load ceilings)");
  AddLimitOptions(o, &c->limits);
}

absl::Status ValidateServerConfig(const ServerConfig& c) {
  if (c.data_dir.empty()) return Invalid("data-dir", "is required");
  if (auto hp = cli::ParseHostPort(c.listen_address); !hp.ok()) {
    return Invalid("listen", std::string(hp.status().message()));
  }
  if (!c.metrics_address.empty()) {
    if (auto hp = cli::ParseHostPort(c.metrics_address); !hp.ok()) {
      return Invalid("metrics-listen", std::string(hp.status().message()));
    }
  }
  if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
    return Invalid(c.tls_cert_file.empty() ? "tls-cert" : "tls-key",
                   "--tls-cert and --tls-key go together");
  }
  LB_RETURN_IF_ERROR(CheckVaultKey("vault-intake-public-key", c.vault_intake_public_key_hex));
  LB_RETURN_IF_ERROR(CheckVaultKey("vault-relay-public-key", c.vault_relay_public_key_hex));
  if (c.jurisdictions.empty()) return Invalid("jurisdictions", "needs at least one tag");
  for (const std::string& j : c.jurisdictions) {
    const bool ok = j.size() >= 2 && j.size() <= 8 && std::all_of(j.begin(), j.end(), [](char ch) {
                      return (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
                    });
    if (!ok) return Invalid("jurisdictions", Cat("'", j, "' is not 2-8 of [A-Z0-9]"));
  }

  const Limits& l = c.limits;
  LB_RETURN_IF_ERROR(CheckPositive("limit-max-devices-per-account", l.max_devices_per_account));
  LB_RETURN_IF_ERROR(CheckPositive("limit-max-profile-bytes", l.max_profile_bytes));
  LB_RETURN_IF_ERROR(CheckPositive("limit-max-prekeys-per-upload", l.max_prekeys_per_upload));
  LB_RETURN_IF_ERROR(CheckPositive("limit-max-prekey-pool", l.max_prekey_pool));
  LB_RETURN_IF_ERROR(CheckPositive("limit-max-ciphertext-bytes", l.max_ciphertext_bytes));
  LB_RETURN_IF_ERROR(CheckPositive("limit-max-mailbox-envelopes", l.max_mailbox_envelopes));
  LB_RETURN_IF_ERROR(CheckPositive("limit-max-fetch-page", l.max_fetch_page));
  LB_RETURN_IF_ERROR(CheckPositive("limit-max-ack-batch", l.max_ack_batch));
  LB_RETURN_IF_ERROR(CheckPositive("limit-max-report-bytes", l.max_report_bytes));
  LB_RETURN_IF_ERROR(CheckPositive("limit-max-concurrent-streams", l.max_concurrent_streams));
  if (l.max_threads < 2) return Invalid("limit-max-threads", "must be at least 2");
  if (c.fsync_writer_threads < 0 || c.fsync_writer_threads > 1024) {
    return Invalid("fsync-writer-threads", "must be 0..1024");
  }
  if (l.max_prekeys_per_upload > l.max_prekey_pool) {
    return Invalid("limit-max-prekeys-per-upload", "must not exceed --limit-max-prekey-pool");
  }
  if (l.prekey_low_water > l.max_prekey_pool) {
    return Invalid("limit-prekey-low-water", "must not exceed --limit-max-prekey-pool");
  }
  if (l.max_mailbox_bytes < l.max_ciphertext_bytes) {
    return Invalid("limit-max-mailbox-bytes", "must be at least --limit-max-ciphertext-bytes");
  }
  if (l.max_receive_message_bytes <= l.max_ciphertext_bytes ||
      l.max_receive_message_bytes <= l.max_report_bytes) {
    return Invalid("limit-max-receive-message-bytes",
                   "must exceed --limit-max-ciphertext-bytes and --limit-max-report-bytes "
                   "(room for framing)");
  }
  if (l.max_send_message_bytes < l.max_receive_message_bytes) {
    return Invalid("limit-max-send-message-bytes",
                   "must be at least --limit-max-receive-message-bytes");
  }
  if (l.resource_quota_bytes < l.max_receive_message_bytes) {
    return Invalid("limit-resource-quota-bytes",
                   "must be at least --limit-max-receive-message-bytes");
  }
  return absl::OkStatus();
}

absl::StatusOr<ServerCommandLine> ParseServerCommandLine(int argc, const char* const* argv) {
  ServerCommandLine out;
  cli::OptionSet options("letterbox-server",
                         "The Letterbox messaging server: accounts, prekeys, mailboxes of "
                         "end-to-end encrypted envelopes, sealed report relay.");
  AddServerConfigOptions(options, &out.config);
  AddLoggingOptions(options, &out.log);
  options.AddString("port-file", &out.port_file,
                    "write the bound gRPC port to this file once listening");
  options.EnableConfigFile();
  options.AliasTable("limits", "limit");
  out.usage = options.Usage();
  LB_ASSIGN_OR_RETURN(cli::Outcome outcome, options.Parse(argc, argv));
  if (outcome == cli::Outcome::kHelp) {
    out.help = true;
    return out;
  }
  if (!out.config.data_dir.empty() && out.config.keys_dir.empty()) {
    out.config.keys_dir = DefaultKeysDir(out.config.data_dir);
  }
  LB_RETURN_IF_ERROR(ValidateServerConfig(out.config));
  return out;
}

absl::StatusOr<ServerConfig> LoadServerConfig(int argc, char** argv) {
  LB_ASSIGN_OR_RETURN(ServerCommandLine cmd, ParseServerCommandLine(argc, argv));
  if (cmd.help) {
    std::cout << cmd.usage << std::flush;
    return absl::CancelledError("--help");
  }
  return std::move(cmd.config);
}

}  // namespace letterbox::server
