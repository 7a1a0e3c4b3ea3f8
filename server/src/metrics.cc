#include "letterbox/server/metrics.h"

#include <netdb.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace letterbox::server {
namespace {

// At most this many distinct method labels; later ones count as "other".
constexpr size_t kMaxMethods = 128;

// RocksDB properties the sampler reads, and the gauge each one feeds.
struct StorageGauge {
  const char* metric;
  const char* property;
  const char* help;
};
constexpr StorageGauge kStorageGauges[] = {
    {"letterbox_storage_estimated_keys", "rocksdb.estimate-num-keys",
     "Estimated number of keys in all column families"},
    {"letterbox_storage_live_sst_bytes", "rocksdb.live-sst-files-size",
     "Bytes of SST files of the current version"},
    {"letterbox_storage_estimated_live_data_bytes", "rocksdb.estimate-live-data-size",
     "Estimated bytes of live data"},
    {"letterbox_storage_memtable_bytes", "rocksdb.cur-size-all-mem-tables",
     "Bytes in active and unflushed memtables"},
    {"letterbox_storage_pending_compaction_bytes", "rocksdb.estimate-pending-compaction-bytes",
     "Estimated bytes compaction must rewrite"},
    {"letterbox_storage_running_compactions", "rocksdb.num-running-compactions",
     "Compactions running now"},
    {"letterbox_storage_background_errors", "rocksdb.background-errors",
     "Accumulated background errors (non-zero needs attention)"},
};

const std::vector<double>& LatencyBuckets() {
  static const auto* buckets =
      new std::vector<double>{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                              0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
  return *buckets;
}

// The status label: gRPC and abseil share the google.rpc.Code numbering.
std::string CodeName(grpc::StatusCode code) {
  std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? "UNKNOWN" : name;
}

bool KnownServicePrefix(std::string_view method) {
  return method.starts_with("/letterbox.") || method.starts_with("/grpc.");
}

}  // namespace

struct ServerMetrics::Impl {
  struct Method {
    prometheus::Histogram* latency;
    prometheus::Gauge* in_flight;
  };

  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>* requests = nullptr;
  prometheus::Family<prometheus::Histogram>* latency = nullptr;
  prometheus::Family<prometheus::Gauge>* in_flight = nullptr;
  std::vector<std::pair<const StorageGauge*, prometheus::Gauge*>> storage;
  prometheus::Gauge* storage_sampled_at = nullptr;

  absl::Mutex mu;
  absl::flat_hash_map<std::string, Method> methods ABSL_GUARDED_BY(mu);
  std::unique_ptr<prometheus::Exposer> exposer ABSL_GUARDED_BY(mu);
  int port ABSL_GUARDED_BY(mu) = 0;
  std::string host ABSL_GUARDED_BY(mu);

  absl::Mutex sampler_mu;
  bool stop_sampler ABSL_GUARDED_BY(sampler_mu) = false;
  std::thread sampler;  // started and joined only by Start/StopStorageSampler callers

  // The label for `raw` (bounded cardinality) and its per-method metrics.
  std::pair<std::string, Method> MethodFor(const char* raw) {
    std::string name = raw != nullptr && KnownServicePrefix(raw) ? raw : "other";
    absl::MutexLock lock(&mu);
    auto it = methods.find(name);
    if (it == methods.end()) {
      if (methods.size() >= kMaxMethods) name = "other";
      it = methods.find(name);
      if (it == methods.end()) {
        Method m{&latency->Add({{"method", name}}, LatencyBuckets()),
                 &in_flight->Add({{"method", name}})};
        it = methods.emplace(name, m).first;
      }
    }
    return {name, it->second};
  }
};

namespace {

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(ServerMetrics::Impl* metrics, const char* method) : metrics_(metrics) {
    auto [name, m] = metrics_->MethodFor(method);
    method_ = std::move(name);
    m_ = m;
    m_.in_flight->Increment();
    start_ = std::chrono::steady_clock::now();
  }

