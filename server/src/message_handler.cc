#include "letterbox/server/message_handler.h"

#include <algorithm>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_join.h"
#include "letterbox/common/status.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/server/status_conversion.h"
#include "letterbox/server/wire.h"

namespace letterbox::server {

MessageHandler::MessageHandler(const HandlerContext& context)
    : context_(context),
      tagger_(context.keys.franking_key),
      sends_per_sender_(context.clock, context.config.limits.sends_per_sender) {}

absl::Status MessageHandler::CheckPayload(const std::string& ciphertext,
                                          const std::string& commitment,
                                          std::string_view field) const {
  if (ciphertext.empty()) {
    return absl::InvalidArgumentError(std::string(field) + "ciphertext: empty");
  }
  if (ciphertext.size() > context_.config.limits.max_ciphertext_bytes) {
    return absl::InvalidArgumentError(std::string(field) +
                                      "ciphertext: larger than max_ciphertext_bytes");
  }
  if (commitment.size() != crypto::kCommitmentSize) {
    return absl::InvalidArgumentError(std::string(field) + "franking_commitment: must be 32 bytes");
  }
  return absl::OkStatus();
}

absl::Status MessageHandler::StoreEnvelopes(const Principal& caller,
                                            const storage::MessageId& message_id,
                                            const std::vector<Item>& items,
                                            v1::SendResponse* response) {
  if (!sends_per_sender_.TryAcquire(crypto::ToString(caller.device.Encode()),
                                    static_cast<double>(items.size()))) {
    return absl::ResourceExhaustedError("send rate exceeded; retry later");
  }
  const int64_t now = context_.clock.NowMicros();
  const crypto::Bytes sender = caller.device.Encode();
  std::vector<storage::Envelope> envelopes;
  envelopes.reserve(items.size());
  for (const Item& item : items) {
    storage::Envelope e;
    e.message_id = message_id;
    e.sender = caller.device;
    e.recipient = item.recipient;
    e.server_timestamp_micros = now;
    e.franking_commitment = *crypto::Commitment::FromString(*item.commitment);
    const crypto::Bytes recipient = item.recipient.Encode();
    e.franking_tag = tagger_.Tag(crypto::FrankingFields{.commitment = e.franking_commitment,
                                                        .sender = sender,
                                                        .recipient = recipient,
                                                        .timestamp_micros = now,
                                                        .message_id = message_id.view()});
    e.ciphertext.assign(item.ciphertext->begin(), item.ciphertext->end());
    envelopes.push_back(std::move(e));
  }
  const Limits& limits = context_.config.limits;
  absl::StatusOr<storage::StoreResult> stored = context_.stores.mailboxes().Store(
      std::move(envelopes), storage::MailboxLimits{.max_envelopes = limits.max_mailbox_envelopes,
                                                   .max_bytes = limits.max_mailbox_bytes});
  if (absl::IsResourceExhausted(stored.status())) {
    return absl::ResourceExhaustedError("recipient mailbox is full");
  }
  if (absl::IsUnavailable(stored.status())) {
    return absl::UnavailableError("this message id is being stored; retry");
  }
  LB_RETURN_IF_ERROR(stored.status());
  response->set_server_timestamp_micros(stored->receipt.server_timestamp_micros);
  response->set_duplicate(stored->duplicate);
  for (const storage::SendReceipt::Delivery& d : stored->receipt.deliveries) {
    v1::SendResponse::Delivery* out = response->add_deliveries();
    out->set_device_id(d.recipient.device);
    out->set_envelope_id(d.envelope_id);
    out->set_franking_tag(d.franking_tag.str());
  }
  if (!stored->duplicate) {
    for (const storage::SendReceipt::Delivery& d : stored->receipt.deliveries) {
      context_.notifier.Notify(d.recipient);
    }
  }
  return absl::OkStatus();
}

absl::Status MessageHandler::Send(const Principal& caller, const v1::SendRequest& request,
                                  v1::SendResponse* response) {
  LB_ASSIGN_OR_RETURN(storage::MessageId message_id,
                      ParseMessageId(request.message_id(), "message_id"));
  LB_ASSIGN_OR_RETURN(storage::DeviceAddress recipient,
                      ParseDeviceAddress(request.recipient(), "recipient"));
  LB_RETURN_IF_ERROR(CheckPayload(request.ciphertext(), request.franking_commitment(), ""));
  absl::StatusOr<storage::DeviceRecord> device = context_.stores.accounts().GetDevice(recipient);
  if (absl::IsNotFound(device.status())) return absl::NotFoundError("no such recipient device");
  LB_RETURN_IF_ERROR(device.status());
  return StoreEnvelopes(caller, message_id,
                        {Item{.recipient = recipient,
                              .ciphertext = &request.ciphertext(),
                              .commitment = &request.franking_commitment()}},
                        response);
}

absl::Status MessageHandler::SendToAccount(const Principal& caller,
                                           const v1::SendToAccountRequest& request,
                                           v1::SendResponse* response) {
  LB_ASSIGN_OR_RETURN(storage::MessageId message_id,
                      ParseMessageId(request.message_id(), "message_id"));
  LB_ASSIGN_OR_RETURN(storage::AccountId account,
                      ParseAccountId(request.account_id(), "account_id"));
  if (request.messages_size() == 0) return absl::InvalidArgumentError("messages: empty");
  if (static_cast<uint32_t>(request.messages_size()) >
      context_.config.limits.max_devices_per_account) {
    return absl::InvalidArgumentError("messages: more than max_devices_per_account");
  }
  std::vector<Item> items;
  absl::flat_hash_set<uint32_t> listed;
  for (const v1::SendToAccountRequest::DeviceMessage& m : request.messages()) {
    if (m.device_id() == 0) return absl::InvalidArgumentError("messages.device_id: must not be 0");
    if (!listed.insert(m.device_id()).second) {
      return absl::InvalidArgumentError("messages.device_id: listed twice");
    }
    LB_RETURN_IF_ERROR(CheckPayload(m.ciphertext(), m.franking_commitment(), "messages."));
    items.push_back(Item{.recipient = {account, m.device_id()},
                         .ciphertext = &m.ciphertext(),
                         .commitment = &m.franking_commitment()});
  }
  absl::StatusOr<std::vector<storage::DeviceRecord>> devices =
      context_.stores.accounts().ListDevices(account);
  if (absl::IsNotFound(devices.status())) return absl::NotFoundError("no such account");
  LB_RETURN_IF_ERROR(devices.status());

  v1::DeviceMismatch mismatch;
  absl::flat_hash_set<uint32_t> current;
  for (const storage::DeviceRecord& d : *devices) {
    current.insert(d.id);
    if (!listed.contains(d.id)) mismatch.add_missing_devices(d.id);
  }
  std::vector<uint32_t> extra;
  for (const Item& item : items) {
    if (!current.contains(item.recipient.device)) extra.push_back(item.recipient.device);
  }
  std::sort(extra.begin(), extra.end());
  for (uint32_t id : extra) mismatch.add_extra_devices(id);
  if (mismatch.missing_devices_size() > 0 || mismatch.extra_devices_size() > 0) {
    absl::Status status = absl::FailedPreconditionError(
        "device list mismatch: missing [" + absl::StrJoin(mismatch.missing_devices(), ",") +
        "] extra [" + absl::StrJoin(mismatch.extra_devices(), ",") + "]");
    status.SetPayload(kGrpcErrorDetailsPayload, absl::Cord(mismatch.SerializeAsString()));
    return status;
  }
  std::sort(items.begin(), items.end(),
            [](const Item& a, const Item& b) { return a.recipient.device < b.recipient.device; });
  return StoreEnvelopes(caller, message_id, items, response);
}

absl::StatusOr<storage::FetchResult> MessageHandler::ReadMailbox(
    const storage::DeviceAddress& device, storage::EnvelopeId after, uint32_t limit) {
  const int64_t not_before =
      context_.clock.NowMicros() - absl::ToInt64Microseconds(context_.config.limits.envelope_ttl);
  return context_.stores.mailboxes().Fetch(device, after, limit, not_before);
}

absl::Status MessageHandler::Fetch(const Principal& caller, const v1::FetchRequest& request,
                                   v1::FetchResponse* response) {
  const Limits& limits = context_.config.limits;
  uint32_t limit = request.limit() == 0 ? limits.max_fetch_page : request.limit();
  if (limit > limits.max_fetch_page) {
    return absl::InvalidArgumentError("limit: larger than max_fetch_page");
  }
  LB_ASSIGN_OR_RETURN(storage::FetchResult page,
                      ReadMailbox(caller.device, request.after(), limit));
  LB_ASSIGN_OR_RETURN(uint32_t prekeys,
                      context_.stores.prekeys().CountOneTimePrekeys(caller.device));
  for (const storage::Envelope& e : page.envelopes) ToProto(e, response->add_envelopes());
  response->set_more(page.more);
  response->set_prekeys_low(prekeys < limits.prekey_low_water);
  return absl::OkStatus();
}

absl::Status MessageHandler::Ack(const Principal& caller, const v1::AckRequest& request,
                                 v1::AckResponse* response) {
  if (request.envelope_ids_size() == 0) return absl::InvalidArgumentError("envelope_ids: empty");
  if (static_cast<uint32_t>(request.envelope_ids_size()) > context_.config.limits.max_ack_batch) {
    return absl::InvalidArgumentError("envelope_ids: more than max_ack_batch");
  }
  std::vector<storage::EnvelopeId> ids(request.envelope_ids().begin(),
                                       request.envelope_ids().end());
  LB_ASSIGN_OR_RETURN(uint32_t deleted, context_.stores.mailboxes().Ack(caller.device, ids));
  response->set_deleted(deleted);
  return absl::OkStatus();
}

}  // namespace letterbox::server
