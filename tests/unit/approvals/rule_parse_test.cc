#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "approvals/rule.h"
#include "test_util.h"

namespace sandgate::approvals {
namespace {

using testing::Addr;
using testing::MustParse;
using testing::ParseError;

TEST(RuleParseTest, ExactDomain) {
  const Rule rule = MustParse("github.com");
  const auto* domain = std::get_if<DomainPattern>(&rule.target);
  ASSERT_NE(domain, nullptr);
  EXPECT_EQ(domain->domain, "github.com");
  EXPECT_EQ(domain->scope, DomainScope::kExact);
  EXPECT_FALSE(rule.ports.has_value());
  EXPECT_FALSE(rule.protocol.has_value());
  EXPECT_EQ(rule.text, "github.com");
}

TEST(RuleParseTest, DomainIsCaseInsensitiveAndTrailingDotStripped) {
  const Rule rule = MustParse("GitHub.COM.:443");
  EXPECT_EQ(std::get<DomainPattern>(rule.target).domain, "github.com");
  ASSERT_TRUE(rule.ports.has_value());
  EXPECT_EQ(*rule.ports, (PortRange{443, 443}));
  EXPECT_EQ(rule.text, "github.com:443");
}

TEST(RuleParseTest, Wildcards) {
  const Rule sub = MustParse("*.github.com");
  EXPECT_EQ(std::get<DomainPattern>(sub.target),
            (DomainPattern{"github.com", DomainScope::kSubdomainsOnly}));
  EXPECT_EQ(sub.text, "*.github.com");

  const Rule both = MustParse("**.GitHub.com:8000-8080");
  EXPECT_EQ(std::get<DomainPattern>(both.target),
            (DomainPattern{"github.com", DomainScope::kDomainAndSubdomains}));
  EXPECT_EQ(*both.ports, (PortRange{8000, 8080}));
  EXPECT_EQ(both.text, "**.github.com:8000-8080");
}

TEST(RuleParseTest, Localhost) {
  for (const std::string_view text : {"localhost", "LOCALHOST", "localhost."}) {
    const Rule rule = MustParse(text);
    EXPECT_TRUE(std::holds_alternative<LocalhostPattern>(rule.target)) << text;
    EXPECT_EQ(rule.text, "localhost");
  }
  const Rule with_port = MustParse("localhost:3000");
  EXPECT_TRUE(std::holds_alternative<LocalhostPattern>(with_port.target));
  EXPECT_EQ(with_port.text, "localhost:3000");
  // Only the bare name is special; a domain under it is an ordinary domain.
  EXPECT_TRUE(std::holds_alternative<DomainPattern>(MustParse("localhost.example").target));
  EXPECT_TRUE(std::holds_alternative<DomainPattern>(MustParse("*.localhost").target));
}

TEST(RuleParseTest, Ipv4AndCidr) {
  const Rule host = MustParse("10.1.2.3");
  const auto* cidr = std::get_if<Cidr>(&host.target);
  ASSERT_NE(cidr, nullptr);
  EXPECT_TRUE(cidr->IsSingleHost());
  EXPECT_EQ(cidr->network(), Addr("10.1.2.3"));
  EXPECT_EQ(host.text, "10.1.2.3");

  const Rule net = MustParse("10.0.0.0/8:22");
  EXPECT_EQ(std::get<Cidr>(net.target).prefix_length(), 8);
  EXPECT_EQ(*net.ports, (PortRange{22, 22}));
  EXPECT_EQ(net.text, "10.0.0.0/8:22");

  EXPECT_EQ(MustParse("0.0.0.0/0:443").text, "0.0.0.0/0:443");
}

TEST(RuleParseTest, Ipv6InBrackets) {
  EXPECT_EQ(MustParse("[::1]:8080").text, "[::1]:8080");
  EXPECT_EQ(MustParse("[::1]").text, "[::1]");
  EXPECT_EQ(MustParse("[FD00::/8]").text, "[fd00::/8]");
  EXPECT_EQ(MustParse("[::/0]:443").text, "[::/0]:443");
  EXPECT_EQ(MustParse("[2001:DB8:0:0:0:0:0:1]:1-1024").text, "[2001:db8::1]:1-1024");
  // A v4-mapped address is the IPv4 address.
  const Rule mapped = MustParse("[::ffff:127.0.0.1]:80");
  EXPECT_EQ(std::get<Cidr>(mapped.target).network(), Addr("127.0.0.1"));
  EXPECT_EQ(mapped.text, "127.0.0.1:80");
}

TEST(RuleParseTest, Ports) {
  EXPECT_EQ(*MustParse("a.com:1").ports, (PortRange{1, 1}));
  EXPECT_EQ(*MustParse("a.com:65535").ports, (PortRange{65535, 65535}));
  EXPECT_EQ(*MustParse("a.com:1-65535").ports, (PortRange{1, 65535}));
  EXPECT_EQ(MustParse("a.com:443-443").text, "a.com:443");
  EXPECT_EQ(*MustParse("a.com:0443").ports, (PortRange{443, 443}));
}

TEST(RuleParseTest, UnixPath) {
  const Rule rule = MustParse("unix:/var/run/docker.sock");
  EXPECT_EQ(std::get<UnixPathPattern>(rule.target).glob, "/var/run/docker.sock");
  EXPECT_EQ(rule.text, "unix:/var/run/docker.sock");
  EXPECT_EQ(MustParse("unix:/run/user/*/bus").text, "unix:/run/user/*/bus");
  EXPECT_EQ(MustParse("unix:/run/**").text, "unix:/run/**");
  // Repeated and trailing slashes are collapsed, like the paths matched against.
  EXPECT_EQ(MustParse("unix://var//run/docker.sock/").text, "unix:/var/run/docker.sock");
  // A colon in a path is part of the path, not a port.
  EXPECT_EQ(MustParse("unix:/tmp/a:1").text, "unix:/tmp/a:1");
  EXPECT_FALSE(MustParse("unix:/tmp/a:1").ports.has_value());
}

TEST(RuleParseTest, UnixAbstract) {
  const Rule rule = MustParse("unix-abstract:/tmp/.X11-unix/X0");
  EXPECT_EQ(std::get<UnixAbstractPattern>(rule.target).glob, "/tmp/.X11-unix/X0");
  EXPECT_EQ(rule.text, "unix-abstract:/tmp/.X11-unix/X0");
  EXPECT_EQ(MustParse("unix-abstract:dbus-*").text, "unix-abstract:dbus-*");
}

TEST(RuleParseTest, SurroundingWhitespaceIgnored) {
  EXPECT_EQ(MustParse("  github.com:443\t").text, "github.com:443");
}

TEST(RuleParseTest, FormatRoundTrips) {
  for (const std::string_view text :
       {"github.com", "*.github.com:443", "**.a.b.c:1-2", "localhost:5432", "10.0.0.0/8",
        "1.2.3.4:53", "[::1]:8080", "[fd00::/8]", "[::/0]:443", "0.0.0.0/0",
        "unix:/var/run/docker.sock", "unix:/tmp/a\\*b", "unix-abstract:x"}) {
    const Rule rule = MustParse(text);
    EXPECT_EQ(rule.text, text);
    EXPECT_EQ(FormatRule(rule), text);
    EXPECT_EQ(MustParse(FormatRule(rule)), rule) << text;
  }
}

TEST(RuleParseTest, PortErrors) {
  EXPECT_EQ(ParseError("github.com:0"), "\"github.com:0\": port 0 out of range 1-65535");
  EXPECT_EQ(ParseError("github.com:65536"),
            "\"github.com:65536\": port 65536 out of range 1-65535");
  EXPECT_EQ(ParseError("github.com:99999999999999999999"),
            "\"github.com:99999999999999999999\": port 99999999999999999999 out of range 1-65535");
  EXPECT_EQ(ParseError("github.com:"), "\"github.com:\": missing port after ':'");
  EXPECT_EQ(ParseError("github.com:abc"),
            "\"github.com:abc\": invalid port \"abc\" (expected N or N-M)");
  EXPECT_EQ(ParseError("github.com:443-80"),
            "\"github.com:443-80\": port range 443-80 is reversed (start > end)");
  EXPECT_EQ(ParseError("github.com:80-"),
            "\"github.com:80-\": invalid port \"80-\" (expected N or N-M)");
  EXPECT_EQ(ParseError("github.com:1-2-3"),
            "\"github.com:1-2-3\": invalid port \"1-2-3\" (expected N or N-M)");
  EXPECT_EQ(ParseError("github.com:0-80"), "\"github.com:0-80\": port 0 out of range 1-65535");
  EXPECT_EQ(ParseError("github.com:+443"),
            "\"github.com:+443\": invalid port \"+443\" (expected N or N-M)");
  EXPECT_EQ(ParseError("[::1]:0"), "\"[::1]:0\": port 0 out of range 1-65535");
}

TEST(RuleParseTest, BareStarIsRejectedWithAdvice) {
  EXPECT_EQ(ParseError("*"),
            "\"*\": a bare \"*\" is not allowed; to match every host write 0.0.0.0/0 and [::/0]");
  EXPECT_EQ(ParseError("*:443"),
            "\"*:443\": a bare \"*\" is not allowed; to match every host write 0.0.0.0/0:443 and "
            "[::/0]:443");
}

TEST(RuleParseTest, HostErrors) {
  EXPECT_EQ(ParseError(""), "\"\": empty rule");
  EXPECT_EQ(ParseError("   "), "\"\": empty rule");
  EXPECT_EQ(ParseError(":443"), "\":443\": missing host");
  EXPECT_EQ(ParseError("::1"),
            "\"::1\": IPv6 addresses must be in brackets, e.g. [::1]:443 or [fd00::/8]");
  EXPECT_EQ(ParseError("[::1"), "\"[::1\": missing ']' after IPv6 address");
  EXPECT_EQ(ParseError("[::1]443"), "\"[::1]443\": unexpected text after ']' (expected ':PORTS')");
  EXPECT_EQ(ParseError("[10.0.0.1]"),
            "\"[10.0.0.1]\": expected an IPv6 address or network inside [...]");
  EXPECT_EQ(ParseError("[fe80::1%eth0]"),
            "\"[fe80::1%eth0]\": invalid IPv6 address \"fe80::1%eth0\"");
  EXPECT_EQ(ParseError("10.0.0.256"), "\"10.0.0.256\": invalid IPv4 address \"10.0.0.256\"");
  EXPECT_EQ(ParseError("10.0.0"), "\"10.0.0\": invalid IPv4 address \"10.0.0\"");
  EXPECT_EQ(ParseError("10.0.0.1/8"),
            "\"10.0.0.1/8\": host bits set in \"10.0.0.1/8\" (did you mean 10.0.0.0/8?)");
  EXPECT_EQ(ParseError("10.0.0.0/33:80"),
            "\"10.0.0.0/33:80\": prefix length \"33\" out of range 0-32");
  EXPECT_EQ(ParseError("[fd00::/200]"),
            "\"[fd00::/200]\": prefix length \"200\" out of range 0-128");
  EXPECT_EQ(ParseError("github.com/path"),
            "\"github.com/path\": '/' is only allowed in an IP network such as 10.0.0.0/8 or "
            "[fd00::/8]");
}

TEST(RuleParseTest, WildcardErrors) {
  const std::string star_advice =
      "'*' is only allowed as a whole leading label (*.example.com or **.example.com)";
  EXPECT_EQ(ParseError("git*hub.com"), "\"git*hub.com\": " + star_advice);
  EXPECT_EQ(ParseError("a.*.com"), "\"a.*.com\": " + star_advice);
  EXPECT_EQ(ParseError("***.github.com"), "\"***.github.com\": " + star_advice);
  EXPECT_EQ(ParseError("*github.com"), "\"*github.com\": " + star_advice);
  EXPECT_EQ(ParseError("github.*"), "\"github.*\": " + star_advice);
  EXPECT_EQ(ParseError("*."), "\"*.\": empty domain name");
  EXPECT_EQ(ParseError("**."), "\"**.\": empty domain name");
  EXPECT_EQ(ParseError("*.10.0.0.1"),
            "\"*.10.0.0.1\": not a valid IPv4 address or domain name (last label \"1\" is "
            "numeric)");
}

TEST(RuleParseTest, DomainErrors) {
  EXPECT_EQ(ParseError("-bad.com"), "\"-bad.com\": label \"-bad\" starts or ends with '-'");
  EXPECT_EQ(ParseError("bad_.com:443"),
            "\"bad_.com:443\": invalid character '_' in domain name (allowed: a-z, 0-9, '-')");
  EXPECT_EQ(ParseError("a..com"), "\"a..com\": empty label in domain name");
  EXPECT_NE(ParseError(std::string(64, 'x') + ".com").find("is longer than 63 characters"),
            std::string::npos);
  // The message stays on one line whatever the rule holds.
  EXPECT_EQ(ParseError("git\nhub.com"), "\"git\\x0ahub.com\": control character in domain name");
  // Found by tests/fuzz/rule_parser_fuzz.cc: the phrase after the rule quotes pieces of it.
  EXPECT_EQ(ParseError("**.a.b:0\r00"),
            "\"**.a.b:0\\x0d00\": invalid port \"0\\x0d00\" (expected N or N-M)");
  for (const std::string_view rule : {"a.com:\n1", "x\x7f.com", "10.0.0.0/\t", "[::1\n]"}) {
    const std::string message = ParseError(rule);
    EXPECT_EQ(message.find_first_of("\n\r\t\x7f"), std::string::npos) << message;
  }
  EXPECT_EQ(ParseError("a\"b.com"),
            "\"a\\\"b.com\": invalid character '\"' in domain name (allowed: a-z, 0-9, '-')");
}

TEST(RuleParseTest, HostsNamedLikeTheUnixPrefixes) {
  // Found by the fuzzer: "unix.:1" would be formatted "unix:1", a socket rule.
  EXPECT_EQ(ParseError("unix.:1"),
            "\"unix.:1\": a host named \"unix\" cannot have ports: it would read as a unix socket "
            "rule");
  EXPECT_EQ(ParseError("Unix-Abstract.:1"),
            "\"Unix-Abstract.:1\": a host named \"unix-abstract\" cannot have ports: it would read "
            "as a unix socket rule");
  EXPECT_EQ(MustParse("unix").text, "unix");
  EXPECT_EQ(MustParse("*.unix:1").text, "*.unix:1");
  EXPECT_EQ(MustParse("unixy:1").text, "unixy:1");
}

TEST(RuleParseTest, UnixErrors) {
  EXPECT_EQ(ParseError("unix:"), "\"unix:\": missing socket path after \"unix:\"");
  EXPECT_EQ(ParseError("unix:docker.sock"),
            "\"unix:docker.sock\": socket path must be absolute (start with '/')");
  EXPECT_EQ(ParseError("unix:/var/../run/x"),
            "\"unix:/var/../run/x\": socket path must not contain \".\" or \"..\" components");
  EXPECT_EQ(ParseError("unix:/var/./x"),
            "\"unix:/var/./x\": socket path must not contain \".\" or \"..\" components");
  EXPECT_EQ(ParseError("unix:/tmp/x\\"), "\"unix:/tmp/x\\\\\": trailing '\\' escapes nothing");
  EXPECT_EQ(ParseError("unix:/run/x\n/y"),
            "\"unix:/run/x\\x0a/y\": control character in socket path");
  EXPECT_EQ(ParseError("unix:/tmp/x /"),
            "\"unix:/tmp/x /\": socket path must not end with a space");
  EXPECT_EQ(ParseError(std::string_view("unix-abstract:a\0b", 17)),
            "\"unix-abstract:a\\x00b\": control character in socket name");
  EXPECT_EQ(MustParse("unix:/tmp/My Sockets/x.sock").text, "unix:/tmp/My Sockets/x.sock");
  EXPECT_EQ(ParseError("unix:/tmp/a\\/"),
            "\"unix:/tmp/a\\\\/\": '/' cannot be escaped in a socket path");
  // An escaped backslash before a separator is fine.
  EXPECT_EQ(MustParse("unix:/tmp/a\\\\/b").text, "unix:/tmp/a\\\\/b");
  EXPECT_EQ(ParseError("unix-abstract:"),
            "\"unix-abstract:\": missing socket name after \"unix-abstract:\"");
}

}  // namespace
}  // namespace sandgate::approvals
