// X3DH key agreement with separate Ed25519 and X25519 identity keys.
#include "letterbox/crypto/x3dh.h"

#include <algorithm>
#include <array>
#include <utility>

#include "letterbox/common/status.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/hmac.h"

namespace letterbox::crypto {
namespace {

constexpr size_t kMaxDhOutputs = 4;

// ikm = 0xFF×32 ‖ DH1 ‖ ... ‖ DHn, built in one zeroing buffer.
class KdfInput {
 public:
  KdfInput() : ikm_(kX25519KeySize * (1 + kMaxDhOutputs)) {
    auto view = ikm_.mutable_view();
    std::fill(view.begin(), view.begin() + kX25519KeySize, uint8_t{0xFF});
    used_ = kX25519KeySize;
  }

  // Appends X25519(secret, peer). INVALID_ARGUMENT for an all-zero output.
  [[nodiscard]] absl::Status AppendDh(const X25519SecretKey& secret, const X25519PublicKey& peer) {
    LB_ASSIGN_OR_RETURN(X25519SharedSecret shared, X25519(secret, peer));
    auto view = ikm_.mutable_view();
    std::copy(shared.Expose().begin(), shared.Expose().end(), view.begin() + used_);
    used_ += kX25519KeySize;
    return absl::OkStatus();
  }

  [[nodiscard]] absl::StatusOr<X3dhSharedKey> DeriveSharedKey() const {
    const std::array<uint8_t, 32> salt{};
    LB_ASSIGN_OR_RETURN(SecretBytes okm, HkdfSha256(ikm_.Expose().first(used_), salt,
                                                    AsBytes(kX3dhKdfInfo), kX3dhSharedKeySize));
    return X3dhSharedKey::FromBytes(okm.Expose());
  }

