// File: letterbox/vault/admin_inspect.h
//
// `letterbox-admin inspect`: what a reader of a RocksDB data directory (the
// messaging server's or the vault's) actually finds there. It opens the
// directory read-only (rocksdb::DB::ListColumnFamilies + OpenForReadOnly, so
// it works on a copy and never changes a byte) and prints per column family
// the key count and bytes, and up to N sample records decoded into fields
// where the layout is known (storage/codec.h for the messaging server,
// storage/vault/vault_records.h for the vault): ids in hex, timestamps in ISO
// 8601 UTC, public keys as fingerprints, ciphertexts as a length and a
// 16-byte hex prefix. Unknown records are shown as a hex prefix.
//
//   LB_RETURN_IF_ERROR(InspectDataDir({.data_dir = "/var/lib/letterbox/data"}, std::cout));
#pragma once

#include <cstddef>
#include <ostream>
#include <string>

#include "absl/status/status.h"

namespace letterbox::vault {

struct InspectOptions {
  std::string data_dir;
  // Sample records printed per column family (0: counts only).
  size_t samples = 3;
};

// Writes the report to `out`. NOT_FOUND if `data_dir` holds no RocksDB;
// INTERNAL (with RocksDB's message) if it cannot be opened read-only.
// Undecodable records are reported in the output, not as an error.
[[nodiscard]] absl::Status InspectDataDir(const InspectOptions& options, std::ostream& out);

}  // namespace letterbox::vault
