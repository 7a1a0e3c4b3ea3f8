// Fuzz target: crypto::ByteReader, the bounds-checked reader under every
// Letterbox decoder. The input is a program and the bytes it reads:
//   U8(n) ‖ n op codes ‖ the reader's input.
// Each op code picks a read (U8, U32, U64, I64, Bytes, Raw(k)); the program
// stops at the first failed read, as every decoder does.
// Properties: no read goes out of bounds (ASan); every successful read
// consumes exactly its width; a failed read is "truncated input" and only
// when too few bytes remain; ExpectEnd is OK exactly when nothing remains;
// and re-writing the values read with ByteWriter reproduces the consumed
// prefix byte for byte (reader and writer are inverses). Where a failed
// read leaves the reader is unspecified, so only the reads before it count.
#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "letterbox/crypto/encoding.h"

namespace crypto = letterbox::crypto;

FUZZ_INIT_SODIUM()

namespace {

// Big-endian value of the `width` bytes at `p` (the reference model).
uint64_t BigEndian(const uint8_t* p, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t n_ops = data[0] % 32;
  if (size < 1 + n_ops) return 0;
  const uint8_t* ops = data + 1;
  const crypto::ByteView input(data + 1 + n_ops, size - 1 - n_ops);

  crypto::ByteReader reader(input);
  crypto::ByteWriter rewritten;
  size_t consumed = 0;
  bool failed = false;
  for (size_t i = 0; i < n_ops; ++i) {
    const size_t before = reader.remaining();
    FUZZ_CHECK(before == input.size() - consumed, "remaining() tracks the reads");
    const uint8_t* at = input.data() + consumed;
    const uint8_t op = ops[i];
    size_t width = 0;  // bytes the read should consume on success
    bool ok = false;
    absl::Status error;
    switch (op % 6) {
      case 0: {
        auto v = reader.U8();
        width = 1;
        ok = v.ok();
        if (!ok) error = v.status();
        if (ok) {
          FUZZ_CHECK(*v == at[0], "U8 value");
          rewritten.U8(*v);
        }
        break;
      }
      case 1: {
        auto v = reader.U32();
        width = 4;
        ok = v.ok();
        if (!ok) error = v.status();
        if (ok) {
          FUZZ_CHECK(*v == BigEndian(at, 4), "U32 value");
          rewritten.U32(*v);
        }
        break;
      }
      case 2: {
        auto v = reader.U64();
        width = 8;
        ok = v.ok();
        if (!ok) error = v.status();
        if (ok) {
          FUZZ_CHECK(*v == BigEndian(at, 8), "U64 value");
          rewritten.U64(*v);
        }
        break;
      }
      case 3: {
        auto v = reader.I64();
        width = 8;
        ok = v.ok();
        if (!ok) error = v.status();
        if (ok) {
          FUZZ_CHECK(static_cast<uint64_t>(*v) == BigEndian(at, 8), "I64 value");
          rewritten.I64(*v);
        }
        break;
      }
      case 4: {
        const uint64_t declared = before >= 4 ? BigEndian(at, 4) : 0;
        auto v = reader.Bytes();
        ok = v.ok();
        if (!ok) error = v.status();
        width = 4 + declared;
        if (ok) {
          FUZZ_CHECK(v->size() == declared, "Bytes length is the prefix");
          FUZZ_CHECK(v->data() == at + 4, "Bytes views the input after the prefix");
          rewritten.Bytes(*v);
        }
        break;
      }
      default: {
        const size_t n = op / 6;  // 0..42
        auto v = reader.Raw(n);
        width = n;
        ok = v.ok();
        if (!ok) error = v.status();
        if (ok) {
          FUZZ_CHECK(v->size() == n && v->data() == at, "Raw views the next n bytes");
          rewritten.Raw(*v);
        }
        break;
      }
    }
    if (!ok) {
      FUZZ_CHECK(width > before, "a read fails only when too few bytes remain");
      FUZZ_CHECK(absl::IsInvalidArgument(error) && error.message() == "truncated input",
                 "a failed read says truncated input");
      failed = true;
      break;
    }
    FUZZ_CHECK(width <= before, "a read succeeds only with enough bytes");
    FUZZ_CHECK(reader.remaining() == before - width, "a read consumes exactly its width");
    consumed += width;
  }

  if (failed) {
    // Where a failed read leaves the reader is unspecified (Bytes() has
    // consumed its length prefix); decoders stop at the first failure.
    FUZZ_CHECK(reader.ExpectEnd().ok() == (reader.remaining() == 0), "ExpectEnd after a failure");
    return 0;
  }
  const crypto::ByteView prefix = input.first(consumed);
  const crypto::ByteView again = rewritten.view();
  FUZZ_CHECK(
      again.size() == prefix.size() && std::equal(again.begin(), again.end(), prefix.begin()),
      "ByteWriter reproduces what ByteReader consumed");
  FUZZ_CHECK(reader.ExpectEnd().ok() == (consumed == input.size()),
             "ExpectEnd is OK exactly at the end");
  return 0;
}
