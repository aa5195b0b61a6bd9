#include "approvals/address.h"

#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "test_util.h"

namespace sandgate::approvals {
namespace {

using testing::Addr;

std::string CidrError(std::string_view text) {
  auto parsed = Cidr::Parse(text);
  if (const auto* problem = std::get_if<Problem>(&parsed)) {
    return problem->what;
  }
  ADD_FAILURE() << text << " parsed as " << std::get<Cidr>(parsed).ToString();
  return "";
}

Cidr MustCidr(std::string_view text) {
  auto parsed = Cidr::Parse(text);
  if (const auto* problem = std::get_if<Problem>(&parsed)) {
    ADD_FAILURE() << text << ": " << problem->what;
    return Cidr::Host(Address{});
  }
  return std::get<Cidr>(parsed);
}

TEST(AddressTest, ParsesAndFormatsIpv4) {
  const Address a = Addr("10.20.30.40");
  EXPECT_EQ(a.family(), AddressFamily::kInet);
  EXPECT_EQ(a.bit_length(), 32);
  ASSERT_EQ(a.bytes().size(), 4u);
  EXPECT_EQ(a.bytes()[0], 10);
  EXPECT_EQ(a.bytes()[3], 40);
  EXPECT_EQ(a.ToString(), "10.20.30.40");
  EXPECT_EQ(Addr("0.0.0.0").ToString(), "0.0.0.0");
  EXPECT_EQ(Addr("255.255.255.255").ToString(), "255.255.255.255");
}

TEST(AddressTest, RejectsMalformedIpv4) {
  for (const std::string_view bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.256", "01.2.3.4",
                                     "1.2.3.04", "1.2.3.1234", " 1.2.3.4", "1.2.3.4 ", "a.b.c.d",
                                     "1..2.3", "1.2.3.", ".1.2.3", "1.2.3.-4", "0x7f.0.0.1"}) {
    EXPECT_FALSE(Address::Parse(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(AddressTest, ParsesAndFormatsIpv6PerRfc5952) {
  EXPECT_EQ(Addr("FD00::1").ToString(), "fd00::1");
  EXPECT_EQ(Addr("::").ToString(), "::");
  EXPECT_EQ(Addr("::1").ToString(), "::1");
  EXPECT_EQ(Addr("1::").ToString(), "1::");
  EXPECT_EQ(Addr("2001:0db8:0000:0000:0000:0000:0000:0001").ToString(), "2001:db8::1");
  // Two runs of equal length: the first is compressed.
  EXPECT_EQ(Addr("2001:db8:0:0:1:0:0:1").ToString(), "2001:db8::1:0:0:1");
  // The longer run wins even when it comes second.
  EXPECT_EQ(Addr("1:0:2:0:0:0:3:4").ToString(), "1:0:2::3:4");
  // A single zero group is not compressed.
  EXPECT_EQ(Addr("2001:db8:0:1:1:1:1:1").ToString(), "2001:db8:0:1:1:1:1:1");
  const Address a = Addr("fd00::1");
  EXPECT_EQ(a.family(), AddressFamily::kInet6);
  EXPECT_EQ(a.bit_length(), 128);
  EXPECT_EQ(a.bytes().size(), 16u);
}

TEST(AddressTest, RejectsMalformedIpv6) {
  EXPECT_FALSE(Address::Parse("fe80::1%eth0").has_value());
  EXPECT_FALSE(Address::Parse("[::1]").has_value());
  EXPECT_FALSE(Address::Parse(":::").has_value());
  EXPECT_FALSE(Address::Parse("1:2:3:4:5:6:7:8:9").has_value());
  EXPECT_FALSE(Address::Parse("12345::1").has_value());
  // An embedded NUL must not cut the text short for inet_pton.
  EXPECT_FALSE(Address::Parse(std::string_view("::1\0junk", 8)).has_value());
}

TEST(AddressTest, NormalizesV4MappedToIpv4) {
  const Address mapped = Addr("::ffff:127.0.0.1");
  EXPECT_EQ(mapped.family(), AddressFamily::kInet);
  EXPECT_EQ(mapped, Addr("127.0.0.1"));
  EXPECT_EQ(mapped.ToString(), "127.0.0.1");
  EXPECT_TRUE(mapped.IsLoopback());
  EXPECT_EQ(Addr("::FFFF:7f00:1"), Addr("127.0.0.1"));
  const Address from_bytes =
      Address::FromV6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 2});
  EXPECT_EQ(from_bytes, Addr("192.168.1.2"));
}

TEST(AddressTest, OtherEmbeddingsStayIpv6) {
  // v4-compatible (deprecated) and NAT64 addresses are not the IPv4 address on this host.
  EXPECT_EQ(Addr("::127.0.0.1").family(), AddressFamily::kInet6);
  EXPECT_FALSE(Addr("::127.0.0.1").IsLoopback());
  EXPECT_EQ(Addr("64:ff9b::7f00:1").family(), AddressFamily::kInet6);
  EXPECT_EQ(Addr("::fffe:7f00:1").family(), AddressFamily::kInet6);
}

TEST(AddressTest, Loopback) {
  EXPECT_TRUE(Addr("127.0.0.1").IsLoopback());
  EXPECT_TRUE(Addr("127.255.255.254").IsLoopback());
  EXPECT_FALSE(Addr("128.0.0.1").IsLoopback());
  EXPECT_FALSE(Addr("126.255.255.255").IsLoopback());
  EXPECT_TRUE(Addr("::1").IsLoopback());
  EXPECT_FALSE(Addr("::2").IsLoopback());
  EXPECT_FALSE(Addr("::").IsLoopback());
}

TEST(AddressTest, ConnectTargetOfUnspecifiedIsLoopback) {
  EXPECT_TRUE(Addr("0.0.0.0").IsUnspecified());
  EXPECT_TRUE(Addr("::").IsUnspecified());
  EXPECT_FALSE(Addr("0.0.0.1").IsUnspecified());
  EXPECT_EQ(Addr("0.0.0.0").ConnectTarget(), Addr("127.0.0.1"));
  EXPECT_EQ(Addr("::").ConnectTarget(), Addr("::1"));
  EXPECT_EQ(Addr("10.0.0.1").ConnectTarget(), Addr("10.0.0.1"));
}

TEST(AddressTest, ComparesByFamilyThenBytes) {
  EXPECT_EQ(Addr("1.2.3.4"), Addr("1.2.3.4"));
  EXPECT_NE(Addr("1.2.3.4"), Addr("1.2.3.5"));
  EXPECT_LT(Addr("1.2.3.4"), Addr("1.2.3.5"));
  EXPECT_LT(Addr("255.255.255.255"), Addr("::"));
  EXPECT_NE(Addr("0.0.0.0"), Addr("::"));
}

TEST(CidrTest, Ipv4Networks) {
  const Cidr net = MustCidr("10.0.0.0/8");
  EXPECT_EQ(net.prefix_length(), 8);
  EXPECT_EQ(net.ToString(), "10.0.0.0/8");
  EXPECT_TRUE(net.Contains(Addr("10.0.0.0")));
  EXPECT_TRUE(net.Contains(Addr("10.255.255.255")));
  EXPECT_FALSE(net.Contains(Addr("11.0.0.0")));
  EXPECT_FALSE(net.Contains(Addr("9.255.255.255")));
  // Not on a byte boundary.
  const Cidr nine = MustCidr("10.0.0.0/9");
  EXPECT_TRUE(nine.Contains(Addr("10.127.255.255")));
  EXPECT_FALSE(nine.Contains(Addr("10.128.0.0")));
  EXPECT_TRUE(MustCidr("254.0.0.0/7").Contains(Addr("255.1.1.1")));
  EXPECT_FALSE(MustCidr("254.0.0.0/7").Contains(Addr("253.255.255.255")));
}

TEST(CidrTest, EdgesSlash0Slash32Slash128) {
  const Cidr all4 = MustCidr("0.0.0.0/0");
  EXPECT_TRUE(all4.Contains(Addr("0.0.0.0")));
  EXPECT_TRUE(all4.Contains(Addr("255.255.255.255")));
  EXPECT_TRUE(all4.Contains(Addr("::ffff:8.8.8.8")));  // normalized to IPv4 first
  EXPECT_FALSE(all4.Contains(Addr("::1")));

  const Cidr all6 = MustCidr("::/0");
  EXPECT_TRUE(all6.Contains(Addr("::1")));
  EXPECT_TRUE(all6.Contains(Addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(all6.Contains(Addr("1.2.3.4")));
  EXPECT_FALSE(all6.Contains(Addr("::ffff:1.2.3.4")));

  const Cidr host32 = MustCidr("1.2.3.4/32");
  EXPECT_TRUE(host32.IsSingleHost());
  EXPECT_TRUE(host32.Contains(Addr("1.2.3.4")));
  EXPECT_FALSE(host32.Contains(Addr("1.2.3.5")));
  EXPECT_FALSE(host32.Contains(Addr("1.2.3.3")));
  EXPECT_EQ(MustCidr("1.2.3.4"), host32);

  const Cidr host128 = MustCidr("fd00::1/128");
  EXPECT_TRUE(host128.IsSingleHost());
  EXPECT_TRUE(host128.Contains(Addr("fd00::1")));
  EXPECT_FALSE(host128.Contains(Addr("fd00::2")));
  EXPECT_FALSE(host128.Contains(Addr("fd00::")));
  EXPECT_EQ(MustCidr("fd00::1"), host128);

  const Cidr net127 = MustCidr("fd00::/127");
  EXPECT_TRUE(net127.Contains(Addr("fd00::1")));
  EXPECT_FALSE(net127.Contains(Addr("fd00::2")));
}

TEST(CidrTest, Ipv6Networks) {
  const Cidr net = MustCidr("fd00::/8");
  EXPECT_TRUE(net.Contains(Addr("fd12:3456::1")));
  EXPECT_TRUE(net.Contains(Addr("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(net.Contains(Addr("fe00::1")));
  EXPECT_FALSE(net.Contains(Addr("fc00::1")));
  EXPECT_EQ(net.ToString(), "fd00::/8");
}

TEST(CidrTest, V4MappedNetworkBecomesIpv4) {
  const Cidr net = MustCidr("::ffff:10.0.0.0/104");
  EXPECT_EQ(net.network().family(), AddressFamily::kInet);
  EXPECT_EQ(net.ToString(), "10.0.0.0/8");
  EXPECT_TRUE(net.Contains(Addr("10.1.2.3")));
  EXPECT_EQ(MustCidr("::ffff:0:0/96").ToString(), "0.0.0.0/0");
  EXPECT_EQ(MustCidr("::ffff:1.2.3.4/128").ToString(), "1.2.3.4/32");
}

TEST(CidrTest, RejectsBadPrefixesAndHostBits) {
  EXPECT_EQ(CidrError("10.0.0.0/33"), "prefix length \"33\" out of range 0-32");
  EXPECT_EQ(CidrError("::/129"), "prefix length \"129\" out of range 0-128");
  EXPECT_EQ(CidrError("10.0.0.0/"), "prefix length \"\" out of range 0-32");
  EXPECT_EQ(CidrError("10.0.0.0/08"), "prefix length \"08\" out of range 0-32");
  EXPECT_EQ(CidrError("10.0.0.0/-1"), "prefix length \"-1\" out of range 0-32");
  EXPECT_EQ(CidrError("10.0.0.0/8/8"), "prefix length \"8/8\" out of range 0-32");
  EXPECT_EQ(CidrError("10.0.0.1/8"), "host bits set in \"10.0.0.1/8\" (did you mean 10.0.0.0/8?)");
  EXPECT_EQ(CidrError("fd00::1/8"), "host bits set in \"fd00::1/8\" (did you mean fd00::/8?)");
  EXPECT_EQ(CidrError("1.2.3/8"), "invalid IPv4 address \"1.2.3\"");
  EXPECT_EQ(CidrError("fd00:::/8"), "invalid IPv6 address \"fd00:::\"");
}

}  // namespace
}  // namespace sandgate::approvals
