// File: fuzz/server_world.h
//
// The messaging server's handlers over MemoryStores and a FakeClock, with
// two registered devices built from a DeterministicRandom, so the
// server_handlers fuzz target and its seed generator agree on every address
// and key:
//  - `caller`: the device the fuzzed requests come from (logged in);
//  - `peer`: a device on another account with a signed prekey and five
//    one-time prekeys, which the caller can message and claim bundles of.
// One message from peer to caller and one report by the caller are stored
// too, so Fetch, Ack, PullReports and AckReports have something to find.
//
//   auto world = ServerWorld::Create();
//   absl::Status s = world->messages.Send(world->CallerPrincipal(), request, &response);
//
// Not thread-safe. The handlers hold references into the world, so it is
// created on the heap and never moved.
#pragma once

#include <memory>
#include <string>

#include "counting_stores.h"
#include "letterbox/common/clock.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/x25519.h"
#include "letterbox/crypto/x3dh.h"
#include "letterbox/server/account_handler.h"
#include "letterbox/server/authenticator.h"
#include "letterbox/server/handler_context.h"
#include "letterbox/server/key_handler.h"
#include "letterbox/server/mailbox_notifier.h"
#include "letterbox/server/message_handler.h"
#include "letterbox/server/report_handler.h"
#include "letterbox/storage/memory_store.h"

namespace letterbox::fuzz {

namespace v1 = ::letterbox::v1;

class ServerWorld {
 public:
  // Every key and id below comes from this seed.
  static constexpr uint64_t kSeed = 0x1e77e7b0;

  // A world with both devices set up, or nullptr if setting it up failed
  // (which is itself a bug: the caller aborts).
  static std::unique_ptr<ServerWorld> Create() {
    auto world = std::unique_ptr<ServerWorld>(new ServerWorld());
    if (!world->SetUp()) return nullptr;
    return world;
  }

  static server::ServerConfig FuzzConfig() {
    server::ServerConfig config;
    // Small caps so a long run cannot grow the mailbox without bound.
    config.limits.max_mailbox_envelopes = 64;
    config.limits.max_mailbox_bytes = 1 << 20;
    return config;
  }

  [[nodiscard]] server::Principal CallerPrincipal() const {
    server::Principal p;
    p.kind = server::Principal::Kind::kDevice;
    p.device = caller;
    p.peer_address = "192.0.2.1";
    return p;
  }
  [[nodiscard]] static server::Principal Anonymous() {
    server::Principal p;
    p.peer_address = "192.0.2.2";
    return p;
  }
  [[nodiscard]] static server::Principal Relay() {
    server::Principal p;
    p.kind = server::Principal::Kind::kRelay;
    p.peer_address = "192.0.2.3";
    return p;
  }

  static v1::DeviceIdentity IdentityProto(const crypto::IdentityKeyPair& id) {
    v1::DeviceIdentity out;
    out.set_identity_signing_key(id.signing.public_key.str());
    out.set_identity_dh_key(id.dh.public_key.str());
    out.set_identity_dh_signature(id.dh_signature.str());
    return out;
  }
  static v1::DeviceAddress AddressProto(const storage::DeviceAddress& a) {
    v1::DeviceAddress out;
    out.set_account_id(a.account.str());
    out.set_device_id(a.device);
    return out;
  }

  crypto::DeterministicRandom random{kSeed};
  FakeClock clock;
  storage::MemoryStores memory;
  CountingStores stores{memory};
  server::ServerConfig config = FuzzConfig();
  crypto::Ed25519KeyPair relay_key = crypto::Ed25519KeyPair::Generate(random);
  crypto::X25519KeyPair intake_key = crypto::X25519KeyPair::Generate(random);
  server::ServerKeys keys{.franking_key = crypto::RandomSecret<crypto::FrankingServerKey>(random),
                          .discovery_pepper = crypto::RandomSecret<crypto::MacKey>(random)};
  server::Authenticator auth{stores, clock, config.limits, relay_key.public_key, random};
  server::MailboxNotifier notifier;
  server::HandlerContext context{stores, clock,    config, keys,
                                 auth,   notifier, random, intake_key.public_key};
  server::AccountHandler accounts{context};
  server::KeyHandler key_handler{context};
  server::MessageHandler messages{context};
  server::ReportHandler reports{context};
  server::RelayHandler relay{context};

