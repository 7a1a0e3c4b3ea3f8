// make_seeds: writes the seed corpora under fuzz/corpus/<target>/ (run it
// from the build: `build-fuzz/fuzz/make_seeds fuzz/corpus`). Every seed is a
// small valid input (made with the real encoders, keys from
// DeterministicRandom, and the same worlds the targets build) or a named
// edge case, so the fuzzers start past the first parse. Regenerating gives
// the same bytes except where libsodium's sealed box draws its own
// ephemeral key. The server, vault and client sections are compiled in only
// when those modules are part of the build.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "letterbox/crypto/double_ratchet.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/init.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/x3dh.h"
#include "letterbox/storage/codec.h"
#ifdef LETTERBOX_SEEDS_SERVER
#include "server_world.h"
#endif
#ifdef LETTERBOX_SEEDS_VAULT
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/sealed_box.h"
#include "letterbox/v1/report_content.pb.h"
#include "vault_world.h"
#endif
#ifdef LETTERBOX_SEEDS_CLIENT
#include "letterbox/client/message_format.h"
#endif

namespace crypto = letterbox::crypto;
namespace storage = letterbox::storage;
namespace fs = std::filesystem;

namespace {

fs::path g_root;
int g_written = 0;

void Write(const std::string& target, const std::string& name, crypto::ByteView bytes) {
  const fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  ++g_written;
}
void Write(const std::string& target, const std::string& name, std::string_view bytes) {
  Write(target, name, crypto::AsBytes(bytes));
}

// A real conversation's first messages, for the ratchet and client seeds.
struct Conversation {
  crypto::X3dhInitialHeader x3dh_with_otk;
  crypto::X3dhInitialHeader x3dh_without_otk;
  crypto::RatchetMessage first;
  crypto::RatchetMessage empty_plaintext;
};

Conversation MakeConversation() {
  crypto::DeterministicRandom rng(11);
  auto alice = crypto::IdentityKeyPair::Generate(rng);
  auto bob = crypto::IdentityKeyPair::Generate(rng);
  auto spk = crypto::X25519KeyPair::Generate(rng);
  auto otk = crypto::X25519KeyPair::Generate(rng);
  crypto::PrekeyBundle bundle{
      .identity_signing_key = bob.signing.public_key,
      .identity_dh_key = bob.dh.public_key,
      .identity_dh_signature = bob.dh_signature,
      .signed_prekey_id = 7,
      .signed_prekey = spk.public_key,
      .signed_prekey_signature =
          crypto::SignSignedPrekey(bob.signing.secret_key, 7, spk.public_key),
      .one_time_prekey = crypto::OneTimePrekeyPublic{.id = 42, .public_key = otk.public_key}};
  auto with_otk = crypto::X3dhInitiate(alice, bundle, rng).value();
  bundle.one_time_prekey.reset();
  auto without_otk = crypto::X3dhInitiate(alice, bundle, rng).value();
  auto session =
      crypto::RatchetSession::InitAlice(std::move(with_otk.shared_key), spk.public_key, rng)
          .value();
  auto first = session.Encrypt(crypto::AsBytes("hello bob"), with_otk.associated_data).value();
  auto empty = session.Encrypt({}, with_otk.associated_data).value();
  return {with_otk.header, without_otk.header, first, empty};
}

void RatchetHeaderSeeds(const Conversation& c) {
  const std::string t = "ratchet_header";
  Write(t, "header", c.first.header.Encode());
  Write(t, "message", c.first.Encode());
  Write(t, "message_empty_plaintext", c.empty_plaintext.Encode());
  Write(t, "x3dh_with_one_time_prekey", c.x3dh_with_otk.Encode());
  Write(t, "x3dh_without_one_time_prekey", c.x3dh_without_otk.Encode());
  Write(t, "edge_empty", std::string_view());
  Write(t, "edge_version_only", std::string_view("\x01", 1));
  crypto::Bytes wrong_version = c.first.header.Encode();
  wrong_version[0] = 2;
  Write(t, "edge_header_wrong_version", wrong_version);
  crypto::Bytes huge_length = c.first.Encode();
  for (size_t i = 0; i < 4; ++i) huge_length[1 + crypto::kRatchetHeaderSize + i] = 0xFF;
  Write(t, "edge_message_length_prefix_huge", huge_length);
  crypto::Bytes bad_flag = c.x3dh_without_otk.Encode();
  bad_flag.back() = 2;
  Write(t, "edge_x3dh_presence_flag_2", bad_flag);
}

void ByteReaderSeeds() {
  const std::string t = "byte_reader";
  // U8(n) ‖ ops ‖ input. Ops: 0 U8, 1 U32, 2 U64, 3 I64, 4 Bytes, 5+6k Raw(k).
  crypto::ByteWriter all;
  all.U8(6).U8(0).U8(1).U8(2).U8(3).U8(4).U8(5 + 6 * 3);
  all.U8(7)
      .U32(0x01020304)
      .U64(0x0102030405060708ull)
      .I64(-1)
      .Label("label")
      .Raw(crypto::AsBytes("raw"));
  Write(t, "every_read", all.view());
  crypto::ByteWriter truncated;
  truncated.U8(1).U8(4).U32(1000).Raw(crypto::AsBytes("short"));
  Write(t, "edge_length_prefix_past_end", truncated.view());
  crypto::ByteWriter trailing;
  trailing.U8(1).U8(1).U32(7).U8(0xEE);
  Write(t, "edge_trailing_byte", trailing.view());
  Write(t, "edge_no_ops", std::string_view("\x00", 1));
}

void StorageCodecSeeds() {
  const std::string t = "storage_codec";
  crypto::DeterministicRandom rng(12);
  storage::DeviceAddress a{crypto::RandomFixed<storage::AccountId>(rng), 1};
  storage::DeviceAddress b{crypto::RandomFixed<storage::AccountId>(rng), 2};

  storage::AccountRecord account;
  account.id = a.account;
  account.jurisdiction = "JP";
  account.encrypted_profile = {1, 2, 3};
  account.discovery_handle = crypto::RandomFixed<storage::DiscoveryHandle>(rng);
  account.created_micros = 1'700'000'000'000'000;
  account.next_device_id = 2;
  Write(t, "account", storage::EncodeAccount(account));
  account.discovery_handle.reset();
  Write(t, "account_without_handle", storage::EncodeAccount(account));

  storage::DeviceRecord device;
  device.id = 1;
  device.identity_signing_key = crypto::RandomFixed<crypto::Ed25519PublicKey>(rng);
  device.identity_dh_key = crypto::RandomFixed<crypto::X25519PublicKey>(rng);
  device.identity_dh_signature = crypto::RandomFixed<crypto::Ed25519Signature>(rng);
  Write(t, "device", storage::EncodeDevice(device));

  storage::SignedPrekey spk{7, crypto::RandomFixed<crypto::X25519PublicKey>(rng),
                            crypto::RandomFixed<crypto::Ed25519Signature>(rng), 5};
  Write(t, "signed_prekey", storage::EncodeSignedPrekey(spk));
  Write(t, "one_time_prekey",
        storage::EncodeOneTimePrekey({100, crypto::RandomFixed<crypto::X25519PublicKey>(rng)}));

  storage::Envelope e;
  e.id = 9;
  e.message_id = crypto::RandomFixed<storage::MessageId>(rng);
  e.sender = a;
  e.recipient = b;
  e.server_timestamp_micros = 1'700'000'000'000'000;
  e.franking_commitment = crypto::RandomFixed<crypto::Commitment>(rng);
  e.franking_tag = crypto::RandomFixed<crypto::FrankingTag>(rng);
  e.ciphertext = {9, 9, 9, 9};
  Write(t, "envelope", storage::EncodeEnvelope(e));

  storage::SendReceipt receipt;
  receipt.server_timestamp_micros = 3;
  receipt.deliveries.push_back({b, 9, e.franking_tag});
  receipt.deliveries.push_back({a, 10, e.franking_tag});
  Write(t, "send_receipt", storage::EncodeSendReceipt(receipt));
  storage::SendReceipt empty_receipt;
  Write(t, "send_receipt_empty", storage::EncodeSendReceipt(empty_receipt));

  Write(t, "session", storage::EncodeSession({a, 1'700'000'000'000'000}));
  storage::OutboxReport report;
  report.id = crypto::RandomFixed<storage::ReportId>(rng);
  report.jurisdiction = "KR";
  report.reporter = a;
  report.received_micros = 4;
  report.sealed = crypto::Bytes(60, 0x5A);
  Write(t, "outbox_report", storage::EncodeOutboxReport(report));
  Write(t, "discovery_entry", storage::EncodeDiscoveryEntry(a.account));
  Write(t, "counter", storage::EncodeCounter(123456789));
  Write(t, "device_address", a.Encode());

  crypto::ByteWriter hostile_count;
  hostile_count.U8(storage::kSendReceiptFormat).I64(0).U32(0xFFFFFFFF);
  Write(t, "edge_send_receipt_count_huge", hostile_count.view());
  crypto::Bytes bad_flag = storage::EncodeAccount(account);
  bad_flag[1 + 16 + 4 + 2 + 4 + 3] = 2;  // has-handle flag
  Write(t, "edge_account_flag_2", bad_flag);
  Write(t, "edge_empty", std::string_view());
}

void RatchetSessionSeeds() {
  // Schedules are read by FuzzedDataProvider (integers from the end, bytes
  // from the front); deterministic pseudo-random schedules of a few lengths.
  crypto::DeterministicRandom rng(13);
  for (size_t len : {16u, 64u, 256u, 1024u}) {
    crypto::Bytes b(len);
    rng.Fill(b);
    Write("ratchet_session", "schedule_" + std::to_string(len), b);
  }
  // Alternating send/deliver opcodes (0 = Alice sends, 2 = deliver to Bob,
  // 1 = Bob sends, 3 = deliver to Alice), little plaintext.
  crypto::Bytes ping_pong(200, 0);
  for (size_t i = 0; i < ping_pong.size(); ++i) ping_pong[i] = static_cast<uint8_t>(i % 4);
  Write("ratchet_session", "ping_pong", ping_pong);
}

#ifdef LETTERBOX_SEEDS_SERVER
template <typename Message>
void WriteRpc(const std::string& name, uint8_t rpc, const Message& m) {
  std::string bytes(1, static_cast<char>(rpc));
  bytes += m.SerializeAsString();
  Write("server_handlers", name, bytes);
}

void ServerSeeds() {
  namespace v1 = letterbox::v1;
  using letterbox::fuzz::ServerWorld;
  auto world = ServerWorld::Create();
  if (world == nullptr) {
    std::fprintf(stderr, "server world did not set up\n");
    std::exit(1);
  }
  auto& w = *world;
  crypto::DeterministicRandom rng(14);
  // The RPC numbers of server_handlers_fuzzer.cc, in its order.
  uint8_t n = 0;
  const auto fresh = crypto::IdentityKeyPair::Generate(rng);

  v1::RegisterAccountRequest reg;
  reg.set_jurisdiction("KR");
  reg.set_phone_number("+821012345678");
  *reg.mutable_device() = ServerWorld::IdentityProto(fresh);
  WriteRpc("00_register_account", n++, reg);
  v1::AddDeviceRequest add;
  *add.mutable_device() = ServerWorld::IdentityProto(fresh);
  WriteRpc("01_add_device", n++, add);
  v1::RemoveDeviceRequest remove;
  remove.set_device_id(2);
  WriteRpc("02_remove_device", n++, remove);
  v1::ListDevicesRequest list;
  list.set_account_id(w.peer.account.str());
  WriteRpc("03_list_devices", n++, list);
  v1::LookupByPhoneNumberRequest lookup;
  lookup.set_phone_number("+81398765432");
  WriteRpc("04_lookup_by_phone_number", n++, lookup);
  v1::GetChallengeRequest challenge;
  *challenge.mutable_device() = ServerWorld::AddressProto(w.caller);
  WriteRpc("05_get_challenge", n++, challenge);
  v1::LoginRequest login;
  *login.mutable_device() = ServerWorld::AddressProto(w.caller);
  login.set_nonce(std::string(32, 'n'));
  login.set_signature(std::string(64, 's'));
  WriteRpc("06_login", n++, login);
  auto spk = crypto::X25519KeyPair::Generate(rng);
  v1::UploadSignedPrekeyRequest upload_spk;
  upload_spk.mutable_signed_prekey()->set_key_id(2);
  upload_spk.mutable_signed_prekey()->set_public_key(spk.public_key.str());
  upload_spk.mutable_signed_prekey()->set_signature(
      crypto::SignSignedPrekey(w.caller_identity.signing.secret_key, 2, spk.public_key).str());
  WriteRpc("07_upload_signed_prekey", n++, upload_spk);
  v1::UploadOneTimePrekeysRequest upload_otk;
  for (uint32_t id = 1; id <= 3; ++id) {
    auto* k = upload_otk.add_prekeys();
    k->set_key_id(id);
    k->set_public_key(crypto::X25519KeyPair::Generate(rng).public_key.str());
  }
  WriteRpc("08_upload_one_time_prekeys", n++, upload_otk);
  v1::ClaimBundleRequest claim;
  *claim.mutable_target() = ServerWorld::AddressProto(w.peer);
  WriteRpc("09_claim_bundle", n++, claim);
  WriteRpc("10_count_one_time_prekeys", n++, v1::CountOneTimePrekeysRequest());
  v1::SendRequest send;
  send.set_message_id(std::string(16, 'm'));
  *send.mutable_recipient() = ServerWorld::AddressProto(w.peer);
  send.set_ciphertext(std::string(40, 'c'));
  send.set_franking_commitment(std::string(32, 'f'));
  WriteRpc("11_send", n++, send);
  v1::SendToAccountRequest send_account;
  send_account.set_message_id(std::string(16, 'M'));
  send_account.set_account_id(w.peer.account.str());
  auto* dm = send_account.add_messages();
  dm->set_device_id(w.peer.device);
  dm->set_ciphertext(std::string(40, 'c'));
  dm->set_franking_commitment(std::string(32, 'f'));
  WriteRpc("12_send_to_account", n++, send_account);
  v1::FetchRequest fetch;
  fetch.set_limit(10);
  WriteRpc("13_fetch", n++, fetch);
  v1::AckRequest ack;
  ack.add_envelope_ids(1);
  WriteRpc("14_ack", n++, ack);
  WriteRpc("15_get_vault_key", n++, v1::GetVaultKeyRequest());
  v1::SubmitReportRequest report;
  report.set_jurisdiction("JP");
  report.set_sealed_report(std::string(100, 'r'));
  WriteRpc("16_submit_report", n++, report);
  WriteRpc("17_get_relay_challenge", n++, v1::GetRelayChallengeRequest());
  v1::RelayLoginRequest relay_login;
  relay_login.set_nonce(std::string(32, 'n'));
  relay_login.set_signature(std::string(64, 's'));
  WriteRpc("18_relay_login", n++, relay_login);
  v1::PullReportsRequest pull;
  pull.set_limit(10);
  WriteRpc("19_pull_reports", n++, pull);
  v1::AckReportsRequest ack_reports;
  ack_reports.add_report_ids(std::string(16, 'i'));
  WriteRpc("20_ack_reports", n++, ack_reports);
  v1::VerifyFrankingRequest verify;
  auto* c = verify.add_claims();
  c->set_franking_commitment(std::string(32, 'f'));
  *c->mutable_sender() = ServerWorld::AddressProto(w.peer);
  *c->mutable_recipient() = ServerWorld::AddressProto(w.caller);
  c->set_server_timestamp_micros(1'700'000'000'000'000);
  c->set_message_id(std::string(16, 'm'));
  c->set_franking_tag(std::string(32, 't'));
  WriteRpc("21_verify_franking", n++, verify);
  const std::string bearer = "Bearer " + crypto::ToHex(crypto::AsBytes(w.caller_token));
  Write("server_handlers", "22_authenticate", std::string(1, static_cast<char>(n)) + bearer);
  Write("server_handlers", "22_authenticate_malformed",
        std::string(1, static_cast<char>(n)) + "Bearer zz");
}
#endif

#ifdef LETTERBOX_SEEDS_VAULT
crypto::Bytes Concat(uint8_t first, crypto::ByteView rest) {
  crypto::Bytes out{first};
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

void VaultSeeds() {
  namespace v1 = letterbox::v1;
  using letterbox::fuzz::VaultWorld;
  auto world = VaultWorld::Create();
  if (world == nullptr) {
    std::fprintf(stderr, "vault world did not open\n");
    std::exit(1);
  }
  crypto::DeterministicRandom rng(15);
  auto message = [&](v1::ReportContent& content, const std::string& id, const std::string& text) {
    v1::ReportedMessage& m = *content.add_messages();
    m.set_message_id(id);
    m.mutable_sender()->set_account_id(std::string(16, '\xBB'));
    m.mutable_sender()->set_device_id(3);
    *m.mutable_recipient() = content.reporter();
    m.set_server_timestamp_micros(1'700'000'000'000'000);
    auto k_f = crypto::NewFrankingKey(rng);
    crypto::ByteWriter context;
    context.Label("letterbox.franking.context.v1").Bytes(crypto::AsBytes(id));
    m.set_franking_commitment(crypto::Commit(k_f, crypto::AsBytes(text), context.view()).str());
    m.set_franking_key(crypto::ToString(k_f.Expose()));
    m.set_plaintext(text);
    m.set_franking_tag(world->verifier
                           .Tag(m.franking_commitment(), m.sender(), m.recipient(),
                                m.server_timestamp_micros(), id)
                           .str());
  };
  v1::ReportContent valid;
  valid.set_version(1);
  *valid.mutable_reporter() = VaultWorld::Reporter();
  valid.set_category(v1::REPORT_CATEGORY_HARASSMENT);
  valid.set_comment("repeated threats");
  message(valid, std::string(16, '\x01'), "you will regret this");
  const std::string t = "sealed_report";
  Write(t, "valid_one_message", std::string(1, '\0') + valid.SerializeAsString());
  v1::ReportContent two = valid;
  message(two, std::string(16, '\x02'), "second message");
  Write(t, "valid_two_messages", std::string(1, '\0') + two.SerializeAsString());
  v1::ReportContent forged = valid;
  forged.mutable_messages(0)->set_franking_tag(std::string(32, '\x00'));
  Write(t, "forged_tag", std::string(1, '\0') + forged.SerializeAsString());
  v1::ReportContent altered = valid;
  altered.mutable_messages(0)->set_plaintext("something else");
  Write(t, "altered_plaintext", std::string(1, '\0') + altered.SerializeAsString());
  v1::ReportContent misattributed = valid;
  misattributed.mutable_reporter()->set_device_id(9);
  Write(t, "misattributed", std::string(1, '\0') + misattributed.SerializeAsString());
  v1::ReportContent no_category = valid;
  no_category.set_category(v1::REPORT_CATEGORY_UNSPECIFIED);
  Write(t, "malformed_category", std::string(1, '\0') + no_category.SerializeAsString());
  Write(t, "unknown_jurisdiction", std::string(1, '\x02') + valid.SerializeAsString());
  Write(t, "edge_empty_content", std::string(1, '\0'));
  auto sealed =
      crypto::SealedBoxSeal(world->intake_public_key, crypto::AsBytes(valid.SerializeAsString()))
          .value();
  Write(t, "raw_sealed_valid", Concat(1, sealed));
  Write(t, "raw_edge_short", std::string("\x01short", 6));
}
#endif

#ifdef LETTERBOX_SEEDS_CLIENT
void ClientSeeds(const Conversation& c) {
  namespace client = letterbox::client;
  const std::string t = "client_message";
  client::ClientMessage prekey{c.x3dh_with_otk, c.first};
  Write(t, "prekey_message", prekey.Encode());
  client::ClientMessage normal{std::nullopt, c.empty_plaintext};
  Write(t, "normal_message", normal.Encode());
  crypto::DeterministicRandom rng(16);
  client::InnerPlaintext inner{crypto::NewFrankingKey(rng),
                               crypto::SecretBytes(crypto::AsBytes("hello bob"))};
  Write(t, "inner_plaintext", inner.Encode().value().Expose());
  client::InnerPlaintext empty{crypto::NewFrankingKey(rng), crypto::SecretBytes()};
  Write(t, "inner_plaintext_empty_body", empty.Encode().value().Expose());
  crypto::Bytes unknown_type = normal.Encode();
  unknown_type[1] = 3;
  Write(t, "edge_unknown_type", unknown_type);
  Write(t, "edge_empty", std::string_view());
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus root, e.g. fuzz/corpus>\n", argv[0]);
    return 2;
  }
  if (!crypto::Initialize().ok()) return 1;
  g_root = argv[1];
  const Conversation conversation = MakeConversation();
  RatchetHeaderSeeds(conversation);
  ByteReaderSeeds();
  StorageCodecSeeds();
  RatchetSessionSeeds();
#ifdef LETTERBOX_SEEDS_SERVER
  ServerSeeds();
#endif
#ifdef LETTERBOX_SEEDS_VAULT
  VaultSeeds();
#endif
#ifdef LETTERBOX_SEEDS_CLIENT
  ClientSeeds(conversation);
#endif
  std::printf("wrote %d seeds under %s\n", g_written, argv[1]);
  return 0;
}
