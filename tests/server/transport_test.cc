// The transport around the services: health, reflection, the receive limit.
#include <cstdlib>

#include "grpc/health/v1/health.grpc.pb.h"
#include "test_server.h"

namespace letterbox::server::testing {
namespace {

TEST_CASE("The health service answers SERVING without a session") {
  TestServer t;
  auto health = grpc::health::v1::Health::NewStub(t.channel);
  grpc::health::v1::HealthCheckRequest q;
  grpc::health::v1::HealthCheckResponse r;
  REQUIRE(health->Check(TestServer::Ctx().get(), q, &r).ok());
  CHECK(r.status() == grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_CASE("Server reflection lists health and every letterbox service") {
  TestServer t;
  // A ServerReflectionRequest{list_services: ""} sent by Python's grpcio as
  // raw bytes (field 7, empty string), so no reflection stubs are needed.
  const std::string script =
      "import grpc,sys\n"
      "ch=grpc.insecure_channel('127.0.0.1:" +
      std::to_string(t.server->port()) +
      "')\n"
      "call=ch.stream_stream('/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',"
      "request_serializer=lambda b:b,response_deserializer=lambda b:b)\n"
      "data=b''.join(call(iter([b'\\x3a\\x00']),timeout=10))\n"
      "names=[b'grpc.health.v1.Health',b'letterbox.v1.AccountService',b'letterbox.v1.AuthService',"
      "b'letterbox.v1.KeyService',b'letterbox.v1.MessageService',b'letterbox.v1.ReportService',"
      "b'letterbox.v1.RelayService',b'letterbox.v1.DiagnosticsService']\n"
      "missing=[n for n in names if n not in data]\n"
      "print(missing)\n"
      "sys.exit(1 if missing else 0)\n";
  const std::string command = "/usr/bin/python3 -c \"$LB_REFLECTION_SCRIPT\"";
  REQUIRE(setenv("LB_REFLECTION_SCRIPT", script.c_str(), 1) == 0);
  CHECK(std::system(command.c_str()) == 0);
}

TEST_CASE("A request above max_receive_message_bytes is RESOURCE_EXHAUSTED") {
  ServerConfig config = TestServer::DefaultConfig();
  config.limits.max_receive_message_bytes = 16 * 1024;
  TestServer t(config);
  v1::NoopRequest q;
  q.set_payload(std::string(17 * 1024, 'x'));
  v1::NoopResponse r;
  CHECK(t.diagnostics->Noop(TestServer::Ctx().get(), q, &r).error_code() ==
        grpc::StatusCode::RESOURCE_EXHAUSTED);
  q.set_payload(std::string(15 * 1024, 'x'));
  CHECK(t.diagnostics->Noop(TestServer::Ctx().get(), q, &r).ok());
}

}  // namespace
}  // namespace letterbox::server::testing
