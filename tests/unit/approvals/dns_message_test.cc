// DNS message parsing and building: one test file for one parser, long because every bound and
// every malformed shape of a message has its own case.
#include "approvals/dns_message.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "test_util.h"

namespace sandgate::approvals::dns {
namespace {

using Bytes = std::vector<std::uint8_t>;
using testing::Addr;

constexpr std::uint16_t kQueryFlags = 0x0100;     // RD
constexpr std::uint16_t kResponseFlags = 0x8180;  // QR, RD, RA
constexpr std::uint16_t kTruncatedFlag = 0x0200;
constexpr std::size_t kQuestionOffset = 12;

// Labels of a dotted name, without the root label (so a pointer or a 0 can follow).
Bytes Labels(std::string_view dotted) {
  Bytes out;
  std::size_t start = 0;
  while (start < dotted.size()) {
    std::size_t end = dotted.find('.', start);
    if (end == std::string_view::npos) {
      end = dotted.size();
    }
    out.push_back(static_cast<std::uint8_t>(end - start));
    out.insert(out.end(), dotted.begin() + static_cast<std::ptrdiff_t>(start),
               dotted.begin() + static_cast<std::ptrdiff_t>(end));
    start = end + 1;
  }
  return out;
}

// An uncompressed name.
Bytes Name(std::string_view dotted) {
  Bytes out = Labels(dotted);
  out.push_back(0);
  return out;
}

// A compression pointer to `offset`, after the labels of `prefix` (may be empty).
Bytes Pointer(std::size_t offset, std::string_view prefix = "") {
  Bytes out = Labels(prefix);
  out.push_back(static_cast<std::uint8_t>(0xc0 | offset >> 8));
  out.push_back(static_cast<std::uint8_t>(offset & 0xff));
  return out;
}

Bytes AddressData(std::string_view text) {
  const Address address = Addr(text);
  const auto bytes = address.bytes();
  return Bytes(bytes.begin(), bytes.end());
}

// Builds a message piece by piece; offsets of earlier pieces (for pointers) come from size().
class Builder {
 public:
  Builder& Header(std::uint16_t id, std::uint16_t flags, std::uint16_t qdcount,
                  std::uint16_t ancount, std::uint16_t nscount = 0, std::uint16_t arcount = 0) {
    for (const std::uint16_t value : {id, flags, qdcount, ancount, nscount, arcount}) {
      U16(value);
    }
    return *this;
  }
  Builder& U16(std::uint16_t value) {
    bytes_.push_back(static_cast<std::uint8_t>(value >> 8));
    bytes_.push_back(static_cast<std::uint8_t>(value & 0xff));
    return *this;
  }
  Builder& U32(std::uint32_t value) {
    U16(static_cast<std::uint16_t>(value >> 16));
    return U16(static_cast<std::uint16_t>(value & 0xffff));
  }
  Builder& Raw(const Bytes& bytes) {
    bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  Builder& Question(const Bytes& name, std::uint16_t type = kTypeA,
                    std::uint16_t klass = kClassIn) {
    Raw(name).U16(type);
    return U16(klass);
  }
  Builder& Record(const Bytes& owner, std::uint16_t type, std::uint32_t ttl, const Bytes& rdata,
                  std::uint16_t klass = kClassIn) {
    Raw(owner).U16(type).U16(klass).U32(ttl).U16(static_cast<std::uint16_t>(rdata.size()));
    return Raw(rdata);
  }
  Builder& A(const Bytes& owner, std::uint32_t ttl, std::string_view address) {
    return Record(owner, kTypeA, ttl, AddressData(address));
  }
  Builder& Aaaa(const Bytes& owner, std::uint32_t ttl, std::string_view address) {
    return Record(owner, kTypeAaaa, ttl, AddressData(address));
  }
  Builder& Cname(const Bytes& owner, std::uint32_t ttl, const Bytes& target) {
    return Record(owner, kTypeCname, ttl, target);
  }
  // EDNS(0) OPT: root owner, class = UDP payload size.
  Builder& Opt(const Bytes& options = {}) { return Record({0}, kTypeOpt, 0, options, 4096); }

  [[nodiscard]] std::size_t size() const { return bytes_.size(); }
  [[nodiscard]] const Bytes& bytes() const { return bytes_; }

 private:
  Bytes bytes_;
};

Query MustQuery(const Bytes& message) {
  auto parsed = ParseQuery(message);
  if (const auto* error = std::get_if<ParseError>(&parsed)) {
    ADD_FAILURE() << "query does not parse: " << error->message;
    return {};
  }
  return std::get<Query>(parsed);
}

std::string QueryError(const Bytes& message) {
  auto parsed = ParseQuery(message);
  if (const auto* error = std::get_if<ParseError>(&parsed)) {
    EXPECT_EQ(error->message.find('\n'), std::string::npos);
    return error->message;
  }
  ADD_FAILURE() << "query unexpectedly parses as " << std::get<Query>(parsed).question.name;
  return "";
}

Response MustResponse(const Bytes& message) {
  auto parsed = ParseResponse(message);
  if (const auto* error = std::get_if<ParseError>(&parsed)) {
    ADD_FAILURE() << "response does not parse: " << error->message;
    return {};
  }
  return std::get<Response>(parsed);
}

std::string ResponseError(const Bytes& message) {
  auto parsed = ParseResponse(message);
  if (const auto* error = std::get_if<ParseError>(&parsed)) {
    EXPECT_EQ(error->message.find('\n'), std::string::npos);
    return error->message;
  }
  ADD_FAILURE() << "response unexpectedly parses";
  return "";
}

std::vector<AddressAnswer> Answers(
    std::initializer_list<std::pair<std::string_view, std::uint32_t>> list) {
  std::vector<AddressAnswer> out;
  for (const auto& [address, ttl] : list) {
    out.push_back({Addr(address), ttl});
  }
  return out;
}

// Message with one question for `name` and no records.
Bytes SimpleQuery(std::string_view name, std::uint16_t type = kTypeA) {
  return Builder().Header(0x1234, kQueryFlags, 1, 0).Question(Name(name), type).bytes();
}

// --- ParseQuery ----------------------------------------------------------------------------

TEST(DnsQueryTest, ParsesQuestionAndLowercasesName) {
  const Query query = MustQuery(Builder()
                                    .Header(0xbeef, kQueryFlags, 1, 0)
                                    .Question(Name("WwW.Example.COM"), kTypeAaaa)
                                    .bytes());
  EXPECT_EQ(query.id, 0xbeef);
  EXPECT_TRUE(query.recursion_desired);
  EXPECT_EQ(query.question, (Question{"www.example.com", kTypeAaaa, kClassIn}));

  const Query no_rd = MustQuery(Builder().Header(1, 0, 1, 0).Question(Name("a.b")).bytes());
  EXPECT_FALSE(no_rd.recursion_desired);
}

TEST(DnsQueryTest, RootAndUnusualButPrintableNames) {
  EXPECT_EQ(MustQuery(SimpleQuery("")).question.name, "");
  EXPECT_EQ(MustQuery(SimpleQuery("_dmarc.Example.com")).question.name, "_dmarc.example.com");
  EXPECT_EQ(MustQuery(SimpleQuery("*.a~b!c.org")).question.name, "*.a~b!c.org");
}

TEST(DnsQueryTest, EdnsOptInAdditionalSectionIsAllowed) {
  const Bytes plain =
      Builder().Header(7, kQueryFlags, 1, 0, 0, 1).Question(Name("example.org")).Opt().bytes();
  EXPECT_EQ(MustQuery(plain).question.name, "example.org");
  // With an option (cookie, code 10, 8 bytes).
  const Bytes cookie = Builder()
                           .Header(7, kQueryFlags, 1, 0, 0, 1)
                           .Question(Name("example.org"))
                           .Opt({0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8})
                           .bytes();
  EXPECT_EQ(MustQuery(cookie).question.name, "example.org");
}

TEST(DnsQueryTest, RejectsWhatIsNotOneQuestion) {
  EXPECT_EQ(QueryError({}), "message ends inside the 12-byte header at offset 0");
  EXPECT_EQ(QueryError(Bytes(11, 0)), "message ends inside the 12-byte header at offset 11");
  EXPECT_EQ(QueryError(Builder().Header(1, 0x8000, 1, 0).Question(Name("a.b")).bytes()),
            "not a query: QR is set");
  EXPECT_EQ(QueryError(Builder().Header(1, 2 << 11, 1, 0).Question(Name("a.b")).bytes()),
            "opcode 2 is not QUERY");
  EXPECT_EQ(QueryError(Builder().Header(1, 0, 0, 0).bytes()), "query has 0 questions (expected 1)");
  EXPECT_EQ(
      QueryError(Builder().Header(1, 0, 2, 0).Question(Name("a.b")).Question(Name("c.d")).bytes()),
      "query has 2 questions (expected 1)");
  EXPECT_EQ(
      QueryError(
          Builder().Header(1, 0, 1, 1).Question(Name("a.b")).A(Name("a.b"), 1, "1.2.3.4").bytes()),
      "query has answer or authority records");
  EXPECT_EQ(QueryError(Builder().Header(1, 0, 1, 0).Question(Name("a.b")).U16(0).bytes()),
            "2 bytes after the last record");
  // The OPT record claims more data than there is.
  Bytes short_opt =
      Builder().Header(1, 0, 1, 0, 0, 1).Question(Name("a.b")).Opt({0, 10, 0, 8}).bytes();
  short_opt.pop_back();
  EXPECT_NE(QueryError(short_opt).find("message ends inside the data of the record"),
            std::string::npos);
  EXPECT_EQ(QueryError(Bytes(65536, 0)), "message of 65536 bytes is larger than 65535");
}

TEST(DnsQueryTest, RejectsBadLabelBytes) {
  for (const char bad : {' ', '\x7f', '\x00', '\\', '\x1f', '\t'}) {
    const std::string name = std::string("ab") + bad + "c.example";
    EXPECT_NE(QueryError(SimpleQuery(name)).find("is not allowed in a name"), std::string::npos)
        << static_cast<int>(bad);
  }
  // A '.' inside a label would make two labels look like one.
  Bytes dotted = Builder().Header(1, 0, 1, 0).Question({3, 'a', '.', 'b', 0}).bytes();
  EXPECT_EQ(QueryError(dotted), "byte 0x2e at offset 14 is not allowed in a name");
  // Non-ASCII.
  EXPECT_EQ(QueryError(Builder().Header(1, 0, 1, 0).Question({2, 'a', 0xc3, 0}).bytes()),
            "byte 0xc3 at offset 14 is not allowed in a name");
}

TEST(DnsQueryTest, RejectsExtendedLabelTypes) {
  EXPECT_EQ(QueryError(Builder().Header(1, 0, 1, 0).Question({0x41, 'a', 0}).bytes()),
            "label type 0x40 at offset 12 is not supported");
  EXPECT_EQ(QueryError(Builder().Header(1, 0, 1, 0).Question({0x81, 'a', 0}).bytes()),
            "label type 0x80 at offset 12 is not supported");
}

TEST(DnsQueryTest, NameLengthLimit) {
  // 3 labels of 63 and one of 61: 3 * 64 + 62 + 1 = 255 bytes on the wire, 253 characters.
  const std::string l63(63, 'a');
  const std::string longest = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b');
  const Query query = MustQuery(SimpleQuery(longest));
  EXPECT_EQ(query.question.name, longest);
  EXPECT_EQ(query.question.name.size(), 253u);
  EXPECT_EQ(QueryError(SimpleQuery(longest + "b")), "name at offset 12 is longer than 255 bytes");
  // 63 is the longest label (64 would be label type 0x40).
  EXPECT_EQ(MustQuery(SimpleQuery(l63)).question.name, l63);
}

TEST(DnsQueryTest, QuestionNameCannotBeCompressed) {
  // Offset 12 has no earlier name; a pointer into the header is refused.
  EXPECT_EQ(QueryError(Builder().Header(1, 0, 1, 0).Question(Pointer(0)).bytes()),
            "compression pointer at offset 12 to offset 0 does not point back to an earlier name");
  EXPECT_EQ(QueryError(Builder().Header(1, 0, 1, 0).Question(Pointer(12)).bytes()),
            "compression pointer at offset 12 to offset 12 does not point back to an earlier name");
}

TEST(DnsQueryTest, EveryTruncationIsAnErrorAndNeverACrash) {
  const Bytes full = Builder()
                         .Header(7, kQueryFlags, 1, 0, 0, 1)
                         .Question(Name("www.example.org"))
                         .Opt({0, 10, 0, 2, 1, 2})
                         .bytes();
  ASSERT_EQ(MustQuery(full).question.name, "www.example.org");
  for (std::size_t length = 0; length < full.size(); ++length) {
    const Bytes prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(length));
    EXPECT_TRUE(std::holds_alternative<ParseError>(ParseQuery(prefix))) << length;
    (void)MakeErrorResponse(prefix, Rcode::kRefused);
  }
}

// --- ParseResponse -------------------------------------------------------------------------

TEST(DnsResponseTest, PlainAAnswerWithCompressedOwner) {
  const Response response = MustResponse(Builder()
                                             .Header(0x4242, kResponseFlags, 1, 2)
                                             .Question(Name("Example.COM"))
                                             .A(Pointer(kQuestionOffset), 300, "93.184.216.34")
                                             .A(Pointer(kQuestionOffset), 60, "93.184.216.35")
                                             .bytes());
  EXPECT_EQ(response.id, 0x4242);
  EXPECT_EQ(response.rcode, Rcode::kNoError);
  EXPECT_FALSE(response.truncated);
  EXPECT_EQ(response.question, (Question{"example.com", kTypeA, kClassIn}));
  EXPECT_EQ(response.addresses, Answers({{"93.184.216.34", 300}, {"93.184.216.35", 60}}));
}

TEST(DnsResponseTest, AaaaAnswer) {
  const Response response = MustResponse(Builder()
                                             .Header(1, kResponseFlags, 1, 1)
                                             .Question(Name("v6.example"), kTypeAaaa)
                                             .Aaaa(Name("v6.example"), 120, "2001:db8::1")
                                             .bytes());
  EXPECT_EQ(response.addresses, Answers({{"2001:db8::1", 120}}));
  // A v4-mapped AAAA is the IPv4 address (Address normalizes it).
  const Response mapped =
      MustResponse(Builder()
                       .Header(1, kResponseFlags, 1, 1)
                       .Question(Name("m.example"), kTypeAaaa)
                       .Record(Name("m.example"), kTypeAaaa, 9,
                               {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3})
                       .bytes());
  EXPECT_EQ(mapped.addresses, Answers({{"10.1.2.3", 9}}));
}

TEST(DnsResponseTest, CnameChainInOrderTakesSmallestTtl) {
  Builder b;
  b.Header(1, kResponseFlags, 1, 4).Question(Name("www.example.com"));
  const std::size_t cdn = b.size() + 2 + 10;  // the CNAME target below: after owner and fixed
  b.Cname(Pointer(kQuestionOffset), 100, Name("cdn.example.net"));
  const std::size_t edge = b.size() + 2 + 10;
  b.Cname(Pointer(cdn), 3600, Pointer(cdn, "edge"));  // edge.cdn.example.net, compressed
  b.A(Pointer(edge), 300, "192.0.2.1");
  b.Aaaa(Pointer(edge), 20, "2001:db8::7");
  const Response response = MustResponse(b.bytes());
  EXPECT_EQ(response.addresses, Answers({{"192.0.2.1", 100}, {"2001:db8::7", 20}}));
}

TEST(DnsResponseTest, CnameChainOutOfOrder) {
  const Response response = MustResponse(Builder()
                                             .Header(1, kResponseFlags, 1, 3)
                                             .Question(Name("a.example"))
                                             .A(Name("c.example"), 500, "198.51.100.9")
                                             .Cname(Name("b.example"), 40, Name("c.example"))
                                             .Cname(Name("a.example"), 400, Name("B.example"))
                                             .bytes());
  EXPECT_EQ(response.addresses, Answers({{"198.51.100.9", 40}}));
}

TEST(DnsResponseTest, RecordsOfUnrelatedOwnersAreIgnored) {
  const Response response =
      MustResponse(Builder()
                       .Header(1, kResponseFlags, 1, 4, 0, 1)
                       .Question(Name("good.example"))
                       .A(Name("bank.example"), 300, "203.0.113.66")
                       // A CNAME *to* the question name says nothing about the question name.
                       .Cname(Name("other.example"), 300, Name("good.example"))
                       .A(Name("other.example"), 300, "203.0.113.67")
                       .A(Name("good.example"), 300, "203.0.113.1")
                       // The additional section is not an answer either.
                       .A(Name("good.example"), 300, "203.0.113.99")
                       .bytes());
  EXPECT_EQ(response.addresses, Answers({{"203.0.113.1", 300}}));
}

TEST(DnsResponseTest, CnameLoopEnds) {
  const Response response = MustResponse(Builder()
                                             .Header(1, kResponseFlags, 1, 3)
                                             .Question(Name("a.example"))
                                             .Cname(Name("a.example"), 10, Name("b.example"))
                                             .Cname(Name("b.example"), 10, Name("a.example"))
                                             .A(Name("b.example"), 10, "192.0.2.2")
                                             .bytes());
  EXPECT_EQ(response.addresses, Answers({{"192.0.2.2", 10}}));
}

TEST(DnsResponseTest, CnameChainIsFollowedAtMost16Times) {
  const auto chain = [](std::size_t length) {
    Builder b;
    b.Header(1, kResponseFlags, 1, static_cast<std::uint16_t>(length + 1)).Question(Name("n0.x"));
    for (std::size_t i = 0; i < length; ++i) {
      b.Cname(Name("n" + std::to_string(i) + ".x"), 60, Name("n" + std::to_string(i + 1) + ".x"));
    }
    b.A(Name("n" + std::to_string(length) + ".x"), 60, "192.0.2.3");
    return b.bytes();
  };
  EXPECT_EQ(MustResponse(chain(16)).addresses, Answers({{"192.0.2.3", 60}}));
  EXPECT_TRUE(MustResponse(chain(17)).addresses.empty());
}

TEST(DnsResponseTest, TtlWithTopBitSetCountsAsZero) {
  const Response response = MustResponse(Builder()
                                             .Header(1, kResponseFlags, 1, 1)
                                             .Question(Name("t.example"))
                                             .A(Name("t.example"), 0x80000000U, "192.0.2.4")
                                             .bytes());
  EXPECT_EQ(response.addresses, Answers({{"192.0.2.4", 0}}));
}

TEST(DnsResponseTest, OtherClassesAndTypesAreSkipped) {
  const Response response =
      MustResponse(Builder()
                       .Header(1, kResponseFlags, 1, 3)
                       .Question(Name("t.example"))
                       .Record(Name("t.example"), kTypeA, 60, {1, 2, 3, 4, 5, 6}, /*klass=*/3)
                       .Record(Name("t.example"), 16, 60, {3, 'a', 'b', 'c'})  // TXT
                       .A(Name("t.example"), 60, "192.0.2.5")
                       .bytes());
  EXPECT_EQ(response.addresses, Answers({{"192.0.2.5", 60}}));
}

TEST(DnsResponseTest, HeaderFieldsAndRcode) {
  const Response response =
      MustResponse(Builder()
                       .Header(0x0102, kResponseFlags | kTruncatedFlag | 3, 1, 0)
                       .Question(Name("gone.example"), kTypeAaaa)
                       .bytes());
  EXPECT_EQ(response.id, 0x0102);
  EXPECT_EQ(response.rcode, Rcode::kNXDomain);
  EXPECT_TRUE(response.truncated);
  EXPECT_EQ(response.question, (Question{"gone.example", kTypeAaaa, kClassIn}));
  EXPECT_TRUE(response.addresses.empty());
}

TEST(DnsResponseTest, RejectsMalformedResponses) {
  EXPECT_EQ(ResponseError(SimpleQuery("a.example")), "not a response: QR is clear");
  EXPECT_EQ(ResponseError(Builder().Header(1, kResponseFlags, 0, 0).bytes()),
            "response has 0 questions (expected 1)");
  EXPECT_EQ(ResponseError(Builder()
                              .Header(1, kResponseFlags, 1, 1)
                              .Question(Name("a.example"))
                              .Record(Pointer(12), kTypeA, 1, {1, 2, 3})
                              .bytes()),
            "A record at offset 39 has 3 bytes of data (expected 4)");
  EXPECT_EQ(ResponseError(Builder()
                              .Header(1, kResponseFlags, 1, 1)
                              .Question(Name("a.example"))
                              .Record(Pointer(12), kTypeAaaa, 1, AddressData("1.2.3.4"))
                              .bytes()),
            "AAAA record at offset 39 has 4 bytes of data (expected 16)");
  // CNAME data must be exactly one name.
  Bytes target = Name("b.example");
  target.push_back(0);
  EXPECT_EQ(ResponseError(Builder()
                              .Header(1, kResponseFlags, 1, 1)
                              .Question(Name("a.example"))
                              .Cname(Pointer(12), 1, target)
                              .bytes()),
            "CNAME record at offset 39 has data that is not exactly one name");
  // A bad byte in any answer's name.
  EXPECT_NE(ResponseError(Builder()
                              .Header(1, kResponseFlags, 1, 1)
                              .Question(Name("a.example"))
                              .A(Name("x y.example"), 1, "1.2.3.4")
                              .bytes())
                .find("is not allowed in a name"),
            std::string::npos);
}

TEST(DnsResponseTest, CompressionPointersMustPointBackwards) {
  // Forward: the owner points at the A record's own rdata, which comes later.
  Builder forward;
  forward.Header(1, kResponseFlags, 1, 1).Question(Name("a.example"));
  forward.A(Pointer(forward.size() + 2), 1, "1.2.3.4");
  EXPECT_EQ(ResponseError(forward.bytes()),
            "compression pointer at offset 27 to offset 29 does not point back to an earlier name");
  // To itself.
  Builder self;
  self.Header(1, kResponseFlags, 1, 1).Question(Name("a.example"));
  self.A(Pointer(self.size()), 1, "1.2.3.4");
  EXPECT_EQ(ResponseError(self.bytes()),
            "compression pointer at offset 27 to offset 27 does not point back to an earlier name");
  // A loop: the first answer's owner is "x" + pointer to the second answer's owner, which
  // points back to the first. The first pointer already points forward; and the second, read
  // through the first, points to an offset that is not before where the reading jumped to.
  Builder loop;
  loop.Header(1, kResponseFlags, 1, 2).Question(Name("a.example"));
  const std::size_t first = loop.size();
  loop.A(Pointer(first + 2 + 2 + 10 + 4, "x"), 1, "1.2.3.4");
  loop.A(Pointer(first), 1, "1.2.3.5");
  EXPECT_EQ(ResponseError(loop.bytes()),
            "compression pointer at offset 29 to offset 45 does not point back to an earlier name");
  // Pointer to pointer: allowed while each one points further back.
  Builder chained;
  chained.Header(1, kResponseFlags, 1, 2).Question(Name("a.example"));
  chained.Record(Pointer(12), 99, 1, Pointer(12));  // rdata at 39: a pointer to the question..
  chained.A(Pointer(39), 1, "1.2.3.4");             // ..reached through this one
  EXPECT_EQ(MustResponse(chained.bytes()).addresses, Answers({{"1.2.3.4", 1}}));
  Builder bad_chain;
  bad_chain.Header(1, kResponseFlags, 1, 2).Question(Name("a.example"));
  bad_chain.Record(Pointer(12), 99, 1, Pointer(41));  // rdata at 39: a pointer to 41..
  bad_chain.A(Pointer(39), 1, "1.2.3.4");             // ..where this one jumps back to 39
  EXPECT_EQ(ResponseError(bad_chain.bytes()),
            "compression pointer at offset 39 to offset 41 does not point back to an earlier name");
}

TEST(DnsResponseTest, CompressedCnameTargetMatchesQuestion) {
  // The answer chain reaches the question name's suffix through a pointer into the question.
  Builder b;
  b.Header(1, kResponseFlags, 1, 2).Question(Name("www.example.com"));
  const std::size_t target = b.size() + 2 + 10;
  b.Cname(Pointer(kQuestionOffset), 30, Pointer(kQuestionOffset + 4, "cdn"));  // cdn.example.com
  b.A(Pointer(target), 60, "192.0.2.8");
  EXPECT_EQ(MustResponse(b.bytes()).addresses, Answers({{"192.0.2.8", 30}}));
}

TEST(DnsResponseTest, RecordCountIsCapped) {
  Builder b;
  b.Header(1, kResponseFlags, 1, 600).Question(Name("many.example"));
  for (int i = 0; i < 600; ++i) {
    b.A(Pointer(kQuestionOffset), 60,
        "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
  }
  EXPECT_EQ(MustResponse(b.bytes()).addresses.size(), kMaxRecords);
}

Bytes FullResponse(std::uint16_t flags) {
  Builder b;
  b.Header(0x5151, flags, 1, 3, 0, 1).Question(Name("www.example.com"));
  const std::size_t target = b.size() + 2 + 10;
  b.Cname(Pointer(kQuestionOffset), 30, Pointer(kQuestionOffset + 4, "cdn"));
  b.A(Pointer(target), 60, "192.0.2.8");
  b.Aaaa(Pointer(target), 60, "2001:db8::8");
  b.Opt();
  return b.bytes();
}

TEST(DnsResponseTest, EveryTruncationIsAnErrorOrTheFullAnswer) {
  const Bytes full = FullResponse(kResponseFlags);
  const std::size_t answers_end = full.size() - 11;  // before the OPT record
  const Response expected = MustResponse(full);
  ASSERT_EQ(expected.addresses.size(), 2u);
  for (std::size_t length = 0; length < full.size(); ++length) {
    const Bytes prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(length));
    auto parsed = ParseResponse(prefix);
    if (length < answers_end) {
      EXPECT_TRUE(std::holds_alternative<ParseError>(parsed)) << length;
    } else {
      // The additional section is not read.
      ASSERT_TRUE(std::holds_alternative<Response>(parsed)) << length;
      EXPECT_EQ(std::get<Response>(parsed).addresses, expected.addresses);
    }
    (void)MakeErrorResponse(prefix, Rcode::kServFail);
  }
}

TEST(DnsResponseTest, TruncatedFlagAllowsAShortAnswerSection) {
  const Bytes full = FullResponse(kResponseFlags | kTruncatedFlag);
  const Response expected = MustResponse(full);
  const std::size_t question_end = kQuestionOffset + 17 + 4;
  for (std::size_t length = 0; length < full.size(); ++length) {
    const Bytes prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(length));
    auto parsed = ParseResponse(prefix);
    if (length < question_end) {
      EXPECT_TRUE(std::holds_alternative<ParseError>(parsed)) << length;
      continue;
    }
    ASSERT_TRUE(std::holds_alternative<Response>(parsed)) << length;
    const auto& addresses = std::get<Response>(parsed).addresses;
    // Whatever was complete, in order: a prefix of the full list.
    ASSERT_LE(addresses.size(), expected.addresses.size());
    for (std::size_t i = 0; i < addresses.size(); ++i) {
      EXPECT_EQ(addresses[i], expected.addresses[i]);
    }
  }
}

// --- MakeErrorResponse, ids ----------------------------------------------------------------

TEST(DnsErrorResponseTest, RefusedEchoesIdAndQuestion) {
  Builder b;
  b.Header(0xabcd, kQueryFlags | 0x0010, 1, 0, 0, 1).Question(Name("DeNied.Example"), kTypeAaaa);
  const std::size_t question_end = b.size();
  b.Opt();
  const Bytes query = b.bytes();
  const Bytes answer = MakeErrorResponse(query, Rcode::kRefused);
  ASSERT_EQ(answer.size(), question_end);
  // id; QR, RD, RA, CD, REFUSED; one question; no records.
  EXPECT_EQ(Bytes(answer.begin(), answer.begin() + 12),
            (Bytes{0xab, 0xcd, 0x81, 0x95, 0, 1, 0, 0, 0, 0, 0, 0}));
  // The question keeps the client's letter case.
  EXPECT_TRUE(std::equal(answer.begin() + 12, answer.end(), query.begin() + 12));

  const Response parsed = MustResponse(answer);
  EXPECT_EQ(parsed.id, 0xabcd);
  EXPECT_EQ(parsed.rcode, Rcode::kRefused);
  EXPECT_EQ(parsed.question, (Question{"denied.example", kTypeAaaa, kClassIn}));
  EXPECT_TRUE(parsed.addresses.empty());
}

TEST(DnsErrorResponseTest, RecursionDesiredIsEchoed) {
  const Bytes answer = MakeErrorResponse(Builder().Header(9, 0, 1, 0).Question(Name("a.b")).bytes(),
                                         Rcode::kServFail);
  ASSERT_GE(answer.size(), 4u);
  EXPECT_EQ(answer[2], 0x80);
  EXPECT_EQ(answer[3], 0x82);
}

TEST(DnsErrorResponseTest, QuestionWithRefusedBytesIsStillEchoed) {
  // The client must get an answer that matches its question, or it waits for a timeout.
  const Bytes query = SimpleQuery("bad name.example");
  ASSERT_TRUE(std::holds_alternative<ParseError>(ParseQuery(query)));
  const Bytes answer = MakeErrorResponse(query, Rcode::kRefused);
  ASSERT_EQ(answer.size(), query.size());
  EXPECT_EQ(answer[5], 1);
  EXPECT_TRUE(std::equal(answer.begin() + 12, answer.end(), query.begin() + 12));
}

TEST(DnsErrorResponseTest, HeaderOnlyWhenTheQuestionIsUnreadable) {
  const Bytes header_only = {0x12, 0x34, 0x81, 0x81, 0, 0, 0, 0, 0, 0, 0, 0};
  // Label running past the end.
  Bytes cut = SimpleQuery("example.org");
  cut.resize(16);
  EXPECT_EQ(MakeErrorResponse(cut, Rcode::kFormErr), header_only);
  // Two questions.
  Bytes two =
      Builder().Header(0x1234, kQueryFlags, 2, 0).Question(Name("a")).Question(Name("b")).bytes();
  EXPECT_EQ(MakeErrorResponse(two, Rcode::kFormErr), header_only);
  // Just the id.
  EXPECT_EQ(MakeErrorResponse(Bytes{0x12, 0x34}, Rcode::kFormErr),
            (Bytes{0x12, 0x34, 0x80, 0x81, 0, 0, 0, 0, 0, 0, 0, 0}));
  // Another opcode (STATUS): echoed, no question.
  EXPECT_EQ(MakeErrorResponse(Builder().Header(0x1234, 2 << 11, 1, 0).Question(Name("a")).bytes(),
                              Rcode::kNotImp),
            (Bytes{0x12, 0x34, 0x90, 0x84, 0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(DnsErrorResponseTest, NothingForNoIdOrForAResponse) {
  EXPECT_TRUE(MakeErrorResponse(Bytes{}, Rcode::kFormErr).empty());
  EXPECT_TRUE(MakeErrorResponse(Bytes{0x12}, Rcode::kFormErr).empty());
  EXPECT_TRUE(MakeErrorResponse(FullResponse(kResponseFlags), Rcode::kRefused).empty());
}

TEST(DnsIdTest, GetAndSet) {
  Bytes message = SimpleQuery("a.example");
  EXPECT_EQ(GetId(message), 0x1234);
  EXPECT_TRUE(SetId(message, 0xfeed));
  EXPECT_EQ(GetId(message), 0xfeed);
  EXPECT_EQ(message[0], 0xfe);
  EXPECT_EQ(message[1], 0xed);
  EXPECT_EQ(MustQuery(message).id, 0xfeed);
  Bytes one = {7};
  EXPECT_FALSE(SetId(one, 1));
  EXPECT_EQ(one, Bytes{7});
  EXPECT_EQ(GetId(one), std::nullopt);
}

}  // namespace
}  // namespace sandgate::approvals::dns