 private:
  SecretBytes ikm_;
  size_t used_ = 0;
};

absl::Status VerifySignedPrekey(const Ed25519PublicKey& identity_signing_key, uint32_t id,
                                const X25519PublicKey& signed_prekey,
                                const Ed25519Signature& signature) {
  if (!Ed25519Verify(identity_signing_key, SignedPrekeySigningMessage(id, signed_prekey), signature)
           .ok()) {
    return absl::InvalidArgumentError("signed prekey signature does not verify");
  }
  return absl::OkStatus();
}

}  // namespace

IdentityKeyPair IdentityKeyPair::Generate(Random& random) {
  IdentityKeyPair out{Ed25519KeyPair::Generate(random), X25519KeyPair::Generate(random), {}};
  out.dh_signature = SignIdentityDhKey(out.signing.secret_key, out.dh.public_key);
  return out;
}

Bytes IdentityDhSigningMessage(const X25519PublicKey& identity_dh_key) {
  ByteWriter w;
  w.Label(kIdentityDhSigningLabel).Raw(identity_dh_key.view());
  return std::move(w).Take();
}

Bytes SignedPrekeySigningMessage(uint32_t signed_prekey_id, const X25519PublicKey& signed_prekey) {
  ByteWriter w;
  w.Label(kSignedPrekeySigningLabel).U32(signed_prekey_id).Raw(signed_prekey.view());
  return std::move(w).Take();
}

Ed25519Signature SignIdentityDhKey(const Ed25519SecretKey& identity_signing_key,
                                   const X25519PublicKey& identity_dh_key) {
  return Ed25519Sign(identity_signing_key, IdentityDhSigningMessage(identity_dh_key));
}

Ed25519Signature SignSignedPrekey(const Ed25519SecretKey& identity_signing_key,
                                  uint32_t signed_prekey_id, const X25519PublicKey& signed_prekey) {
  return Ed25519Sign(identity_signing_key,
                     SignedPrekeySigningMessage(signed_prekey_id, signed_prekey));
}

absl::Status VerifyIdentityDhKey(const Ed25519PublicKey& identity_signing_key,
                                 const X25519PublicKey& identity_dh_key,
                                 const Ed25519Signature& signature) {
  if (!Ed25519Verify(identity_signing_key, IdentityDhSigningMessage(identity_dh_key), signature)
           .ok()) {
    return absl::InvalidArgumentError("identity DH key signature does not verify");
  }
  return absl::OkStatus();
}

absl::Status VerifyPrekeyBundle(const PrekeyBundle& bundle) {
  LB_RETURN_IF_ERROR(VerifyIdentityDhKey(bundle.identity_signing_key, bundle.identity_dh_key,
                                         bundle.identity_dh_signature));
  return VerifySignedPrekey(bundle.identity_signing_key, bundle.signed_prekey_id,
                            bundle.signed_prekey, bundle.signed_prekey_signature);
}

Bytes X3dhInitialHeader::Encode() const {
  ByteWriter w;
  w.U8(kX3dhHeaderVersion)
      .Raw(initiator_identity_signing_key.view())
      .Raw(initiator_identity_dh_key.view())
      .Raw(initiator_identity_dh_signature.view())
      .Raw(ephemeral_key.view())
      .U32(signed_prekey_id);
  if (one_time_prekey_id.has_value()) {
    w.U8(1).U32(*one_time_prekey_id);
  } else {
    w.U8(0);
  }
  return std::move(w).Take();
}

absl::StatusOr<X3dhInitialHeader> X3dhInitialHeader::Decode(ByteView encoded) {
  ByteReader r(encoded);
  LB_ASSIGN_OR_RETURN(uint8_t version, r.U8());
  if (version != kX3dhHeaderVersion) {
    return absl::InvalidArgumentError("unsupported X3DH header version");
  }
  X3dhInitialHeader h;
  LB_ASSIGN_OR_RETURN(ByteView signing, r.Raw(Ed25519PublicKey::kSize));
  LB_ASSIGN_OR_RETURN(h.initiator_identity_signing_key, Ed25519PublicKey::FromBytes(signing));
  LB_ASSIGN_OR_RETURN(ByteView dh, r.Raw(X25519PublicKey::kSize));
  LB_ASSIGN_OR_RETURN(h.initiator_identity_dh_key, X25519PublicKey::FromBytes(dh));
  LB_ASSIGN_OR_RETURN(ByteView sig, r.Raw(Ed25519Signature::kSize));
  LB_ASSIGN_OR_RETURN(h.initiator_identity_dh_signature, Ed25519Signature::FromBytes(sig));
  LB_ASSIGN_OR_RETURN(ByteView ek, r.Raw(X25519PublicKey::kSize));
  LB_ASSIGN_OR_RETURN(h.ephemeral_key, X25519PublicKey::FromBytes(ek));
  LB_ASSIGN_OR_RETURN(h.signed_prekey_id, r.U32());
  LB_ASSIGN_OR_RETURN(uint8_t has_one_time, r.U8());
  if (has_one_time == 1) {
    LB_ASSIGN_OR_RETURN(uint32_t id, r.U32());
    h.one_time_prekey_id = id;
  } else if (has_one_time != 0) {
    return absl::InvalidArgumentError("invalid one-time prekey flag in X3DH header");
  }
  LB_RETURN_IF_ERROR(r.ExpectEnd());
  return h;
}

Bytes X3dhAssociatedData(const Ed25519PublicKey& initiator_signing_key,
                         const X25519PublicKey& initiator_dh_key,
                         const Ed25519PublicKey& responder_signing_key,
                         const X25519PublicKey& responder_dh_key) {
  ByteWriter w;
  w.Label(kX3dhAssociatedDataLabel)
      .Raw(initiator_signing_key.view())
      .Raw(initiator_dh_key.view())
      .Raw(responder_signing_key.view())
      .Raw(responder_dh_key.view());
  return std::move(w).Take();
}

absl::StatusOr<X3dhInitiatorResult> X3dhInitiate(const IdentityKeyPair& initiator,
                                                 const PrekeyBundle& bundle, Random& random) {
  LB_RETURN_IF_ERROR(VerifyPrekeyBundle(bundle));

  X25519KeyPair ephemeral = X25519KeyPair::Generate(random);
  KdfInput kdf;
  LB_RETURN_IF_ERROR(kdf.AppendDh(initiator.dh.secret_key, bundle.signed_prekey));
  LB_RETURN_IF_ERROR(kdf.AppendDh(ephemeral.secret_key, bundle.identity_dh_key));
  LB_RETURN_IF_ERROR(kdf.AppendDh(ephemeral.secret_key, bundle.signed_prekey));
  if (bundle.one_time_prekey.has_value()) {
    LB_RETURN_IF_ERROR(kdf.AppendDh(ephemeral.secret_key, bundle.one_time_prekey->public_key));
  }
  LB_ASSIGN_OR_RETURN(X3dhSharedKey shared_key, kdf.DeriveSharedKey());

  X3dhInitialHeader header;
  header.initiator_identity_signing_key = initiator.signing.public_key;
  header.initiator_identity_dh_key = initiator.dh.public_key;
  header.initiator_identity_dh_signature = initiator.dh_signature;
  header.ephemeral_key = ephemeral.public_key;
  header.signed_prekey_id = bundle.signed_prekey_id;
  if (bundle.one_time_prekey.has_value()) header.one_time_prekey_id = bundle.one_time_prekey->id;

  return X3dhInitiatorResult{
      std::move(shared_key),
      X3dhAssociatedData(initiator.signing.public_key, initiator.dh.public_key,
                         bundle.identity_signing_key, bundle.identity_dh_key),
      header};
}

absl::StatusOr<X3dhResponderResult> X3dhRespond(const IdentityKeyPair& responder,
                                                const X25519KeyPair& signed_prekey,
                                                const X25519KeyPair* one_time_prekey,
                                                const X3dhInitialHeader& header) {
  LB_RETURN_IF_ERROR(VerifyIdentityDhKey(header.initiator_identity_signing_key,
                                         header.initiator_identity_dh_key,
                                         header.initiator_identity_dh_signature));
  if (header.one_time_prekey_id.has_value() != (one_time_prekey != nullptr)) {
    return absl::InvalidArgumentError(
        one_time_prekey == nullptr ? "X3DH header names a one-time prekey that was not supplied"
                                   : "one-time prekey supplied but the X3DH header names none");
  }

  KdfInput kdf;
  LB_RETURN_IF_ERROR(kdf.AppendDh(signed_prekey.secret_key, header.initiator_identity_dh_key));
  LB_RETURN_IF_ERROR(kdf.AppendDh(responder.dh.secret_key, header.ephemeral_key));
  LB_RETURN_IF_ERROR(kdf.AppendDh(signed_prekey.secret_key, header.ephemeral_key));
  if (one_time_prekey != nullptr) {
    LB_RETURN_IF_ERROR(kdf.AppendDh(one_time_prekey->secret_key, header.ephemeral_key));
  }
  LB_ASSIGN_OR_RETURN(X3dhSharedKey shared_key, kdf.DeriveSharedKey());

  return X3dhResponderResult{
      std::move(shared_key),
      X3dhAssociatedData(header.initiator_identity_signing_key, header.initiator_identity_dh_key,
                         responder.signing.public_key, responder.dh.public_key)};
}

}  // namespace letterbox::crypto
