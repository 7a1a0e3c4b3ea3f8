#include "letterbox/server/messaging_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>

#include <chrono>
#include <optional>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.pb.h"
#include "grpc_services.h"
#include "letterbox/common/status.h"
#include "letterbox/crypto/random.h"
#include "letterbox/server/wire.h"

namespace letterbox::server {
namespace {

// Calls that may wait for a writer thread, per thread, before the gate
// answers UNAVAILABLE.
constexpr size_t kQueuedPerWriterThread = 64;

template <typename Key>
absl::StatusOr<std::optional<Key>> ParseOptionalHexKey(const std::string& hex,
                                                       std::string_view name) {
  if (hex.empty()) return std::optional<Key>();
  absl::StatusOr<crypto::Bytes> bytes = crypto::FromHex(hex);
  if (!bytes.ok() || bytes->size() != Key::kSize) {
    return absl::InvalidArgumentError(std::string(name) + ": must be hex of 32 bytes");
  }
  return std::optional<Key>(*Key::FromBytes(*bytes));
}

absl::Status ValidateConfig(const ServerConfig& config) {
  if (config.jurisdictions.empty()) {
    return absl::InvalidArgumentError("jurisdictions: at least one is needed");
  }
  for (const std::string& j : config.jurisdictions) {
    if (!ValidateJurisdiction(j, config.jurisdictions).ok()) {
      return absl::InvalidArgumentError("jurisdictions: each must be 2-8 upper-case letters");
    }
  }
  const Limits& l = config.limits;
  if (l.max_devices_per_account == 0 || l.max_ciphertext_bytes == 0 || l.max_fetch_page == 0 ||
      l.max_ack_batch == 0 || l.max_prekeys_per_upload == 0 || l.max_report_bytes == 0 ||
      l.max_receive_message_bytes == 0 || l.max_send_message_bytes == 0 ||
      l.max_concurrent_streams == 0 || l.resource_quota_bytes == 0 || l.max_threads <= 0) {
    return absl::InvalidArgumentError("limits: a size or count limit is zero");
  }
  if (config.fsync_writer_threads < 0 || config.fsync_writer_threads > 1024) {
    return absl::InvalidArgumentError("fsync_writer_threads: must be 0..1024");
  }
  if (l.challenge_ttl <= absl::ZeroDuration() || l.session_ttl <= absl::ZeroDuration() ||
      l.envelope_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("limits: a TTL is not positive");
  }
  return absl::OkStatus();
}

}  // namespace

struct MessagingServer::Impl {
  Impl(const ServerConfig& config_in, storage::Stores& stores, const Clock& clock,
       ServerKeys keys_in, std::optional<crypto::X25519PublicKey> intake_key,
       std::optional<crypto::Ed25519PublicKey> relay_key)
      : config(config_in),
        keys(std::move(keys_in)),
        auth(stores, clock, config.limits, relay_key, crypto::SystemRandom::Instance()),
        context{.stores = stores,
                .clock = clock,
                .config = config,
                .keys = keys,
                .auth = auth,
                .notifier = notifier,
                .random = crypto::SystemRandom::Instance(),
                .vault_intake_key = intake_key},
        accounts(context),
        key_handler(context),
        messages(context),
        reports(context),
        relay(context),
        pool(config.durability == storage::Durability::kFsync && config.fsync_writer_threads > 0
                 ? std::make_unique<WorkPool>(
                       config.fsync_writer_threads,
                       kQueuedPerWriterThread * static_cast<size_t>(config.fsync_writer_threads))
                 : nullptr),
        gate(auth, pool.get()),
        account_service(gate, accounts),
        auth_service(gate, accounts),
        key_service(gate, key_handler),
        message_service(gate, messages, notifier),
        report_service(gate, reports),
        relay_service(gate, relay) {}

