// The server on RocksDbStores: stop it, reopen the same data directory,
// start again, and nothing acknowledged is missing (threat model P6).
#include <filesystem>

#include "letterbox/storage/rocksdb_store.h"
#include "test_server.h"

namespace letterbox::server::testing {
namespace {

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("letterbox-server-restart-" + crypto::ToHex(crypto::AsBytes(RandomBytes(8))));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

TEST_CASE("Every acknowledged Send - account and session survives a restart on RocksDB") {
  TempDir dir;
  auto opened = storage::RocksDbStores::Open({.path = dir.path() + "/db"});
  REQUIRE(opened.ok());
  std::unique_ptr<storage::RocksDbStores> stores = *std::move(opened);
  auto t = std::make_unique<TestServer>(TestServer::DefaultConfig(), stores.get());
  TestDevice alice = t->RegisterAndLogin();
  TestDevice bob = t->RegisterAndLogin();
  t->UploadPrekeys(bob, 3);
  std::vector<uint64_t> acknowledged;
  for (int i = 0; i < 20; ++i) {
    v1::SendResponse r;
    REQUIRE(t->messages->Send(t->Ctx(alice).get(), TestServer::SendTo(bob, std::to_string(i)), &r)
                .ok());
    acknowledged.push_back(r.deliveries(0).envelope_id());
  }
  v1::SubmitReportRequest report;
  report.set_jurisdiction("JP");
  report.set_sealed_report(RandomBytes(100));
  v1::SubmitReportResponse submitted;
  REQUIRE(t->reports->SubmitReport(t->Ctx(alice).get(), report, &submitted).ok());

  t->Stop();
  REQUIRE(stores->Flush().ok());
  stores.reset();
  opened = storage::RocksDbStores::Open({.path = dir.path() + "/db"});
  REQUIRE(opened.ok());
  stores = *std::move(opened);
  t->ReplaceStores(stores.get());
  t->Start();

  v1::FetchRequest q;
  q.set_limit(100);
  v1::FetchResponse f;
  REQUIRE(t->messages->Fetch(t->Ctx(bob).get(), q, &f).ok());  // the old token still works
  std::vector<uint64_t> fetched;
  for (const auto& e : f.envelopes()) fetched.push_back(e.envelope_id());
  CHECK(fetched == acknowledged);
  v1::CountOneTimePrekeysResponse c;
  REQUIRE(t->keys_stub->CountOneTimePrekeys(t->Ctx(bob).get(), {}, &c).ok());
  CHECK(c.count() == 3);
  v1::PullReportsRequest pq;
  pq.set_limit(10);
  v1::PullReportsResponse pr;
  REQUIRE(t->relay->PullReports(t->Ctx(t->RelayLogin()).get(), pq, &pr).ok());
  REQUIRE(pr.reports_size() == 1);
  CHECK(pr.reports(0).report_id() == submitted.report_id());
  t.reset();
}

}  // namespace
}  // namespace letterbox::server::testing
