// Metrics rendering and the structured log line format.
#include <catch2/catch.hpp>
#include <string>

#include "letterbox/server/logging.h"
#include "letterbox/server/metrics.h"

namespace letterbox::server {
namespace {

TEST_CASE("the storage sampler exports RocksDB properties as gauges") {
  ServerMetrics metrics;
  metrics.SampleStorage([](const std::string& property) -> uint64_t {
    if (property == "rocksdb.estimate-num-keys") return 42;
    if (property == "rocksdb.live-sst-files-size") return 4096;
    return 0;
  });
  const std::string text = metrics.Render();
  CHECK(text.find("letterbox_storage_estimated_keys 42") != std::string::npos);
  CHECK(text.find("letterbox_storage_live_sst_bytes 4096") != std::string::npos);
}

TEST_CASE("the background sampler samples at once and stops cleanly") {
  ServerMetrics metrics;
  metrics.StartStorageSampler([](const std::string&) -> uint64_t { return 7; }, absl::Hours(1));
  metrics.StopStorageSampler();  // returns without waiting for the period
  CHECK(metrics.Render().find("letterbox_storage_estimated_keys 7") != std::string::npos);
  metrics.StopStorageSampler();  // idempotent
}

TEST_CASE("metrics are served on a loopback port chosen by the OS") {
  ServerMetrics metrics;
  REQUIRE(metrics.Serve("127.0.0.1:0").ok());
  CHECK(metrics.port() > 0);
  CHECK(metrics.Serve("127.0.0.1:0").code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("StopServing closes the metrics listener and may be called twice") {
  ServerMetrics metrics;
  REQUIRE(metrics.Serve("127.0.0.1:0").ok());
  metrics.StopServing();
  CHECK(metrics.port() == 0);
  metrics.StopServing();
  CHECK(metrics.Serve("127.0.0.1:0").ok());
}

TEST_CASE("a log event is one line of key=value fields - quoting where needed") {
  CHECK(FormatEvent("listening", {{"address", "127.0.0.1:7443"}, {"port", 7443}, {"tls", false}}) ==
        "event=listening address=127.0.0.1:7443 port=7443 tls=false");
  CHECK(FormatEvent("fatal", {{"error", "cannot open \"x\"\nnext"}}) ==
        "event=fatal error=\"cannot open \\\"x\\\"\\x0anext\"");
  CHECK(FormatEvent("e", {{"empty", ""}}) == "event=e empty=\"\"");
}

}  // namespace
}  // namespace letterbox::server
