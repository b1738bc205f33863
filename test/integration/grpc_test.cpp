// gRPC end to end through sluice: a gRPC client -> sluice (HTTP/2 with prior knowledge) ->
// a gRPC server over h2c, both Debian's python3-grpcio (test/grpc/grpc_probe.py), so neither
// end shares code with sluice or nghttp2. Unary, server-streaming, client-streaming and bidi
// calls, trailing metadata, an error status (Trailers-Only), a deadline and a cancel that reach
// the server.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support/proxy_harness.hpp"
#include "support/sluice_process.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

const std::string kPython = "/usr/bin/python3";  // Debian's, where python3-grpcio lives
const std::string kProbe = std::string(SLUICE_SOURCE_DIR) + "/test/grpc/grpc_probe.py";

class Grpc : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    SpawnOptions options;
    options.program = kPython;
    ASSERT_TRUE(Child::spawn({kProbe, "server"}, server_, options));
    ASSERT_TRUE(server_->wait_stderr(
        [](std::string_view err) { return err.find('\n') != std::string_view::npos; }, 20s));
    const std::string& line = server_->err();
    ASSERT_EQ(line.rfind("port ", 0), 0u) << line;
    port_ = std::stoi(line.substr(5));
    proxy_ = std::make_unique<ProxyHarness>(
        "http://127.0.0.1:" + std::to_string(port_),
        [](ReverseProxy& p) { p.transport = make_http2_transport(); });
  }
  static void TearDownTestSuite() {
    proxy_.reset();
    server_.reset();  // kills and reaps it
  }

  // Runs one case of the probe's client through the proxy.
  static testing::AssertionResult call(const std::string& which) {
    SpawnOptions options;
    options.program = kPython;
    std::unique_ptr<Child> client;
    auto spawned =
        Child::spawn({kProbe, "client", std::to_string(proxy_->port()), which}, client, options);
    if (!spawned) return spawned;
    int status = 0;
    auto exited = client->wait_exit(status, 30s);
    if (!exited) return exited;
    if (status != 0 || client->out().find("ok " + which) == std::string::npos) {
      return testing::AssertionFailure() << describe_status(status) << "\nstdout:\n"
                                         << client->out() << "stderr:\n"
                                         << client->err();
    }
    return testing::AssertionSuccess();
  }

  static std::unique_ptr<Child> server_;
  static int port_;
  static std::unique_ptr<ProxyHarness> proxy_;
};

std::unique_ptr<Child> Grpc::server_;
int Grpc::port_ = 0;
std::unique_ptr<ProxyHarness> Grpc::proxy_;

TEST_F(Grpc, UnaryWithTrailingMetadata) { EXPECT_TRUE(call("unary")); }
TEST_F(Grpc, ServerStreaming) { EXPECT_TRUE(call("server_streaming")); }
TEST_F(Grpc, ClientStreaming) { EXPECT_TRUE(call("client_streaming")); }
TEST_F(Grpc, BidiEachAnswerBeforeTheNextMessage) { EXPECT_TRUE(call("bidi")); }
TEST_F(Grpc, AnErrorStatusArrivesAsTrailersOnly) { EXPECT_TRUE(call("error")); }
TEST_F(Grpc, ADeadlineEndsTheCallAtTheServer) { EXPECT_TRUE(call("deadline")); }
TEST_F(Grpc, AClientCancelReachesTheServer) { EXPECT_TRUE(call("cancel")); }

}  // namespace
}  // namespace sluice::test