  const ServerConfig config;
  const ServerKeys keys;
  Authenticator auth;
  MailboxNotifier notifier;
  const HandlerContext context;
  AccountHandler accounts;
  KeyHandler key_handler;
  MessageHandler messages;
  ReportHandler reports;
  RelayHandler relay;
  // fsync mode only; stops (after the server, declared below) before the
  // handlers its tasks use are destroyed.
  std::unique_ptr<WorkPool> pool;
  Gate gate;
  AccountServiceImpl account_service;
  AuthServiceImpl auth_service;
  KeyServiceImpl key_service;
  MessageServiceImpl message_service;
  ReportServiceImpl report_service;
  RelayServiceImpl relay_service;
  DiagnosticsServiceImpl diagnostics_service;

  int port = 0;
  absl::Mutex mu;
  bool shut_down ABSL_GUARDED_BY(mu) = false;
  // Declared last: destroyed first, before everything its calls use.
  std::unique_ptr<grpc::Server> server;
};

absl::StatusOr<std::unique_ptr<MessagingServer>> MessagingServer::Start(const ServerConfig& config,
                                                                        storage::Stores& stores,
                                                                        const Clock& clock,
                                                                        ServerKeys keys,
                                                                        Options options) {
  LB_RETURN_IF_ERROR(ValidateConfig(config));
  LB_ASSIGN_OR_RETURN(std::optional<crypto::X25519PublicKey> intake_key,
                      ParseOptionalHexKey<crypto::X25519PublicKey>(
                          config.vault_intake_public_key_hex, "vault_intake_public_key_hex"));
  LB_ASSIGN_OR_RETURN(std::optional<crypto::Ed25519PublicKey> relay_key,
                      ParseOptionalHexKey<crypto::Ed25519PublicKey>(
                          config.vault_relay_public_key_hex, "vault_relay_public_key_hex"));
  auto impl = std::make_unique<Impl>(config, stores, clock, std::move(keys), intake_key, relay_key);

  const Limits& limits = config.limits;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // Keeps the health descriptor linked so reflection can describe it.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();

  grpc::ServerBuilder builder;
  builder.AddListeningPort(
      options.listen_address,
      options.credentials != nullptr ? options.credentials : grpc::InsecureServerCredentials(),
      &impl->port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(limits.max_receive_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(limits.max_send_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(limits.max_concurrent_streams));
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      static_cast<int>(absl::ToInt64Milliseconds(limits.keepalive_min_ping_interval)));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  // A second server on the same port must fail, not share it silently.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  grpc::ResourceQuota quota("letterbox-server");
  quota.Resize(static_cast<size_t>(limits.resource_quota_bytes));
  quota.SetMaxThreads(limits.max_threads);
  builder.SetResourceQuota(quota);

  builder.RegisterService(&impl->account_service);
  builder.RegisterService(&impl->auth_service);
  builder.RegisterService(&impl->key_service);
  builder.RegisterService(&impl->message_service);
  builder.RegisterService(&impl->report_service);
  builder.RegisterService(&impl->relay_service);
  if (config.enable_diagnostics) builder.RegisterService(&impl->diagnostics_service);
  if (!options.extra_interceptors.empty()) {
    builder.experimental().SetInterceptorCreators(std::move(options.extra_interceptors));
  }

  try {
    impl->server = builder.BuildAndStart();
  } catch (...) {
    impl->server.reset();
  }
  if (impl->server == nullptr || impl->port == 0) {
    if (impl->server != nullptr) impl->server->Shutdown();
    return absl::UnavailableError("cannot listen on " + options.listen_address);
  }
  return std::unique_ptr<MessagingServer>(new MessagingServer(std::move(impl)));
}

MessagingServer::MessagingServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

int MessagingServer::port() const { return impl_->port; }

void MessagingServer::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->shut_down) return;
    impl_->shut_down = true;
  }
  if (grpc::HealthCheckServiceInterface* health = impl_->server->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  impl_->notifier.CloseAll();
  const auto deadline =
      std::chrono::system_clock::now() +
      std::chrono::microseconds(absl::ToInt64Microseconds(std::max(grace, absl::ZeroDuration())));
  impl_->server->Shutdown(deadline);
}

void MessagingServer::Wait() { impl_->server->Wait(); }

MessagingServer::~MessagingServer() {
  if (impl_ == nullptr) return;
  Shutdown(absl::ZeroDuration());
  impl_->server->Wait();
  impl_->server.reset();
}

}  // namespace letterbox::server
