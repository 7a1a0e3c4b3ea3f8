// File: letterbox/vault/admin_channel.h
//
// The staff tool's connection to the vault, optionally from a chosen local
// source address. The vault decides by the connection's source address which
// jurisdiction's networks a request comes from, so `letterbox-admin --source
// 127.0.0.2` must really send from 127.0.0.2.
//
// gRPC 1.51's C++ API has no channel argument for the client's local address
// (grpc_types.h lists none; GRPC_ARG_SOCKET_MUTATOR needs an internal struct
// layout). So with a source address this code opens the TCP socket itself —
// socket(), bind(source:0), connect(vault) — and hands the connected socket
// to grpc::CreateCustomInsecureChannelFromFd, a public API. Such a channel
// does not reconnect (fine for a one-shot command) and is plaintext only:
// with TLS, choose the source address by routing instead.
//
//   LB_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
//                       OpenAdminChannel({.target = "127.0.0.1:7450",
//                                         .source = "127.0.0.2"}));
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace letterbox::vault {

struct AdminChannelOptions {
  // "host:port", "ipv4:host:port" or "[v6]:port". Required.
  std::string target;
  // A local IP literal to send from; empty lets the kernel choose (and the
  // channel is then an ordinary reconnecting gRPC channel).
  std::string source;
  // Bound on the TCP connect when `source` is set.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Largest message the channel accepts (an audit export page can be big).
  int max_receive_message_bytes = 16 << 20;
};

// A channel to `options.target`. INVALID_ARGUMENT for an unparsable target or
// source, or a source of another address family than the target;
// UNAVAILABLE if the source cannot be bound (not a local address) or the
// connect fails or times out. Thread-safe; the channel is shared with the
// caller's stubs.
[[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenAdminChannel(
    const AdminChannelOptions& options);

}  // namespace letterbox::vault
