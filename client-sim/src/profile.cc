#include "letterbox/client/profile.h"

#include "letterbox/common/status.h"
#include "letterbox/crypto/encoding.h"

namespace letterbox::client {

namespace {
constexpr std::string_view kProfileAdLabel = "letterbox.profile.v1";

crypto::Bytes ProfileAd() {
  crypto::ByteWriter w;
  w.Label(kProfileAdLabel);
  return std::move(w).Take();
}
}  // namespace

ProfileKey NewProfileKey(crypto::Random& random) {
  return crypto::RandomSecret<ProfileKey>(random);
}

absl::StatusOr<crypto::Bytes> EncryptProfile(const ProfileKey& key, const Profile& profile,
                                             crypto::Random& random) {
  for (const std::string* field : {&profile.display_name, &profile.phone_number, &profile.email}) {
    if (field->size() > kMaxProfileFieldBytes) {
      return absl::InvalidArgumentError("profile field too long");
    }
  }
  crypto::ByteWriter w;
  w.U8(kProfileVersion)
      .Bytes(crypto::AsBytes(profile.display_name))
      .Bytes(crypto::AsBytes(profile.phone_number))
      .Bytes(crypto::AsBytes(profile.email));
  crypto::Bytes plain = std::move(w).Take();
  crypto::Bytes sealed = crypto::XChaCha20Seal(key, plain, ProfileAd(), random);
  crypto::SecureZero(plain);
  return sealed;
}

absl::StatusOr<Profile> DecryptProfile(const ProfileKey& key, crypto::ByteView blob) {
  LB_ASSIGN_OR_RETURN(crypto::SecretBytes plain, crypto::XChaCha20Open(key, blob, ProfileAd()));
  crypto::ByteReader r(plain.Expose());
  LB_ASSIGN_OR_RETURN(const uint8_t version, r.U8());
  if (version != kProfileVersion) return absl::InvalidArgumentError("unsupported profile version");
  Profile out;
  for (std::string* field : {&out.display_name, &out.phone_number, &out.email}) {
    LB_ASSIGN_OR_RETURN(const crypto::ByteView b, r.Bytes());
    if (b.size() > kMaxProfileFieldBytes)
      return absl::InvalidArgumentError("profile field too long");
    *field = crypto::ToString(b);
  }
  LB_RETURN_IF_ERROR(r.ExpectEnd());
  return out;
}

}  // namespace letterbox::client
