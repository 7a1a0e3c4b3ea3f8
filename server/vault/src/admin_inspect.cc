#include "letterbox/vault/admin_inspect.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/hash.h"
#include "letterbox/storage/codec.h"
#include "letterbox/storage/types.h"
#include "letterbox/storage/vault/audit_log.h"
#include "letterbox/storage/vault/vault_records.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"

namespace letterbox::vault {
namespace {

using crypto::ByteView;
using Fields = std::vector<std::string>;

constexpr size_t kPrefixBytes = 16;

ByteView View(const rocksdb::Slice& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
ByteView View(const std::string& s) { return crypto::AsBytes(s); }

std::string Hex(ByteView b) { return crypto::ToHex(b); }

// "<n> bytes <hex of the first 16>..." for opaque data (ciphertext, blobs).
std::string Opaque(ByteView b) {
  if (b.empty()) return "0 bytes";
  std::string out =
      absl::StrCat(b.size(), " bytes ", Hex(b.first(std::min(b.size(), kPrefixBytes))));
  if (b.size() > kPrefixBytes) out += "...";
  return out;
}

// A public key as the first 8 bytes of its BLAKE2b-256, in hex.
std::string Fingerprint(ByteView key) {
  return "fp:" + Hex(crypto::Blake2b256Of(key).view().first(8));
}

std::string Time(int64_t micros) {
  if (micros == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixMicros(micros),
                          absl::UTCTimeZone());
}

std::string Address(const storage::DeviceAddress& a) {
  return absl::StrCat(a.account.hex(), "/", a.device);
}

// A key: printable ASCII as text, anything else in hex.
std::string Key(ByteView key) {
  const bool text = !key.empty() && std::all_of(key.begin(), key.end(),
                                                [](uint8_t c) { return c >= 0x21 && c < 0x7f; });
  if (text) return absl::StrCat("\"", crypto::ToString(key), "\"");
  return absl::StrCat(Hex(key.first(std::min<size_t>(key.size(), 40))),
                      key.size() > 40 ? "..." : "", " (", key.size(), " bytes)");
}

// --- The messaging server's records, recognised by their format byte. ---

Fields DecodeServerRecord(ByteView value) {
  if (value.empty()) return {"empty value"};
  auto fail = [&](const absl::Status& s) {
    return Fields{absl::StrCat("undecodable (", s.message(), "): ", Opaque(value))};
  };
  switch (value[0]) {
    case storage::kAccountFormat: {
      auto r = storage::DecodeAccount(value);
      if (!r.ok()) return fail(r.status());
      return {"account",
              "id=" + r->id.hex(),
              "jurisdiction=" + r->jurisdiction,
              "encrypted_profile=" + Opaque(r->encrypted_profile),
              "discovery_handle=" + (r->discovery_handle
                                         ? Hex(r->discovery_handle->view().first(8)) + "..."
                                         : std::string("none")),
              "created=" + Time(r->created_micros),
              absl::StrCat("next_device_id=", r->next_device_id)};
    }
    case storage::kDeviceFormat: {
      auto r = storage::DecodeDevice(value);
      if (!r.ok()) return fail(r.status());
      return {"device", absl::StrCat("id=", r->id),
              "identity_signing_key=" + Fingerprint(r->identity_signing_key.view()),
              "identity_dh_key=" + Fingerprint(r->identity_dh_key.view()),
              "created=" + Time(r->created_micros)};
    }
    case storage::kSignedPrekeyFormat: {
      auto r = storage::DecodeSignedPrekey(value);
      if (!r.ok()) return fail(r.status());
      return {"signed_prekey", absl::StrCat("key_id=", r->key_id),
              "public_key=" + Fingerprint(r->public_key.view()),
              "uploaded=" + Time(r->uploaded_micros)};
    }
    case storage::kOneTimePrekeyFormat: {
      auto r = storage::DecodeOneTimePrekey(value);
      if (!r.ok()) return fail(r.status());
      return {"one_time_prekey", absl::StrCat("key_id=", r->key_id),
              "public_key=" + Fingerprint(r->public_key.view())};
    }
    case storage::kEnvelopeFormat: {
      auto r = storage::DecodeEnvelope(value);
      if (!r.ok()) return fail(r.status());
      return {"envelope",
              absl::StrCat("envelope_id=", r->id),
              "message_id=" + r->message_id.hex(),
              "sender=" + Address(r->sender),
              "recipient=" + Address(r->recipient),
              "time=" + Time(r->server_timestamp_micros),
              "commitment=" + Hex(r->franking_commitment.view().first(8)) + "...",
              "tag=" + Hex(r->franking_tag.view().first(8)) + "...",
              "ciphertext=" + Opaque(r->ciphertext)};
    }
    case storage::kSendReceiptFormat: {
      auto r = storage::DecodeSendReceipt(value);
      if (!r.ok()) return fail(r.status());
      return {"send_receipt", "time=" + Time(r->server_timestamp_micros),
              absl::StrCat("deliveries=", r->deliveries.size())};
    }
    case storage::kSessionFormat: {
      auto r = storage::DecodeSession(value);
      if (!r.ok()) return fail(r.status());
      return {"session", "device=" + Address(r->device), "expires=" + Time(r->expires_micros)};
    }
    case storage::kOutboxReportFormat: {
      auto r = storage::DecodeOutboxReport(value);
      if (!r.ok()) return fail(r.status());
      return {"outbox_report",
              "report_id=" + r->id.hex(),
              "jurisdiction=" + r->jurisdiction,
              "reporter=" + Address(r->reporter),
              "received=" + Time(r->received_micros),
              "sealed=" + Opaque(r->sealed)};
    }
    case storage::kDiscoveryFormat: {
      auto r = storage::DecodeDiscoveryEntry(value);
      if (!r.ok()) return fail(r.status());
      return {"discovery_entry", "account=" + r->hex()};
    }
    case storage::kCounterFormat: {
      auto r = storage::DecodeCounter(value);
      if (!r.ok()) return fail(r.status());
      return {"counter", absl::StrCat("value=", *r)};
    }
    default:
      return {"unknown layout: " + Opaque(value)};
  }
}

// --- The vault's records, by column family. ---

std::string_view RoleText(storage::vault::Role r) { return storage::vault::RoleName(r); }

Fields DecodeVaultRecord(std::string_view family, ByteView key, ByteView value) {
  namespace sv = storage::vault;
  const std::string_view v(reinterpret_cast<const char*>(value.data()), value.size());
  auto fail = [&](const absl::Status& s) {
    return Fields{absl::StrCat("undecodable (", s.message(), "): ", Opaque(value))};
  };
  if (family == "cases") {
    auto r = sv::DecodeCase(v);
    if (!r.ok()) return fail(r.status());
    return {"case",
            "case_id=" + Hex(View(r->case_id)),
            "jurisdiction=" + r->jurisdiction,
            absl::StrCat("category=", r->category),
            absl::StrCat("status=", static_cast<int>(r->status)),
            "received=" + Time(r->received_micros),
            "expires=" + Time(r->expires_micros),
            "reporter_pseudonym=" +
                Hex(View(r->reporter_pseudonym)
                        .first(std::min<size_t>(8, r->reporter_pseudonym.size()))) +
                "...",
            absl::StrCat("senders=", r->sender_pseudonyms.size()),
            absl::StrCat("messages=", r->message_count),
            "sealed_content=" + Opaque(View(r->sealed_content))};
  }
  if (family == "case_keys") {
    auto r = sv::DecodeCaseKey(v);
    if (!r.ok()) return fail(r.status());
    return {"wrapped_case_key", "case_id=" + Hex(View(r->case_id)), "kek_id=" + r->kek_id,
            "wrapped=" + Opaque(View(r->wrapped))};
  }
  if (family == "intake_seen") {
    auto r = sv::DecodeSeen(v);
    if (!r.ok()) return fail(r.status());
    std::string kind = !key.empty() && key[0] == 'r'   ? "relay id"
                       : !key.empty() && key[0] == 'm' ? "message digest"
                                                       : "unknown";
    return {"intake_mark", "of=" + kind, absl::StrCat("accepted=", r->accepted),
            "case_id=" + (r->case_id.empty() ? std::string("-") : Hex(View(r->case_id))),
            absl::StrCat("rejection=", r->rejection)};
  }
  if (family == "staff") {
    auto r = sv::DecodeStaff(v);
    if (!r.ok()) return fail(r.status());
    return {"staff",
            "staff_id=" + Hex(View(r->staff_id)),
            "public_key=" + Fingerprint(View(r->public_key)),
            "role=" + std::string(RoleText(r->role)),
            "jurisdiction=" + r->jurisdiction,
            absl::StrCat("enabled=", r->enabled),
            "created=" + Time(r->created_micros)};
  }
  if (family == "grants") {
    auto r = sv::DecodeGrant(v);
    if (!r.ok()) return fail(r.status());
    return {"grant",
            "grant_id=" + Hex(View(r->grant_id)),
            "case_id=" + Hex(View(r->case_id)),
            "jurisdiction=" + r->jurisdiction,
            absl::StrCat("kind=", static_cast<int>(r->kind)),
            absl::StrCat("state=", static_cast<int>(r->state)),
            "requester=" + Hex(View(r->requester_id)),
            "approver=" + (r->approver_id.empty() ? std::string("-") : Hex(View(r->approver_id))),
            absl::StrCat("break_glass=", r->break_glass),
            absl::StrCat("justification=", r->justification.size(), " bytes"),
            "created=" + Time(r->created_micros),
            "expires=" + Time(r->expires_micros)};
  }
  if (family == "audit") {
    auto r = sv::ParseAuditValue(v);
    if (!r.ok()) return fail(r.status());
    const sv::AuditEntry& e = r->entry;
    return {"audit_entry",
            absl::StrCat("seq=", e.seq),
            "time=" + Time(e.time_micros),
            "actor=" + e.actor,
            "role=" + e.role,
            "action=" + e.action,
            "target=" + e.target,
            absl::StrCat("decision=", static_cast<int>(e.decision)),
            "reason=\"" + e.reason + "\"",
            "chain=" + Hex(r->chain_hash.view().first(8)) + "..."};
  }
  if (family == "checkpoints") {
    auto r = sv::DecodeCheckpoint(v);
    if (!r.ok()) return fail(r.status());
    return {"checkpoint", absl::StrCat("log_size=", r->log_size),
            "head=" + Hex(r->head_hash.view().first(8)) + "...", "time=" + Time(r->time_micros)};
  }
  return {Opaque(value)};
}

enum class DirKind { kMessagingServer, kVault, kUnknown };

DirKind Classify(const std::vector<std::string>& families) {
  auto has = [&](std::string_view name) {
    return std::find(families.begin(), families.end(), name) != families.end();
  };
  if (has("case_keys") && has("audit")) return DirKind::kVault;
  if (has("mailboxes") && has("outbox")) return DirKind::kMessagingServer;
  return DirKind::kUnknown;
}

}  // namespace

absl::Status InspectDataDir(const InspectOptions& options, std::ostream& out) {
  struct stat st {};
  if (::stat((options.data_dir + "/CURRENT").c_str(), &st) != 0) {
    return absl::NotFoundError("no RocksDB data in " + options.data_dir);
  }
  std::vector<std::string> families;
  rocksdb::Status s =
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), options.data_dir, &families);
  if (!s.ok()) return absl::InternalError("cannot list column families: " + s.ToString());

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : families) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> raw_handles;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::DBOptions db_options;
  db_options.info_log_level = rocksdb::InfoLogLevel::HEADER_LEVEL;
  s = rocksdb::DB::OpenForReadOnly(db_options, options.data_dir, descriptors, &raw_handles,
                                   &raw_db);
  if (!s.ok()) return absl::InternalError("cannot open read-only: " + s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw_db);
  // Handles are released before the DB (declared after it, destroyed first).
  auto release = [&db](rocksdb::ColumnFamilyHandle* h) {
    db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  };
  std::vector<std::unique_ptr<rocksdb::ColumnFamilyHandle, decltype(release)>> handles;
  for (rocksdb::ColumnFamilyHandle* h : raw_handles) handles.emplace_back(h, release);

  const DirKind kind = Classify(families);
  out << "data dir " << options.data_dir << ": "
      << (kind == DirKind::kVault             ? "letterbox-vault store"
          : kind == DirKind::kMessagingServer ? "letterbox-server store"
                                              : "unknown RocksDB store")
      << ", " << families.size() << " column families (opened read-only)\n";

  uint64_t total_keys = 0;
  uint64_t total_bytes = 0;
  for (size_t i = 0; i < families.size(); ++i) {
    rocksdb::ReadOptions read_options;
    read_options.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options, handles[i].get()));
    uint64_t count = 0;
    uint64_t key_bytes = 0;
    uint64_t value_bytes = 0;
    std::vector<std::string> samples;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++count;
      key_bytes += it->key().size();
      value_bytes += it->value().size();
      if (samples.size() < options.samples) {
        const ByteView key = View(it->key());
        const ByteView value = View(it->value());
        Fields fields;
        if (kind == DirKind::kVault) {
          fields = DecodeVaultRecord(families[i], key, value);
        } else if (kind == DirKind::kMessagingServer) {
          fields = DecodeServerRecord(value);
        } else {
          fields = {Opaque(value)};
        }
        samples.push_back("    key " + Key(key) + "\n      " + absl::StrJoin(fields, " "));
      }
    }
    if (!it->status().ok()) {
      out << "  column family \"" << families[i] << "\": read error: " << it->status().ToString()
          << "\n";
      continue;
    }
    total_keys += count;
    total_bytes += key_bytes + value_bytes;
    out << "  column family \"" << families[i] << "\": " << count << " keys, "
        << key_bytes + value_bytes << " bytes (keys " << key_bytes << ", values " << value_bytes
        << ")\n";
    for (const std::string& sample : samples) out << sample << "\n";
  }
  out << "total: " << total_keys << " keys, " << total_bytes << " bytes\n";
  return absl::OkStatus();
}

}  // namespace letterbox::vault
