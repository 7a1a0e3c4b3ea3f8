// File: tests/storage/ledger.h
//
// Self-checking envelopes and an audit of what a store holds against what it
// acknowledged, for the durability and corruption tests. A ciphertext here is
// message id (16) ‖ u64be sequence ‖ random payload ‖ BLAKE2b-256 of all
// before it (32), so a damaged envelope is detectable from its bytes alone,
// and the ledger also keeps each acknowledged ciphertext's digest.
//
//   Ledger ledger;
//   Envelope e = MakeCheckedEnvelope(rng, sender, recipient, seq);
//   if (stores.mailboxes().Store({e}, limits).ok()) ledger.Acknowledge(e, seq);
//   absl::StatusOr<Audit> audit = AuditStores(stores, recipients, ledger.Entries());
//   CHECK(audit->lost == 0);
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <ostream>
#include <set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/hash.h"
#include "letterbox/crypto/random.h"
#include "letterbox/storage/stores.h"

namespace letterbox::storage::testing {

constexpr size_t kCheckedHeader = 16 + 8;
constexpr size_t kCheckedTrailer = 32;

// A ciphertext that carries its message id, `seq` and its own digest.
inline Bytes CheckedCiphertext(crypto::Random& rng, const MessageId& id, uint64_t seq,
                               size_t payload_size) {
  crypto::ByteWriter w;
  w.Raw(id.view()).U64(seq);
  Bytes payload(payload_size, 0);
  rng.Fill(payload);
  w.Raw(payload);
  Bytes out(w.view().begin(), w.view().end());
  const crypto::Blake2b256 digest = crypto::Blake2b256Of(out);
  out.insert(out.end(), digest.view().begin(), digest.view().end());
  return out;
}

// True if `e`'s ciphertext is whole: its digest matches and it names e's
// message id.
inline bool CiphertextIntact(const Envelope& e) {
  const Bytes& c = e.ciphertext;
  if (c.size() < kCheckedHeader + kCheckedTrailer) return false;
  const ByteView body(c.data(), c.size() - kCheckedTrailer);
  const crypto::Blake2b256 digest = crypto::Blake2b256Of(body);
  if (!std::equal(digest.view().begin(), digest.view().end(), c.end() - kCheckedTrailer)) {
    return false;
  }
  return std::equal(e.message_id.view().begin(), e.message_id.view().end(), c.begin());
}

// One Send of one envelope from `sender` to `recipient`, sequence `seq`.
inline Envelope MakeCheckedEnvelope(crypto::Random& rng, const DeviceAddress& sender,
                                    const DeviceAddress& recipient, uint64_t seq,
                                    size_t payload_size = 200) {
  Envelope e;
  e.message_id = crypto::RandomFixed<MessageId>(rng);
  e.sender = sender;
  e.recipient = recipient;
  e.server_timestamp_micros = 1'700'000'000'000'000 + static_cast<int64_t>(seq);
  e.franking_commitment = crypto::RandomFixed<crypto::Commitment>(rng);
  e.franking_tag = crypto::RandomFixed<crypto::FrankingTag>(rng);
  e.ciphertext = CheckedCiphertext(rng, e.message_id, seq, payload_size);
  return e;
}

struct Acked {
  MessageId message_id;
  DeviceAddress recipient;
  uint64_t seq = 0;
  crypto::Blake2b256 digest;  // of the ciphertext as sent
};

// The Stores that returned OK. Thread-safe.
class Ledger {
 public:
  void Acknowledge(const Envelope& e, uint64_t seq) {
    Acked a{e.message_id, e.recipient, seq, crypto::Blake2b256Of(e.ciphertext)};
    absl::MutexLock lock(&mu_);
    acked_.push_back(a);
  }
  [[nodiscard]] std::vector<Acked> Entries() const {
    absl::MutexLock lock(&mu_);
    return acked_;
  }
  [[nodiscard]] size_t size() const {
    absl::MutexLock lock(&mu_);
    return acked_.size();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Acked> acked_ ABSL_GUARDED_BY(mu_);
};

struct Audit {
  uint64_t acknowledged = 0;
  uint64_t recovered = 0;       // acknowledged and present, intact
  uint64_t lost = 0;            // acknowledged and absent
  uint64_t corrupted = 0;       // present but damaged, or not what was acknowledged
  uint64_t duplicated = 0;      // extra copies of one message id
  uint64_t unacknowledged = 0;  // present, intact, never acknowledged (allowed)
  std::set<uint64_t> recovered_seqs;
};

inline std::ostream& operator<<(std::ostream& out, const Audit& a) {
  return out << "acknowledged=" << a.acknowledged << " recovered=" << a.recovered
             << " lost=" << a.lost << " corrupted=" << a.corrupted << " duplicated=" << a.duplicated
             << " present-unacknowledged=" << a.unacknowledged;
}

// Fetches every envelope of `mailboxes` and compares with `acked`. An error
// if a Fetch fails (e.g. a corrupt block).
inline absl::StatusOr<Audit> AuditStores(Stores& stores,
                                         const std::vector<DeviceAddress>& mailboxes,
                                         const std::vector<Acked>& acked) {
  std::map<MessageId, const Acked*> by_id;
  for (const Acked& a : acked) by_id[a.message_id] = &a;
  Audit audit;
  audit.acknowledged = acked.size();
  std::map<MessageId, int> seen;
  for (const DeviceAddress& device : mailboxes) {
    EnvelopeId after = 0;
    while (true) {
      absl::StatusOr<FetchResult> page =
          stores.mailboxes().Fetch(device, after, 1000, /*not_before_micros=*/0);
      if (!page.ok()) return page.status();
      for (const Envelope& e : page->envelopes) {
        after = e.id;
        auto it = by_id.find(e.message_id);
        const bool intact = CiphertextIntact(e);
        if (!intact ||
            (it != by_id.end() && (crypto::Blake2b256Of(e.ciphertext) != it->second->digest ||
                                   e.recipient != it->second->recipient))) {
          ++audit.corrupted;
          continue;
        }
        if (++seen[e.message_id] > 1) {
          ++audit.duplicated;
          continue;
        }
        if (it == by_id.end()) {
          ++audit.unacknowledged;
        } else {
          ++audit.recovered;
          audit.recovered_seqs.insert(it->second->seq);
        }
      }
      if (!page->more || page->envelopes.empty()) break;
    }
  }
  audit.lost = audit.acknowledged - audit.recovered;
  return audit;
}

}  // namespace letterbox::storage::testing
