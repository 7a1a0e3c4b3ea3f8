// File: letterbox/server/metrics.h
//
// Prometheus metrics for the Letterbox servers, served as text on a separate
// HTTP listener (prometheus-cpp's Exposer, GET /metrics), loopback by
// default. Three sources feed it:
//
//  - a gRPC server interceptor: per method and status code a request counter,
//    per method a latency histogram, and a gauge of calls in flight;
//  - a periodic storage sampler (a background thread) that reads RocksDB
//    properties summed over all column families through a PropertySource
//    (RocksDbStores::SumIntProperty): estimate-num-keys, live SST bytes,
//    estimated live data bytes, memtable bytes, pending compaction bytes,
//    running compactions, background errors. Per-mailbox and prekey-pool
//    aggregates are not sampled: the store interfaces offer them only per
//    device, which is not cheap over all devices;
//  - process facts: start time and build version.
// The names and labels are listed in docs/operations.md. Labels never carry
// user data: method names are bounded to the registered letterbox and grpc
// services (anything else is counted as method="other").
//
//   ServerMetrics metrics;                                   // outlives the server
//   LB_RETURN_IF_ERROR(metrics.Serve("127.0.0.1:0"));
//   options.extra_interceptors.push_back(metrics.NewInterceptorFactory());
//   metrics.StartStorageSampler(
//       [&](const std::string& p) { return stores->SumIntProperty(p); }, absl::Seconds(15));
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace letterbox::server {

// Thread-safe. Must outlive every gRPC server that uses one of its
// interceptor factories.
class ServerMetrics {
 public:
  // Reads one integer property, e.g. "rocksdb.estimate-num-keys". Called from
  // the sampler thread; must be thread-safe.
  using PropertySource = std::function<uint64_t(const std::string& property)>;

  // Registers the metric families; serves nothing until Serve.
  explicit ServerMetrics(std::string version = "0.1.0");
  // Stops the sampler and the HTTP listener.
  ~ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // Starts serving GET /metrics on `address` (host:port, port 0 picks one).
  // UNAVAILABLE if the address cannot be bound; FAILED_PRECONDITION if
  // already serving.
  [[nodiscard]] absl::Status Serve(const std::string& address);

  // Stops the HTTP listener (waiting for requests being answered); the
  // metrics keep counting. Idempotent; the destructor calls it.
  void StopServing();

  // The bound HTTP port; 0 if not serving.
  [[nodiscard]] int port() const;

  // A new interceptor factory recording into these metrics, for
  // MessagingServer::Options::extra_interceptors (or any grpc::ServerBuilder).
  [[nodiscard]] std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewInterceptorFactory();

  // Samples `source` once now and then every `period` on a background
  // thread until StopStorageSampler or destruction. A second call replaces
  // the first sampler.
  void StartStorageSampler(PropertySource source, absl::Duration period);
  // Stops and joins the sampler thread; idempotent.
  void StopStorageSampler();
  // One sample, on the calling thread.
  void SampleStorage(const PropertySource& source);

  // The current metrics in Prometheus text format (what GET /metrics serves).
  [[nodiscard]] std::string Render() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace letterbox::server
