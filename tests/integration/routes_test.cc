// Route: sandgate connects to a real proxy (tinyproxy for HTTP CONNECT, microsocks for SOCKS5),
// performs the handshake for the destination by name, and hands the tunnel to the command.
// proxied.test resolves to an unreachable TEST-NET address in the sandbox and to the test's
// server only in the proxy's private /etc/hosts: a tunnel that works was opened by name.
#include <gmock/gmock.h>
#include <unistd.h>

#include "tests/helpers/http_server.h"
#include "tests/helpers/scripted_controller.h"
#include "tests/integration/names_fixture.h"

namespace sandgate::testing {
namespace {

using ::testing::HasSubstr;

class RoutesTest : public NamesTest {
 protected:
  void SetUp() override {
    NamesTest::SetUp();
    if (IsSkipped()) return;
    if (geteuid() != 0) GTEST_SKIP() << "the proxies' private /etc/hosts needs root";
    for (std::string why : {std::string(), std::string()}) {
      if (!Tinyproxy::Installed(&why) || !Microsocks::Installed(&why)) GTEST_SKIP() << why;
    }
  }
  static HostMap ProxyHosts() { return {{"proxied.test", "127.0.0.1"}}; }
};

TEST_F(RoutesTest, RouteRuleThroughHttpConnectProxy) {
  HostHttpServer http;
  Tinyproxy proxy({.hosts = ProxyHosts()});
  auto r = Run({"--route", "proxied.test", "--proxy", "http://127.0.0.1:" + proxy.Port()},
               Curl("proxied.test", http.Port()));
  EXPECT_EQ(r.out, "ok curl=0\n") << r.err;
  EXPECT_EQ(http.Served(), 1);
  EXPECT_TRUE(proxy.SawConnect("proxied.test:" + http.Port())) << proxy.Log();
  auto audit = Audit("tcp");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0]["decision"], "route");
  EXPECT_EQ(audit[0]["rule"], "proxied.test");
  EXPECT_EQ(audit[0]["destination"]["host"], "proxied.test");
  EXPECT_EQ(audit[0]["proxy"], "http://127.0.0.1:" + proxy.Port());
}

TEST_F(RoutesTest, RouteRuleThroughSocks5Proxy) {
  HostHttpServer http;
  Microsocks proxy({.hosts = ProxyHosts()});
  auto r = Run({"--route", "**.test", "--proxy", "socks5://127.0.0.1:" + proxy.Port()},
               Curl("proxied.test", http.Port()));
  EXPECT_EQ(r.out, "ok curl=0\n") << r.err;
  EXPECT_EQ(http.Served(), 1);
  ASSERT_EQ(Audit("tcp").size(), 1u);
  EXPECT_EQ(Audit("tcp")[0]["decision"], "route");
}

TEST_F(RoutesTest, ProxyCredentialsAreUsed) {
  HostHttpServer http;
  Tinyproxy http_proxy({.hosts = ProxyHosts(), .basic_auth = BasicAuth{"agent", "s3cret"}});
  Microsocks socks_proxy({.hosts = ProxyHosts(), .auth = BasicAuth{"agent", "s3cret"}});
  auto via_http = Run({"--route", "proxied.test", "--proxy",
                       "http://agent:s3cret@127.0.0.1:" + http_proxy.Port()},
                      Curl("proxied.test", http.Port()));
  EXPECT_EQ(via_http.out, "ok curl=0\n") << via_http.err;
  auto via_socks = Run({"--route", "proxied.test", "--proxy",
                        "socks5://agent:s3cret@127.0.0.1:" + socks_proxy.Port()},
                       Curl("proxied.test", http.Port()));
  EXPECT_EQ(via_socks.out, "ok curl=0\n") << via_socks.err;
  EXPECT_EQ(http.Served(), 2);
  // The password never reaches the audit log.
  EXPECT_THAT(ReadFile(audit_path_), ::testing::Not(HasSubstr("s3cret")));
}