  crypto::IdentityKeyPair caller_identity = crypto::IdentityKeyPair::Generate(random);
  crypto::IdentityKeyPair peer_identity = crypto::IdentityKeyPair::Generate(random);
  storage::DeviceAddress caller;
  storage::DeviceAddress peer;
  std::string caller_token;  // the caller's session token (raw bytes)

 private:
  ServerWorld() = default;

  bool Register(const crypto::IdentityKeyPair& identity, const std::string& phone,
                storage::DeviceAddress* out) {
    v1::RegisterAccountRequest q;
    q.set_jurisdiction("JP");
    q.set_phone_number(phone);
    *q.mutable_device() = IdentityProto(identity);
    v1::RegisterAccountResponse r;
    if (!accounts.RegisterAccount(Anonymous(), q, &r).ok()) return false;
    auto account = storage::AccountId::FromString(r.account_id());
    if (!account.ok()) return false;
    *out = {*account, r.device_id()};
    return true;
  }

  bool SetUp() {
    if (!Register(caller_identity, "+81312345678", &caller)) return false;
    if (!Register(peer_identity, "+81398765432", &peer)) return false;

    // The caller logs in.
    v1::GetChallengeRequest cq;
    *cq.mutable_device() = AddressProto(caller);
    v1::GetChallengeResponse cr;
    if (!accounts.GetChallenge(Anonymous(), cq, &cr).ok()) return false;
    auto nonce = server::Nonce::FromString(cr.nonce());
    if (!nonce.ok()) return false;
    v1::LoginRequest lq;
    *lq.mutable_device() = cq.device();
    lq.set_nonce(cr.nonce());
    lq.set_signature(crypto::Ed25519Sign(caller_identity.signing.secret_key,
                                         server::DeviceLoginMessage(*nonce, caller))
                         .str());
    v1::LoginResponse lr;
    if (!accounts.Login(Anonymous(), lq, &lr).ok()) return false;
    caller_token = lr.session_token();

    // The peer's prekeys.
    server::Principal peer_principal = CallerPrincipal();
    peer_principal.device = peer;
    auto spk = crypto::X25519KeyPair::Generate(random);
    v1::UploadSignedPrekeyRequest sq;
    sq.mutable_signed_prekey()->set_key_id(1);
    sq.mutable_signed_prekey()->set_public_key(spk.public_key.str());
    sq.mutable_signed_prekey()->set_signature(
        crypto::SignSignedPrekey(peer_identity.signing.secret_key, 1, spk.public_key).str());
    v1::UploadSignedPrekeyResponse sr;
    if (!key_handler.UploadSignedPrekey(peer_principal, sq, &sr).ok()) return false;
    v1::UploadOneTimePrekeysRequest oq;
    for (uint32_t id = 100; id < 105; ++id) {
      auto* k = oq.add_prekeys();
      k->set_key_id(id);
      k->set_public_key(crypto::X25519KeyPair::Generate(random).public_key.str());
    }
    v1::UploadOneTimePrekeysResponse orsp;
    if (!key_handler.UploadOneTimePrekeys(peer_principal, oq, &orsp).ok()) return false;

    // One message from the peer to the caller, one report by the caller.
    v1::SendRequest send;
    send.set_message_id(std::string(16, '\x01'));
    *send.mutable_recipient() = AddressProto(caller);
    send.set_ciphertext(std::string(48, '\x02'));
    send.set_franking_commitment(std::string(32, '\x03'));
    v1::SendResponse send_response;
    if (!messages.Send(peer_principal, send, &send_response).ok()) return false;
    v1::SubmitReportRequest report;
    report.set_jurisdiction("JP");
    report.set_sealed_report(std::string(80, '\x04'));
    v1::SubmitReportResponse report_response;
    if (!reports.SubmitReport(CallerPrincipal(), report, &report_response).ok()) return false;
    return true;
  }
};

}  // namespace letterbox::fuzz
