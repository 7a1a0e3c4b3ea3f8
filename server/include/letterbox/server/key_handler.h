// File: letterbox/server/key_handler.h
//
// The logic of KeyService (keys.proto), free of gRPC: signed prekeys checked
// against the device's identity key, one-time prekey pools with their caps,
// and bundle claims that hand each one-time prekey to exactly one claimant
// (PrekeyStore::Claim is atomic), rate-limited per (claimant, target).
//
//   KeyHandler keys(context);
//   v1::ClaimBundleResponse bundle;
//   LB_RETURN_IF_ERROR(keys.ClaimBundle(caller, request, &bundle));
#pragma once

#include "absl/status/status.h"
#include "letterbox/server/handler_context.h"
#include "letterbox/server/principal.h"
#include "letterbox/server/rate_limiter.h"
#include "letterbox/v1/keys.pb.h"

namespace letterbox::server {

// Thread-safe. `caller` is a device principal. On error storage is unchanged.
class KeyHandler {
 public:
  explicit KeyHandler(const HandlerContext& context);

  // INVALID_ARGUMENT (lengths; signature not by the caller's identity key).
  [[nodiscard]] absl::Status UploadSignedPrekey(const Principal& caller,
                                                const v1::UploadSignedPrekeyRequest& request,
                                                v1::UploadSignedPrekeyResponse* response);
  // INVALID_ARGUMENT (none, more than max_prekeys_per_upload, lengths,
  // duplicate ids), RESOURCE_EXHAUSTED (pool would exceed max_prekey_pool).
  [[nodiscard]] absl::Status UploadOneTimePrekeys(const Principal& caller,
                                                  const v1::UploadOneTimePrekeysRequest& request,
                                                  v1::UploadOneTimePrekeysResponse* response);
  // INVALID_ARGUMENT, RESOURCE_EXHAUSTED (claims per (caller, target)),
  // NOT_FOUND (no such device, or it has no signed prekey yet).
  [[nodiscard]] absl::Status ClaimBundle(const Principal& caller,
                                         const v1::ClaimBundleRequest& request,
                                         v1::ClaimBundleResponse* response);
  [[nodiscard]] absl::Status CountOneTimePrekeys(const Principal& caller,
                                                 const v1::CountOneTimePrekeysRequest& request,
                                                 v1::CountOneTimePrekeysResponse* response);

 private:
  const HandlerContext& context_;
  RateLimiter claims_per_claimant_target_;
};

}  // namespace letterbox::server