  ~MetricsInterceptor() override {
    // A call that ended without sending a status (cancelled) is counted here.
    if (!recorded_) Record(grpc::StatusCode::CANCELLED);
    m_.in_flight->Decrement();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!recorded_ && methods->QueryInterceptionHookPoint(
                          grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Record(grpc::StatusCode code) {
    recorded_ = true;
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    m_.latency->Observe(elapsed.count());
    metrics_->requests->Add({{"method", method_}, {"code", CodeName(code)}}).Increment();
  }

  ServerMetrics::Impl* metrics_;
  std::string method_;
  ServerMetrics::Impl::Method m_{};
  std::chrono::steady_clock::time_point start_;
  bool recorded_ = false;
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(ServerMetrics::Impl* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, info->method());
  }

 private:
  ServerMetrics::Impl* metrics_;
};

}  // namespace

ServerMetrics::ServerMetrics(std::string version) : impl_(std::make_unique<Impl>()) {
  auto& r = *impl_->registry;
  impl_->requests = &prometheus::BuildCounter()
                         .Name("letterbox_grpc_requests_total")
                         .Help("gRPC calls finished, by method and status code")
                         .Register(r);
  impl_->latency = &prometheus::BuildHistogram()
                        .Name("letterbox_grpc_request_duration_seconds")
                        .Help("gRPC call duration from arrival to status, by method")
                        .Register(r);
  impl_->in_flight = &prometheus::BuildGauge()
                          .Name("letterbox_grpc_requests_in_flight")
                          .Help("gRPC calls started and not yet finished, by method")
                          .Register(r);
  for (const StorageGauge& g : kStorageGauges) {
    auto& family = prometheus::BuildGauge().Name(g.metric).Help(g.help).Register(r);
    impl_->storage.emplace_back(&g, &family.Add({}));
  }
  impl_->storage_sampled_at = &prometheus::BuildGauge()
                                   .Name("letterbox_storage_last_sample_time_seconds")
                                   .Help("Unix time of the last storage sample (0: never sampled)")
                                   .Register(r)
                                   .Add({});
  prometheus::BuildGauge()
      .Name("letterbox_build_info")
      .Help("Always 1; the version label says which build runs")
      .Register(r)
      .Add({{"version", std::move(version)}})
      .Set(1);
  prometheus::BuildGauge()
      .Name("letterbox_process_start_time_seconds")
      .Help("Unix time the process set up its metrics")
      .Register(r)
      .Add({})
      .Set(static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count()));
}

ServerMetrics::~ServerMetrics() {
  StopStorageSampler();
  StopServing();
}

namespace {

// Opens and closes one TCP connection to host:port, ignoring failure.
void Poke(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &result) != 0) return;
  for (addrinfo* a = result; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const bool connected = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    ::close(fd);
    if (connected) break;
  }
  ::freeaddrinfo(result);
}

}  // namespace

void ServerMetrics::StopServing() {
  std::unique_ptr<prometheus::Exposer> exposer;
  std::string host;
  int port = 0;
  {
    absl::MutexLock lock(&impl_->mu);
    exposer = std::move(impl_->exposer);
    host = impl_->host;
    port = impl_->port;
    impl_->port = 0;
  }
  if (exposer == nullptr) return;
  // civetweb's accept loop polls with a 2 s quantum before it sees the stop
  // flag; a connection wakes it at once.
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "::") host = "::1";
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    exposer.reset();
    stopped = true;
  });
  while (!stopped) {
    Poke(host, port);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stopper.join();
}

absl::Status ServerMetrics::Serve(const std::string& address) {
  absl::MutexLock lock(&impl_->mu);
  if (impl_->exposer != nullptr) return absl::FailedPreconditionError("metrics already served");
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/2);
    exposer->RegisterCollectable(impl_->registry);
    std::vector<int> ports = exposer->GetListeningPorts();
    if (ports.empty()) return absl::UnavailableError("metrics listener bound no port");
    impl_->port = ports.front();
    const size_t colon = address.rfind(':');
    impl_->host = address.substr(0, colon == std::string::npos ? 0 : colon);
    if (impl_->host.size() >= 2 && impl_->host.front() == '[') {
      impl_->host = impl_->host.substr(1, impl_->host.size() - 2);
    }
    impl_->exposer = std::move(exposer);
  } catch (const std::exception& e) {
    return absl::UnavailableError("cannot listen for metrics on " + address + ": " + e.what());
  }
  return absl::OkStatus();
}

int ServerMetrics::port() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->port;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
ServerMetrics::NewInterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(impl_.get());
}

void ServerMetrics::SampleStorage(const PropertySource& source) {
  for (auto& [gauge, metric] : impl_->storage) {
    metric->Set(static_cast<double>(source(gauge->property)));
  }
  impl_->storage_sampled_at->Set(
      static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count()));
}

void ServerMetrics::StartStorageSampler(PropertySource source, absl::Duration period) {
  StopStorageSampler();
  {
    absl::MutexLock lock(&impl_->sampler_mu);
    impl_->stop_sampler = false;
  }
  impl_->sampler = std::thread([this, source = std::move(source), period] {
    Impl& impl = *impl_;
    while (true) {
      SampleStorage(source);
      absl::MutexLock lock(&impl.sampler_mu);
      if (impl.sampler_mu.AwaitWithTimeout(absl::Condition(&impl.stop_sampler), period)) return;
    }
  });
}

void ServerMetrics::StopStorageSampler() {
  if (!impl_->sampler.joinable()) return;
  {
    absl::MutexLock lock(&impl_->sampler_mu);
    impl_->stop_sampler = true;
  }
  impl_->sampler.join();
}

std::string ServerMetrics::Render() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(impl_->registry->Collect());
}

}  // namespace letterbox::server
