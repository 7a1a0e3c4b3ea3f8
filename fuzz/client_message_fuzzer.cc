// Fuzz target: the client-to-client message format
// (letterbox/client/message_format.h), which a device parses from every
// envelope it fetches, before any authentication: ClientMessage::Parse on
// the envelope ciphertext and InnerPlaintext::Parse on what the ratchet
// decrypted (a peer controls both).
// Properties: neither parser crashes or reads out of bounds; whatever
// parses re-encodes to exactly the input (strict inverse of Encode); a
// parsed ClientMessage is PREKEY exactly when it carries an X3DH header and
// its ratchet message has at least an AEAD tag of ciphertext; a parsed
// InnerPlaintext body is at most kMaxBodyBytes.
#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "letterbox/client/message_format.h"
#include "letterbox/crypto/aead.h"

namespace client = letterbox::client;
namespace crypto = letterbox::crypto;

FUZZ_INIT_SODIUM()

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const crypto::ByteView input(data, size);
  const crypto::Bytes bytes(input.begin(), input.end());

  auto message = client::ClientMessage::Parse(input);
  if (message.ok()) {
    FUZZ_CHECK(message->Encode() == bytes, "client message round trip");
    FUZZ_CHECK(size >= 2 && (data[1] == static_cast<uint8_t>(client::ClientMessageType::kPrekey)) ==
                                message->is_prekey(),
               "the type byte says whether an X3DH header is present");
    FUZZ_CHECK(message->ratchet.ciphertext.size() >= crypto::kAeadTagSize,
               "a ratchet ciphertext holds a tag");
    auto again = client::ClientMessage::Parse(message->Encode());
    FUZZ_CHECK(again.ok() && *again == *message, "parse(encode(m)) == m");
  } else {
    FUZZ_CHECK(absl::IsInvalidArgument(message.status()),
               "a bad client message is INVALID_ARGUMENT");
  }

  auto inner = client::InnerPlaintext::Parse(input);
  if (inner.ok()) {
    FUZZ_CHECK(inner->body.size() <= client::kMaxBodyBytes, "the body is bounded");
    auto encoded = inner->Encode();
    FUZZ_CHECK(encoded.ok(), "a parsed inner plaintext encodes");
    FUZZ_CHECK(encoded->Expose().size() == size &&
                   std::equal(input.begin(), input.end(), encoded->Expose().begin()),
               "inner plaintext round trip");
  } else {
    FUZZ_CHECK(absl::IsInvalidArgument(inner.status()),
               "a bad inner plaintext is INVALID_ARGUMENT");
  }
  return 0;
}
