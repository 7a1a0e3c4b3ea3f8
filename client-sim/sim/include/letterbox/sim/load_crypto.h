// File: letterbox/sim/load_crypto.h
//
// The load engine's end-to-end crypto (`letterbox-sim load --crypto real`):
// the message id and body of every load Send, sealing the body with the
// sender's client::DeviceCrypto (X3DH + Double Ratchet, letterbox_client),
// and opening and checking what a recipient receives.
//
//   Message id (16 bytes): U64(send start, ns on the engine's monotonic
//     clock) ‖ U64(op index XOR the engine's salt).
//   Body: U64(op index) ‖ U32(sender) ‖ U32(recipient) ‖ filler, where the
//     filler is `payload` bytes chosen by the op index from a random pool
//     made once per engine, so the recipient can regenerate it.
//
//   LoadBodies bodies(/*payload=*/256, crypto::SystemRandom::Instance());
//   const client::MessageId id = LoadMessageId(start_ns, index, salt);
//   LB_ASSIGN_OR_RETURN(client::SealedMessage out,
//                       SealLoadMessage(alice, bodies, bob_address, {index, 0, 1}, id, &bundle));
//   // ... the server stores it and pushes an Envelope to bob ...
//   ReceiveVerdict v = OpenLoadMessage(bob, bodies, alice_address, {0, 1, salt}, envelope);
//   if (v.outcome != ReceiveOutcome::kVerified) ...   // counted by the engine
//
// LoadBodies is immutable after construction and thread-safe. The functions
// below call the DeviceCrypto they are given, which is not thread-safe: the
// caller holds that device's lock.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "letterbox/client/device_crypto.h"
#include "letterbox/client/types.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/x3dh.h"
#include "letterbox/v1/common.pb.h"
#include "letterbox/v1/keys.pb.h"

namespace letterbox::sim {

// Bytes of the body before the filler: op index, sender, recipient.
inline constexpr size_t kLoadBodyHeaderSize = 8 + 4 + 4;

// The 16-byte message id of a load Send (layout at the top of this file).
[[nodiscard]] client::MessageId LoadMessageId(int64_t start_ns, uint64_t index, uint64_t salt);

// The bodies of one engine's sends: header and filler.
class LoadBodies {
 public:
  // A random filler pool for `payload`-byte fillers (payload + 4 KiB of
  // bytes from `random`).
  LoadBodies(uint32_t payload, crypto::Random& random);

  [[nodiscard]] uint32_t payload() const { return payload_; }
  // kLoadBodyHeaderSize + payload().
  [[nodiscard]] size_t body_size() const { return kLoadBodyHeaderSize + payload_; }

  // Writes the body of op `index` from device `sender` to device `recipient`
  // into `*out` (resized to body_size(); its capacity is reused).
  void Build(uint64_t index, uint32_t sender, uint32_t recipient, std::string* out) const;

  // True if `body` is exactly what Build(index, sender, recipient) writes,
  // for the index the body itself names; that index in `*index`.
  [[nodiscard]] bool Check(crypto::ByteView body, uint32_t sender, uint32_t recipient,
                           uint64_t* index) const;

 private:
  [[nodiscard]] std::string_view Filler(uint64_t index) const;

  uint32_t payload_;
  std::string pool_;
};

// Which send a message is.
struct LoadSendSpec {
  uint64_t index = 0;
  uint32_t sender = 0;     // device index in the engine
  uint32_t recipient = 0;  // device index in the engine
};

// Seals the body of `spec` for `peer` (the recipient's address) with
// `sender_crypto` under message id `id`: DeviceCrypto::Seal, so with no
// session yet `bundle` (claimed from the server for `peer`) starts one by
// X3DH, and it is ignored once a session exists. Errors: those of
// DeviceCrypto::Seal (FAILED_PRECONDITION with no session and no bundle).
// Allocates nothing itself beyond a per-thread body buffer reused across
// calls.
[[nodiscard]] absl::StatusOr<client::SealedMessage> SealLoadMessage(
    client::DeviceCrypto& sender_crypto, const LoadBodies& bodies,
    const client::DeviceAddress& peer, const LoadSendSpec& spec, const client::MessageId& id,
    const crypto::PrekeyBundle* bundle);

// What became of one received envelope.
enum class ReceiveOutcome {
  // Opened, commitment verified, and the body is the one sent for the index
  // it names, from this sender to this recipient, under the id it came with.
  kVerified,
  // DeviceCrypto::Open refused it (does not authenticate, malformed, no
  // session, too far ahead in a chain, wrong commitment ...), or its message
  // id or commitment field has the wrong length.
  kDecryptFailed,
  // Open answered ALREADY_EXISTS: the ratchet has already opened this
  // message (a second delivery of one envelope). A real client drops these
  // silently by (sender, message id) before decrypting.
  kDuplicate,
  // Opened, but the body is not what was sent: wrong length, header or
  // filler, or an index that does not match the message id.
  kCorrupted,
};

struct ReceiveVerdict {
  ReceiveOutcome outcome = ReceiveOutcome::kDecryptFailed;
  // For kDecryptFailed and kDuplicate: the status code of the refusal.
  absl::StatusCode code = absl::StatusCode::kOk;
  // For kVerified: the op index the body names.
  uint64_t index = 0;
};

// Who the engine expects a message to be between.
struct LoadReceiveSpec {
  uint32_t sender = 0;
  uint32_t recipient = 0;
  uint64_t id_salt = 0;
};

// Opens `envelope` (from `sender_address`, the server-stamped sender) with
// `recipient_crypto` and checks its body against `bodies` and `spec`. Never
// fails otherwise: every outcome is in the verdict.
[[nodiscard]] ReceiveVerdict OpenLoadMessage(client::DeviceCrypto& recipient_crypto,
                                             const LoadBodies& bodies,
                                             const client::DeviceAddress& sender_address,
                                             const LoadReceiveSpec& spec,
                                             const v1::Envelope& envelope);

// A ClaimBundle answer as X3DH takes it. INVALID_ARGUMENT for a key or
// signature of the wrong length; the signatures are checked by X3DH itself.
[[nodiscard]] absl::StatusOr<crypto::PrekeyBundle> BundleFromProto(
    const v1::ClaimBundleResponse& response);

}  // namespace letterbox::sim
