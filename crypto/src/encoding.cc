#include "letterbox/crypto/encoding.h"

#include <limits>

namespace letterbox::crypto {

ByteWriter& ByteWriter::U8(uint8_t v) {
  buffer_.push_back(v);
  return *this;
}

ByteWriter& ByteWriter::U32(uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) buffer_.push_back(static_cast<uint8_t>(v >> shift));
  return *this;
}

ByteWriter& ByteWriter::U64(uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) buffer_.push_back(static_cast<uint8_t>(v >> shift));
  return *this;
}

ByteWriter& ByteWriter::Bytes(ByteView b) {
  // Fields in this project are far below 4 GiB; callers bound them first.
  U32(static_cast<uint32_t>(b.size()));
  return Raw(b);
}

ByteWriter& ByteWriter::Raw(ByteView b) {
  buffer_.insert(buffer_.end(), b.begin(), b.end());
  return *this;
}

namespace {
absl::Status Truncated() { return absl::InvalidArgumentError("truncated input"); }
}  // namespace

absl::StatusOr<uint8_t> ByteReader::U8() {
  if (remaining() < 1) return Truncated();
  return input_[offset_++];
}

absl::StatusOr<uint32_t> ByteReader::U32() {
  if (remaining() < 4) return Truncated();
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | input_[offset_++];
  return v;
}

absl::StatusOr<uint64_t> ByteReader::U64() {
  if (remaining() < 8) return Truncated();
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | input_[offset_++];
  return v;
}

absl::StatusOr<int64_t> ByteReader::I64() {
  auto v = U64();
  if (!v.ok()) return v.status();
  return static_cast<int64_t>(*v);
}

absl::StatusOr<ByteView> ByteReader::Bytes() {
  auto len = U32();
  if (!len.ok()) return len.status();
  return Raw(*len);
}

absl::StatusOr<ByteView> ByteReader::Raw(size_t n) {
  if (remaining() < n) return Truncated();
  ByteView out = input_.subspan(offset_, n);
  offset_ += n;
  return out;
}

absl::Status ByteReader::ExpectEnd() const {
  if (remaining() != 0) return absl::InvalidArgumentError("trailing bytes");
  return absl::OkStatus();
}

}  // namespace letterbox::crypto
