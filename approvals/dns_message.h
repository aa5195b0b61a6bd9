#pragma once

// DNS wire format (RFC 1035) for the DNS forwarder: just enough to read the question of a query
// from the sandbox, to learn which addresses an upstream answer gives for that question, and to
// answer a query with an error. Both inputs are hostile (the sandboxed command writes the
// queries; the upstream resolver, or whoever spoofs it, writes the responses), so every read is
// bounds-checked, work per message is bounded, and anything odd is a ParseError, never an
// exception or a crash.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "approvals/address.h"

namespace sandgate::approvals::dns {

// The 4-bit RCODE of the header. A parsed response may carry values not listed here (e.g. 9,
// NOTAUTH); they are kept as the number.
enum class Rcode : std::uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNXDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};

inline constexpr std::uint16_t kTypeA = 1;
inline constexpr std::uint16_t kTypeCname = 5;
inline constexpr std::uint16_t kTypeAaaa = 28;
inline constexpr std::uint16_t kTypeOpt = 41;
inline constexpr std::uint16_t kClassIn = 1;

// Larger messages cannot exist (TCP frames them with a 16-bit length) and are rejected.
inline constexpr std::size_t kMaxMessageSize = 65535;
// Bounds the work per message: ParseQuery refuses more additional records than this, and
// ParseResponse reads at most this many answers (the rest are not looked at).
inline constexpr std::size_t kMaxRecords = 512;
// CNAMEs followed from the question name.
inline constexpr std::size_t kMaxCnameChain = 16;

struct Question {
  // Lowercase, labels joined by '.', no trailing dot; the root is "". Every label byte is
  // printable ASCII other than '.' and '\' (0x21-0x7e), so the name needs no escaping and is at
  // most 253 characters.
  std::string name;
  std::uint16_t type = 0;
  std::uint16_t klass = 0;

  friend bool operator==(const Question&, const Question&) = default;
};

struct Query {
  std::uint16_t id = 0;
  bool recursion_desired = false;
  Question question;
};

struct AddressAnswer {
  Address address;
  // Seconds: the smallest TTL along the CNAME chain that led to the address (RFC 2181: a TTL
  // with the top bit set counts as 0).
  std::uint32_t ttl = 0;

  friend bool operator==(const AddressAnswer&, const AddressAnswer&) = default;
};

struct Response {
  std::uint16_t id = 0;
  Rcode rcode = Rcode::kNoError;
  bool truncated = false;
  Question question;
  // A and AAAA records of class IN in the answer section owned by the question name or by a
  // name the question name reaches through CNAMEs (at most kMaxCnameChain), in message order per
  // name. Records of other owners are ignored: an upstream must not attribute an address to a
  // name it was not asked about. Collected whatever the rcode.
  std::vector<AddressAnswer> addresses;
};

// One line; it names offsets and values but never quotes message bytes.
struct ParseError {
  std::string message;
};

// A query from the sandbox: QR=0, opcode QUERY, exactly one question, no answer or authority
// records; additional records (EDNS OPT) must be well-formed and nothing may follow them.
[[nodiscard]] std::variant<Query, ParseError> ParseQuery(std::span<const std::uint8_t> message);

// A response from upstream: QR=1, opcode QUERY, exactly one question. Only the question and the
// answer section are read (authority and additional records are not needed and are not
// checked). When the TC bit is set, an answer section cut short by the end of the message ends
// the walk instead of being an error. The caller checks that id and question match what it sent.
[[nodiscard]] std::variant<Response, ParseError> ParseResponse(
    std::span<const std::uint8_t> message);

// An answer to `query` with `rcode` and no records: id, opcode, RD and CD echoed, QR and RA set.
// The question is copied byte for byte (keeping the client's letter case, which some resolvers
// check) when it is well-formed, even if its name has bytes ParseQuery refuses. Otherwise the
// answer is the header alone (QDCOUNT 0), as long as the query has its 2-byte id. Nothing (an
// empty vector) for less than that, and for a message with QR set: answering a response could
// start a loop between two servers.
[[nodiscard]] std::vector<std::uint8_t> MakeErrorResponse(std::span<const std::uint8_t> query,
                                                          Rcode rcode);

// The 16-bit id at the start of a message; false / nullopt when the message is shorter than 2.
bool SetId(std::span<std::uint8_t> message, std::uint16_t id);
[[nodiscard]] std::optional<std::uint16_t> GetId(std::span<const std::uint8_t> message);

}  // namespace sandgate::approvals::dns
