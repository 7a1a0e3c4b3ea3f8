// File: letterbox/crypto/encoding.h
//
// The one unambiguous byte encoding used wherever Letterbox hashes, MACs or
// signs a list of fields (franking, login challenges, X3DH associated data,
// ratchet headers, audit entries): fixed-width big-endian integers and
// length-prefixed byte strings (4-byte big-endian length, then the bytes).
//
//   ByteWriter w;
//   w.Label("letterbox.auth.v1").Bytes(nonce).U32(device_id);
//   ByteReader r(w.view());
//   LB_ASSIGN_OR_RETURN(auto label, r.Bytes());
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "letterbox/crypto/bytes.h"

namespace letterbox::crypto {

// Appends fields to a growing buffer. Not thread-safe.
class ByteWriter {
 public:
  ByteWriter() = default;
  // Reserves `capacity` bytes up front: callers that know the encoded size
  // write it with one allocation.
  explicit ByteWriter(size_t capacity) { buffer_.reserve(capacity); }

  ByteWriter& U8(uint8_t v);
  ByteWriter& U32(uint32_t v);
  ByteWriter& U64(uint64_t v);
  ByteWriter& I64(int64_t v) { return U64(static_cast<uint64_t>(v)); }
  // A length-prefixed byte string.
  ByteWriter& Bytes(ByteView b);
  // A length-prefixed ASCII label (domain separation).
  ByteWriter& Label(std::string_view label) { return Bytes(AsBytes(label)); }
  // Raw bytes with no prefix (for fixed-size fields whose size is implied).
  ByteWriter& Raw(ByteView b);

  [[nodiscard]] ByteView view() const { return {buffer_.data(), buffer_.size()}; }
  [[nodiscard]] crypto::Bytes Take() && { return std::move(buffer_); }

 private:
  crypto::Bytes buffer_;
};

// Reads fields written by ByteWriter. Every read is bounds-checked and
// returns INVALID_ARGUMENT("truncated input") rather than reading past the
// end; a length prefix larger than the remaining input is also rejected.
class ByteReader {
 public:
  explicit ByteReader(ByteView input) : input_(input) {}
  [[nodiscard]] absl::StatusOr<uint8_t> U8();
  [[nodiscard]] absl::StatusOr<uint32_t> U32();
  [[nodiscard]] absl::StatusOr<uint64_t> U64();
  [[nodiscard]] absl::StatusOr<int64_t> I64();
  // A length-prefixed byte string, as a view into the input.
  [[nodiscard]] absl::StatusOr<ByteView> Bytes();
  // Exactly `n` raw bytes, as a view into the input.
  [[nodiscard]] absl::StatusOr<ByteView> Raw(size_t n);
  // OK if all input has been consumed; INVALID_ARGUMENT("trailing bytes") otherwise.
  [[nodiscard]] absl::Status ExpectEnd() const;
  [[nodiscard]] size_t remaining() const { return input_.size() - offset_; }

 private:
  ByteView input_;
  size_t offset_ = 0;
};

}  // namespace letterbox::crypto
