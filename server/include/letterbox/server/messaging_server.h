// File: letterbox/server/messaging_server.h
//
// The messaging server as one object: it builds the request handlers on the
// given stores, clock and keys, registers every letterbox.v1 service (plus
// grpc.health.v1.Health and server reflection) on the gRPC callback API with
// explicit transport limits, and starts listening. The binary's main() loads
// config and keys and calls Start; tests do the same on 127.0.0.1:0 with
// MemoryStores and a FakeClock.
//
//   LB_ASSIGN_OR_RETURN(std::unique_ptr<MessagingServer> server,
//                       MessagingServer::Start(config, stores, clock, std::move(keys), {}));
//   std::cout << "listening on " << server->port();
//   ...
//   server->Shutdown(absl::Seconds(5));
#pragma once

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "letterbox/common/clock.h"
#include "letterbox/server/config.h"
#include "letterbox/server/handler_context.h"
#include "letterbox/storage/stores.h"

namespace letterbox::server {

// Thread-safe. `stores` and `clock` must outlive the server.
class MessagingServer {
 public:
  struct Options {
    // host:port; port 0 lets the OS pick (see port()).
    std::string listen_address = "127.0.0.1:0";
    // Null: insecure (loopback development only).
    std::shared_ptr<grpc::ServerCredentials> credentials;
    // Run in order before the services (e.g. metrics, logging).
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        extra_interceptors;
  };

  // Builds and starts the server (callback API), with health + reflection.
  // `config.listen_address` is not used (Options::listen_address is).
  // Errors: INVALID_ARGUMENT (bad config: vault keys not hex of 32 bytes,
  // jurisdictions malformed, a zero limit that would refuse everything),
  // UNAVAILABLE (cannot bind the address).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MessagingServer>> Start(
      const ServerConfig& config, storage::Stores& stores, const Clock& clock, ServerKeys keys,
      Options options);

  // The port the server listens on.
  [[nodiscard]] int port() const;

  // Stops accepting, ends Subscribe streams, drains in-flight calls within
  // `grace` (then cancels them), then returns. Idempotent; thread-safe.
  void Shutdown(absl::Duration grace);

  // Blocks until the server has shut down (Shutdown called elsewhere).
  void Wait();

  // Shutdown(0) if still running.
  ~MessagingServer();

  MessagingServer(const MessagingServer&) = delete;
  MessagingServer& operator=(const MessagingServer&) = delete;

  struct Impl;

 private:
  explicit MessagingServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace letterbox::server
