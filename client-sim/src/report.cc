#include "letterbox/client/report.h"

#include <string>

#include "letterbox/common/status.h"
#include "letterbox/crypto/sealed_box.h"

namespace letterbox::client {

namespace {

void SetAddress(const DeviceAddress& from, v1::DeviceAddress* to) {
  to->set_account_id(from.account.str());
  to->set_device_id(from.device_id);
}

void Wipe(std::string& s) { crypto::SecureZero({reinterpret_cast<uint8_t*>(s.data()), s.size()}); }

}  // namespace

absl::StatusOr<v1::ReportContent> BuildReportContent(
    const DeviceAddress& reporter, v1::ReportCategory category,
    std::span<const ReceivedMessage* const> messages, std::string_view comment) {
  if (messages.empty() || messages.size() > kMaxReportedMessages) {
    return absl::InvalidArgumentError("a report holds 1 to 20 messages");
  }
  if (category == v1::REPORT_CATEGORY_UNSPECIFIED || !v1::ReportCategory_IsValid(category)) {
    return absl::InvalidArgumentError("report category unspecified");
  }
  if (comment.size() > kMaxReportCommentBytes) {
    return absl::InvalidArgumentError("report comment too long");
  }
  v1::ReportContent content;
  content.set_version(kReportContentVersion);
  SetAddress(reporter, content.mutable_reporter());
  content.set_category(category);
  content.set_comment(std::string(comment));
  for (const ReceivedMessage* m : messages) {
    if (m == nullptr || m->recipient != reporter) {
      WipeReportContent(content);
      return absl::InvalidArgumentError("a reported message was not received by the reporter");
    }
    v1::ReportedMessage* out = content.add_messages();
    out->set_message_id(m->message_id.str());
    SetAddress(m->sender, out->mutable_sender());
    SetAddress(m->recipient, out->mutable_recipient());
    out->set_server_timestamp_micros(m->server_timestamp_micros);
    out->set_franking_commitment(m->commitment.str());
    out->set_franking_tag(m->franking_tag.str());
    out->set_franking_key(crypto::ToString(m->franking_key.Expose()));
    out->set_plaintext(crypto::ToString(m->body.Expose()));
  }
  return content;
}

absl::StatusOr<crypto::Bytes> SealReport(const v1::ReportContent& content,
                                         const crypto::X25519PublicKey& vault_key) {
  std::string serialized;
  if (!content.SerializeToString(&serialized)) {
    return absl::InternalError("report serialization failed");
  }
  absl::StatusOr<crypto::Bytes> sealed =
      crypto::SealedBoxSeal(vault_key, crypto::AsBytes(serialized));
  Wipe(serialized);
  return sealed;
}

absl::StatusOr<crypto::Bytes> BuildAndSealReport(const DeviceAddress& reporter,
                                                 v1::ReportCategory category,
                                                 std::span<const ReceivedMessage* const> messages,
                                                 std::string_view comment,
                                                 const crypto::X25519PublicKey& vault_key) {
  LB_ASSIGN_OR_RETURN(v1::ReportContent content,
                      BuildReportContent(reporter, category, messages, comment));
  absl::StatusOr<crypto::Bytes> sealed = SealReport(content, vault_key);
  WipeReportContent(content);
  return sealed;
}

void WipeReportContent(v1::ReportContent& content) {
  for (v1::ReportedMessage& m : *content.mutable_messages()) {
    Wipe(*m.mutable_plaintext());
    Wipe(*m.mutable_franking_key());
  }
  Wipe(*content.mutable_comment());
}

}  // namespace letterbox::client
