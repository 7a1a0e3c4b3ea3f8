#include "letterbox/server/key_handler.h"

#include <string>

#include "absl/container/flat_hash_set.h"
#include "letterbox/common/status.h"
#include "letterbox/crypto/x3dh.h"
#include "letterbox/server/wire.h"

namespace letterbox::server {

KeyHandler::KeyHandler(const HandlerContext& context)
    : context_(context),
      claims_per_claimant_target_(context.clock, context.config.limits.claims_per_claimant_target) {
}

absl::Status KeyHandler::UploadSignedPrekey(const Principal& caller,
                                            const v1::UploadSignedPrekeyRequest& request,
                                            v1::UploadSignedPrekeyResponse* /*response*/) {
  if (!request.has_signed_prekey()) return absl::InvalidArgumentError("signed_prekey: required");
  const v1::SignedPrekey& in = request.signed_prekey();
  storage::SignedPrekey prekey;
  prekey.key_id = in.key_id();
  if (in.public_key().size() != crypto::kX25519KeySize) {
    return absl::InvalidArgumentError("signed_prekey.public_key: must be 32 bytes");
  }
  if (in.signature().size() != crypto::kEd25519SignatureSize) {
    return absl::InvalidArgumentError("signed_prekey.signature: must be 64 bytes");
  }
  prekey.public_key = *crypto::X25519PublicKey::FromString(in.public_key());
  prekey.signature = *crypto::Ed25519Signature::FromString(in.signature());
  LB_ASSIGN_OR_RETURN(storage::DeviceRecord device,
                      context_.stores.accounts().GetDevice(caller.device));
  if (!crypto::Ed25519Verify(device.identity_signing_key,
                             crypto::SignedPrekeySigningMessage(prekey.key_id, prekey.public_key),
                             prekey.signature)
           .ok()) {
    return absl::InvalidArgumentError("signed_prekey.signature: does not verify");
  }
  prekey.uploaded_micros = context_.clock.NowMicros();
  return context_.stores.prekeys().SetSignedPrekey(caller.device, prekey);
}

absl::Status KeyHandler::UploadOneTimePrekeys(const Principal& caller,
                                              const v1::UploadOneTimePrekeysRequest& request,
                                              v1::UploadOneTimePrekeysResponse* response) {
  const Limits& limits = context_.config.limits;
  if (request.prekeys_size() == 0) return absl::InvalidArgumentError("prekeys: empty");
  if (static_cast<uint32_t>(request.prekeys_size()) > limits.max_prekeys_per_upload) {
    return absl::InvalidArgumentError("prekeys: more than max_prekeys_per_upload");
  }
  std::vector<storage::OneTimePrekey> prekeys;
  prekeys.reserve(request.prekeys_size());
  absl::flat_hash_set<uint32_t> ids;
  for (const v1::OneTimePrekey& in : request.prekeys()) {
    if (in.public_key().size() != crypto::kX25519KeySize) {
      return absl::InvalidArgumentError("prekeys.public_key: must be 32 bytes");
    }
    if (!ids.insert(in.key_id()).second) {
      return absl::InvalidArgumentError("prekeys.key_id: duplicate id");
    }
    prekeys.push_back(storage::OneTimePrekey{
        .key_id = in.key_id(),
        .public_key = *crypto::X25519PublicKey::FromString(in.public_key())});
  }
  absl::Status added =
      context_.stores.prekeys().AddOneTimePrekeys(caller.device, prekeys, limits.max_prekey_pool);
  if (absl::IsResourceExhausted(added)) {
    return absl::ResourceExhaustedError("pool would exceed max_prekey_pool");
  }
  LB_RETURN_IF_ERROR(added);
  LB_ASSIGN_OR_RETURN(uint32_t count, context_.stores.prekeys().CountOneTimePrekeys(caller.device));
  response->set_pool_size(count);
  return absl::OkStatus();
}

absl::Status KeyHandler::ClaimBundle(const Principal& caller, const v1::ClaimBundleRequest& request,
                                     v1::ClaimBundleResponse* response) {
  LB_ASSIGN_OR_RETURN(storage::DeviceAddress target,
                      ParseDeviceAddress(request.target(), "target"));
  const std::string key =
      crypto::ToString(caller.device.Encode()) + crypto::ToString(target.Encode());
  if (!claims_per_claimant_target_.TryAcquire(key)) {
    return absl::ResourceExhaustedError("too many claims for this device; retry later");
  }
  absl::StatusOr<storage::DeviceRecord> device = context_.stores.accounts().GetDevice(target);
  if (absl::IsNotFound(device.status())) return absl::NotFoundError("no such device");
  LB_RETURN_IF_ERROR(device.status());
  absl::StatusOr<storage::ClaimedPrekeys> claimed = context_.stores.prekeys().Claim(target);
  if (absl::IsNotFound(claimed.status())) {
    return absl::NotFoundError("no such device or no signed prekey");
  }
  LB_RETURN_IF_ERROR(claimed.status());

  ToProto(target, response->mutable_target());
  v1::DeviceIdentity* identity = response->mutable_identity();
  identity->set_identity_signing_key(device->identity_signing_key.str());
  identity->set_identity_dh_key(device->identity_dh_key.str());
  identity->set_identity_dh_signature(device->identity_dh_signature.str());
  v1::SignedPrekey* spk = response->mutable_signed_prekey();
  spk->set_key_id(claimed->signed_prekey.key_id);
  spk->set_public_key(claimed->signed_prekey.public_key.str());
  spk->set_signature(claimed->signed_prekey.signature.str());
  if (claimed->one_time_prekey.has_value()) {
    v1::OneTimePrekey* otk = response->mutable_one_time_prekey();
    otk->set_key_id(claimed->one_time_prekey->key_id);
    otk->set_public_key(claimed->one_time_prekey->public_key.str());
  }
  return absl::OkStatus();
}

absl::Status KeyHandler::CountOneTimePrekeys(const Principal& caller,
                                             const v1::CountOneTimePrekeysRequest& /*request*/,
                                             v1::CountOneTimePrekeysResponse* response) {
  LB_ASSIGN_OR_RETURN(uint32_t count, context_.stores.prekeys().CountOneTimePrekeys(caller.device));
  response->set_count(count);
  return absl::OkStatus();
}

}  // namespace letterbox::server