TEST_F(RoutesTest, ControllerRoutesThroughTheProxyItNames) {
  HostHttpServer http;
  Microsocks proxy({.hosts = ProxyHosts()});
  Controller controller(Options({"--", "sh", "-c", Curl("proxied.test", http.Port())}));
  auto request = controller.Next("network/requestApproval");
  ASSERT_FALSE(request.is_null());
  EXPECT_EQ(request["params"]["destination"]["host"], "proxied.test");
  controller.Answer(request, {{"route", {{"proxy", "socks5://127.0.0.1:" + proxy.Port()}}}});
  auto decision = controller.Next("network/decision");
  EXPECT_EQ(decision["params"]["decision"], "route");
  EXPECT_EQ(decision["params"]["source"], "user");
  controller.Next("sandbox/exited");
  EXPECT_EQ(controller.Wait(), 0);
  EXPECT_EQ(http.Served(), 1);
}

TEST_F(RoutesTest, ControllerRouteWithoutUrlUsesTheProxyOption) {
  HostHttpServer http;
  Tinyproxy proxy({.hosts = ProxyHosts()});
  Controller controller(Options({"--proxy", "http://127.0.0.1:" + proxy.Port(), "--", "sh", "-c",
                                 Curl("proxied.test", http.Port())}));
  auto request = controller.Next("network/requestApproval");
  ASSERT_FALSE(request.is_null());
  controller.Answer(request, {{"route", nlohmann::json::object()}});
  controller.Next("sandbox/exited");
  EXPECT_EQ(controller.Wait(), 0);
  EXPECT_EQ(http.Served(), 1);
  EXPECT_TRUE(proxy.SawConnect("proxied.test:" + http.Port())) << proxy.Log();
}

TEST_F(RoutesTest, ProxyDownGivesConnectionRefused) {
  // Port 1 on loopback: nothing listens there.
  auto r = RunProbe(Options({"--route", "192.0.2.1", "--proxy", "http://127.0.0.1:1"}),
                    {"connect", "192.0.2.1", "80"});
  EXPECT_EQ(r.out, "err ECONNREFUSED\n") << r.err;
  auto audit = Audit("tcp");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0]["decision"], "route");
}

TEST_F(RoutesTest, RefusingProxiesGiveACleanError) {
  Tinyproxy refusing({.hosts = ProxyHosts(), .refuse_all = true});
  auto http = RunProbe(Options({"--route", "192.0.2.1", "--proxy",
                                "http://127.0.0.1:" + refusing.Port()}),
                       {"connect", "192.0.2.1", "80"});
  EXPECT_EQ(http.out, "err EACCES\n") << http.err;  // 403 Filtered
  Microsocks locked({.hosts = ProxyHosts(), .auth = BasicAuth{"agent", "s3cret"}});
  auto socks = RunProbe(Options({"--route", "192.0.2.1", "--proxy",
                                 "socks5://agent:wrong@127.0.0.1:" + locked.Port()}),
                        {"connect", "192.0.2.1", "80"});
  EXPECT_EQ(socks.out, "err EACCES\n") << socks.err;
  // A name the proxy cannot resolve: the proxy's own failure, as the command would see it.
  auto unknown = RunProbe(Options({"--route", "192.0.2.1", "--proxy",
                                   "socks5://agent:s3cret@127.0.0.1:" + locked.Port()}),
                          {"connect", "192.0.2.1", "80"});
  EXPECT_THAT(unknown.out, HasSubstr("err E")) << unknown.err;
}

TEST_F(RoutesTest, DenyBeatsRoute) {
  Tinyproxy proxy({.hosts = ProxyHosts()});
  HostHttpServer http;
  auto r = Run({"--route", "proxied.test", "--deny", "proxied.test:" + http.Port(), "--proxy",
                "http://127.0.0.1:" + proxy.Port()},
               Curl("proxied.test", http.Port()));
  EXPECT_EQ(r.out, " curl=7\n") << r.err;
  EXPECT_EQ(http.Served(), 0);
  EXPECT_FALSE(proxy.SawConnect("proxied.test:" + http.Port()));
}

}  // namespace
}  // namespace sandgate::testing
