// Fuzz target: the cleartext envelope parsers of the end-to-end protocol,
// which a receiving device runs on bytes straight from the network:
// RatchetHeader::Decode, RatchetMessage::Decode and X3dhInitialHeader::Decode.
// Properties: no decoder crashes or reads out of bounds whatever the input;
// whatever decodes re-encodes to exactly the same bytes (the encodings are
// strict: one byte string per value); a decoded message's ciphertext is at
// least an AEAD tag long.
#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "letterbox/crypto/aead.h"
#include "letterbox/crypto/double_ratchet.h"
#include "letterbox/crypto/init.h"
#include "letterbox/crypto/x3dh.h"

namespace crypto = letterbox::crypto;

FUZZ_INIT_SODIUM()

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const crypto::ByteView input(data, size);
  const crypto::Bytes bytes(input.begin(), input.end());

  auto header = crypto::RatchetHeader::Decode(input);
  if (header.ok()) {
    FUZZ_CHECK(size == crypto::kRatchetHeaderSize, "ratchet header size");
    FUZZ_CHECK(header->Encode() == bytes, "ratchet header round trip");
    FUZZ_CHECK(crypto::RatchetHeader::Decode(header->Encode()).value() == *header,
               "ratchet header decode(encode(h)) == h");
  }

  auto message = crypto::RatchetMessage::Decode(input);
  if (message.ok()) {
    FUZZ_CHECK(message->ciphertext.size() >= crypto::kAeadTagSize, "ciphertext holds a tag");
    FUZZ_CHECK(message->Encode() == bytes, "ratchet message round trip");
  }

  auto x3dh = crypto::X3dhInitialHeader::Decode(input);
  if (x3dh.ok()) {
    FUZZ_CHECK(size == 166 || size == 170, "X3DH header size");
    FUZZ_CHECK(x3dh->Encode() == bytes, "X3DH header round trip");
    FUZZ_CHECK(crypto::X3dhInitialHeader::Decode(x3dh->Encode()).value() == *x3dh,
               "X3DH header decode(encode(h)) == h");
  }
  return 0;
}
