// gRPC end to end through sluice: a gRPC client -> sluice (HTTP/2 with prior knowledge) ->
// a gRPC server over h2c, both Debian's python3-grpcio (test/grpc/grpc_probe.py), so neither
// end shares code with sluice or nghttp2. Unary, server-streaming, client-streaming and bidi
// calls, trailing metadata, an error status (Trailers-Only), a deadline and a cancel that reach
// the server; through a ReverseProxy in-process, and through the fleet binary (its balancing
// transport in front of the HTTP/2 one).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support/fleet_files.hpp"
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
    // The same through the fleet (sluice --config): a pool whose server speaks h2.
    dir_ = std::make_unique<TempDir>();
    const auto file = dir_->write("fleet.yaml",
                                  "listeners:\n  - listen: 127.0.0.1:0\n"
                                  "upstreams:\n  grpc:\n    protocol: h2\n"
                                  "    servers:\n      - url: http://127.0.0.1:" +
                                      std::to_string(port_) + "\nroutes:\n  - upstream: grpc\n");
    ASSERT_TRUE(Child::spawn({"--config", file.string()}, fleet_));
    constexpr std::string_view kListening = "sluice: listening on http://127.0.0.1:";
    ASSERT_TRUE(fleet_->wait_stderr(
        [&](std::string_view err) {
          const auto at = err.find(kListening);
          return at != std::string_view::npos &&
                 err.find_first_of(" ,\n", at + kListening.size()) != std::string_view::npos;
        },
        20s));
    const std::string& err = fleet_->err();
    fleet_port_ = std::stoi(err.substr(err.find(kListening) + kListening.size()));
  }
  static void TearDownTestSuite() {
    fleet_.reset();  // kills and reaps it
    proxy_.reset();
    server_.reset();
    dir_.reset();
  }

  // Runs one case of the probe's client through the proxy, or through the fleet's listener.
  static testing::AssertionResult call(const std::string& which, bool fleet = false) {
    SpawnOptions options;
    options.program = kPython;
    std::unique_ptr<Child> client;
    const int port = fleet ? fleet_port_ : proxy_->port();
    auto spawned = Child::spawn({kProbe, "client", std::to_string(port), which}, client, options);
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
  static std::unique_ptr<TempDir> dir_;
  static std::unique_ptr<Child> fleet_;
  static int fleet_port_;
};

std::unique_ptr<Child> Grpc::server_;
int Grpc::port_ = 0;
std::unique_ptr<ProxyHarness> Grpc::proxy_;
std::unique_ptr<TempDir> Grpc::dir_;
std::unique_ptr<Child> Grpc::fleet_;
int Grpc::fleet_port_ = 0;

TEST_F(Grpc, UnaryWithTrailingMetadata) { EXPECT_TRUE(call("unary")); }
TEST_F(Grpc, ServerStreaming) { EXPECT_TRUE(call("server_streaming")); }
TEST_F(Grpc, ClientStreaming) { EXPECT_TRUE(call("client_streaming")); }
TEST_F(Grpc, BidiEachAnswerBeforeTheNextMessage) { EXPECT_TRUE(call("bidi")); }
TEST_F(Grpc, AnErrorStatusArrivesAsTrailersOnly) { EXPECT_TRUE(call("error")); }
TEST_F(Grpc, ADeadlineEndsTheCallAtTheServer) { EXPECT_TRUE(call("deadline")); }
TEST_F(Grpc, AClientCancelReachesTheServer) { EXPECT_TRUE(call("cancel")); }
// The fleet's balancing transport returns before its member's upload ends: the request body
// must outlive that round trip.
TEST_F(Grpc, FleetClientStreaming) { EXPECT_TRUE(call("client_streaming", /*fleet=*/true)); }
TEST_F(Grpc, FleetBidi) { EXPECT_TRUE(call("bidi", /*fleet=*/true)); }

}  // namespace
}  // namespace sluice::test
