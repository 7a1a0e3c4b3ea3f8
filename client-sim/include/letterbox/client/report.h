// File: letterbox/client/report.h
//
// Reports, built on the reporting device: the reported messages' plaintexts
// revealed with their franking keys, commitments, server tags and routing
// fields (letterbox.v1.ReportContent), serialized and sealed to the vault's
// intake key, so the messaging server that relays the report cannot read it
// (threat model P2) and the vault can verify it (P3).
//
//   std::vector<const ReceivedMessage*> picked = {&m1, &m2};
//   LB_ASSIGN_OR_RETURN(Bytes sealed,
//                       BuildAndSealReport(me, v1::REPORT_CATEGORY_SPAM, picked, "", vault_key));
#pragma once

#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "letterbox/client/received_message.h"
#include "letterbox/client/types.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/x25519.h"
#include "letterbox/v1/report_content.pb.h"

namespace letterbox::client {

inline constexpr uint32_t kReportContentVersion = 1;
inline constexpr size_t kMaxReportedMessages = 20;
inline constexpr size_t kMaxReportCommentBytes = 2048;

// The ReportContent for `messages`, reported by `reporter`. INVALID_ARGUMENT
// if there are no messages or more than kMaxReportedMessages, a message was
// not received by `reporter`, the category is unspecified, or the comment
// exceeds kMaxReportCommentBytes. The result holds plaintexts: wipe it with
// WipeReportContent when done.
[[nodiscard]] absl::StatusOr<v1::ReportContent> BuildReportContent(
    const DeviceAddress& reporter, v1::ReportCategory category,
    std::span<const ReceivedMessage* const> messages, std::string_view comment);

// Serializes `content` and seals it to `vault_intake_key` (crypto_box_seal).
// The serialized plaintext is zeroed before returning. INVALID_ARGUMENT if
// the key is a low-order point; INTERNAL if serialization fails.
[[nodiscard]] absl::StatusOr<crypto::Bytes> SealReport(const v1::ReportContent& content,
                                                       const crypto::X25519PublicKey& vault_key);

// BuildReportContent then SealReport, wiping the content in between.
[[nodiscard]] absl::StatusOr<crypto::Bytes> BuildAndSealReport(
    const DeviceAddress& reporter, v1::ReportCategory category,
    std::span<const ReceivedMessage* const> messages, std::string_view comment,
    const crypto::X25519PublicKey& vault_key);

// Overwrites the plaintexts and franking keys held in `content` with zeros.
void WipeReportContent(v1::ReportContent& content);

}  // namespace letterbox::client
