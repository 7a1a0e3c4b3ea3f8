// Fuzz target: every record decoder in letterbox/storage/codec.h, the code
// that turns bytes read back from RocksDB (possibly damaged on disk) into
// records. Every decoder sees every input; the format byte decides which can
// accept it.
// Properties: no decoder crashes, reads out of bounds or allocates beyond
// the input (ASan, and libFuzzer's -rss_limit_mb / -malloc_limit_mb); each
// failure is DATA_LOSS, as the header promises; whatever decodes re-encodes
// to exactly the input (one byte string per record); at most one value
// decoder accepts a given input (the format byte separates record types).
#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "letterbox/storage/codec.h"

namespace storage = letterbox::storage;

FUZZ_INIT_SODIUM()

namespace {

// Decodes `input` with `decode`; if it succeeds, checks that `encode` gives
// the input back. Returns whether it decoded.
template <typename Decode, typename Encode>
bool RoundTrip(storage::ByteView input, Decode decode, Encode encode, const char* what) {
  auto decoded = decode(input);
  if (!decoded.ok()) {
    FUZZ_CHECK(absl::IsDataLoss(decoded.status()), what);
    return false;
  }
  const storage::Bytes again = encode(*decoded);
  FUZZ_CHECK(again.size() == input.size() && std::equal(again.begin(), again.end(), input.begin()),
             what);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const storage::ByteView input(data, size);
  int accepted = 0;
  accepted += RoundTrip(input, storage::DecodeAccount, storage::EncodeAccount, "account");
  accepted += RoundTrip(input, storage::DecodeDevice, storage::EncodeDevice, "device");
  accepted +=
      RoundTrip(input, storage::DecodeSignedPrekey, storage::EncodeSignedPrekey, "signed prekey");
  accepted += RoundTrip(input, storage::DecodeOneTimePrekey, storage::EncodeOneTimePrekey,
                        "one-time prekey");
  accepted += RoundTrip(input, storage::DecodeEnvelope, storage::EncodeEnvelope, "envelope");
  accepted +=
      RoundTrip(input, storage::DecodeSendReceipt, storage::EncodeSendReceipt, "send receipt");
  accepted += RoundTrip(input, storage::DecodeSession, storage::EncodeSession, "session");
  accepted +=
      RoundTrip(input, storage::DecodeOutboxReport, storage::EncodeOutboxReport, "outbox report");
  accepted += RoundTrip(input, storage::DecodeDiscoveryEntry, storage::EncodeDiscoveryEntry,
                        "discovery entry");
  accepted += RoundTrip(input, storage::DecodeCounter, storage::EncodeCounter, "counter");
  FUZZ_CHECK(accepted <= 1, "at most one record type accepts an input");

  // Device addresses have no format byte: 20 bytes, or DATA_LOSS.
  auto address = storage::DecodeDeviceAddress(input);
  FUZZ_CHECK(address.ok() == (size == storage::kDeviceAddressSize), "device address length");
  if (address.ok()) {
    const storage::Bytes again = address->Encode();
    FUZZ_CHECK(std::equal(again.begin(), again.end(), input.begin()), "device address round trip");
    FUZZ_CHECK(storage::DeviceKey(*address) == again, "device key is the address");
  } else {
    FUZZ_CHECK(absl::IsDataLoss(address.status()), "device address error is DATA_LOSS");
  }
  return 0;
}
