#include "approvals/dns_message.h"

#include <algorithm>
#include <array>
#include <limits>
#include <string_view>
#include <utility>

namespace sandgate::approvals::dns {
namespace {

constexpr std::size_t kHeaderSize = 12;
// Type, class, TTL, RDLENGTH.
constexpr std::size_t kRecordFixedSize = 10;
constexpr std::size_t kQuestionFixedSize = 4;
// RFC 1035 2.3.4, counting the length bytes and the root label.
constexpr std::size_t kMaxNameWireLength = 255;
// Pointers point strictly backwards, so a chain ends anyway; this caps the work for a chain of
// bare pointers. A 255-byte name has at most 127 labels, so no sane name needs more.
constexpr std::size_t kMaxPointerHops = 128;

constexpr std::uint8_t kLabelTypeMask = 0xc0;
constexpr std::uint8_t kPointerTag = 0xc0;

constexpr std::uint16_t kFlagQr = 0x8000;
constexpr unsigned kOpcodeShift = 11;
constexpr unsigned kOpcodeMask = 0xf;
constexpr unsigned kOpcodeQuery = 0;
constexpr std::uint16_t kFlagTc = 0x0200;
constexpr std::uint16_t kFlagRd = 0x0100;
constexpr std::uint16_t kFlagRa = 0x0080;
constexpr std::uint16_t kFlagCd = 0x0010;
constexpr std::uint16_t kRcodeMask = 0x000f;

// RFC 2181 8: a TTL with the most significant bit set is treated as zero.
constexpr std::uint32_t kMaxTtl = 0x7fffffff;

// Running off the end of the message is told apart from other faults, so that a truncated (TC)
// response can end its answer section there.
struct Error {
  std::string message;
  bool end_of_message = false;
};

template <typename T>
using Result = std::variant<T, Error>;

std::string Hex(unsigned value) {
  constexpr std::string_view kDigits = "0123456789abcdef";
  std::string out = "0x";
  out += kDigits[(value >> 4) & 0xfU];
  out += kDigits[value & 0xfU];
  return out;
}

Error EndOfMessage(std::string_view what, std::size_t offset) {
  return Error{"message ends inside " + std::string(what) + " at offset " + std::to_string(offset),
               true};
}

std::uint16_t U16At(std::span<const std::uint8_t> message, std::size_t offset) {
  return static_cast<std::uint16_t>(message[offset] << 8 | message[offset + 1]);
}

std::uint32_t U32At(std::span<const std::uint8_t> message, std::size_t offset) {
  return static_cast<std::uint32_t>(U16At(message, offset)) << 16 | U16At(message, offset + 2);
}

bool AllowedNameByte(std::uint8_t byte) {
  return byte >= 0x21 && byte <= 0x7e && byte != '.' && byte != '\\';
}

char ToLowerAscii(std::uint8_t byte) {
  return static_cast<char>(byte >= 'A' && byte <= 'Z' ? byte - 'A' + 'a' : byte);
}

struct Header {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::uint16_t qdcount = 0;
  std::uint16_t ancount = 0;
  std::uint16_t nscount = 0;
  std::uint16_t arcount = 0;

  [[nodiscard]] unsigned opcode() const { return (flags >> kOpcodeShift) & kOpcodeMask; }
  [[nodiscard]] bool is_response() const { return (flags & kFlagQr) != 0; }
};

Result<Header> ReadHeader(std::span<const std::uint8_t> message) {
  if (message.size() > kMaxMessageSize) {
    return Error{"message of " + std::to_string(message.size()) + " bytes is larger than 65535"};
  }
  if (message.size() < kHeaderSize) {
    return EndOfMessage("the 12-byte header", message.size());
  }
  Header header;
  header.id = U16At(message, 0);
  header.flags = U16At(message, 2);
  header.qdcount = U16At(message, 4);
  header.ancount = U16At(message, 6);
  header.nscount = U16At(message, 8);
  header.arcount = U16At(message, 10);
  return header;
}

// Which label bytes a name may have: kStrict is the rule for every name this module hands out;
// kAny only checks the structure (for echoing a question byte for byte).
enum class LabelBytes { kStrict, kAny };

struct Name {
  std::string text;     // lowercase, dot-separated (meaningful for kStrict only)
  std::size_t end = 0;  // offset just after the name where it started (after its first pointer)
};

Result<Name> DecodeName(std::span<const std::uint8_t> message, std::size_t start,
                        LabelBytes label_bytes) {
  Name name;
  std::optional<std::size_t> end;
  std::size_t pos = start;
  // A pointer must point strictly before the start of the part of the name being read, so
  // every jump goes backwards and no loop is possible; it must not point into the header.
  std::size_t segment_start = start;
  std::size_t wire_length = 1;  // the root label
  std::size_t hops = 0;
  for (;;) {
    if (pos >= message.size()) {
      return EndOfMessage("a name", pos);
    }
    const std::uint8_t length = message[pos];
    if ((length & kLabelTypeMask) == kPointerTag) {
      if (pos + 1 >= message.size()) {
        return EndOfMessage("a compression pointer", pos);
      }
      const std::size_t target = static_cast<std::size_t>(length & 0x3fU) << 8 | message[pos + 1];
      if (target < kHeaderSize || target >= segment_start) {
        return Error{"compression pointer at offset " + std::to_string(pos) + " to offset " +
                     std::to_string(target) + " does not point back to an earlier name"};
      }
      if (++hops > kMaxPointerHops) {
        return Error{"name at offset " + std::to_string(start) + " has more than " +
                     std::to_string(kMaxPointerHops) + " compression pointers"};
      }
      if (!end) {
        end = pos + 2;
      }
      pos = target;
      segment_start = target;
      continue;
    }
    if ((length & kLabelTypeMask) != 0) {
      return Error{"label type " + Hex(length & kLabelTypeMask) + " at offset " +
                   std::to_string(pos) + " is not supported"};
    }
    if (length == 0) {
      if (!end) {
        end = pos + 1;
      }
      break;
    }
    wire_length += 1 + std::size_t{length};
    if (wire_length > kMaxNameWireLength) {
      return Error{"name at offset " + std::to_string(start) + " is longer than 255 bytes"};
    }
    if (message.size() - pos - 1 < length) {
      return EndOfMessage("a label", pos);
    }
    if (!name.text.empty()) {
      name.text += '.';
    }
    for (std::size_t i = pos + 1; i <= pos + length; ++i) {
      const std::uint8_t byte = message[i];
      if (label_bytes == LabelBytes::kStrict && !AllowedNameByte(byte)) {
        return Error{"byte " + Hex(byte) + " at offset " + std::to_string(i) +
                     " is not allowed in a name"};
      }
      name.text += ToLowerAscii(byte);
    }
    pos += 1 + std::size_t{length};
  }
  name.end = *end;
  return name;
}

struct ParsedQuestion {
  Question question;
  std::size_t end = 0;
};

Result<ParsedQuestion> ReadQuestion(std::span<const std::uint8_t> message, std::size_t start,
                                    LabelBytes label_bytes) {
  auto name = DecodeName(message, start, label_bytes);
  if (auto* error = std::get_if<Error>(&name)) {
    return std::move(*error);
  }
  ParsedQuestion parsed;
  parsed.question.name = std::move(std::get<Name>(name).text);
  const std::size_t pos = std::get<Name>(name).end;
  if (message.size() - pos < kQuestionFixedSize) {
    return EndOfMessage("the question", pos);
  }
  parsed.question.type = U16At(message, pos);
  parsed.question.klass = U16At(message, pos + 2);
  parsed.end = pos + kQuestionFixedSize;
  return parsed;
}

struct Record {
  std::string owner;
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
  std::uint32_t ttl = 0;
  std::size_t rdata = 0;  // offset
  std::size_t rdlength = 0;
  [[nodiscard]] std::size_t end() const { return rdata + rdlength; }
};

Result<Record> ReadRecord(std::span<const std::uint8_t> message, std::size_t start) {
  auto name = DecodeName(message, start, LabelBytes::kStrict);
  if (auto* error = std::get_if<Error>(&name)) {
    return std::move(*error);
  }
  Record record;
  record.owner = std::move(std::get<Name>(name).text);
  const std::size_t pos = std::get<Name>(name).end;
  if (message.size() - pos < kRecordFixedSize) {
    return EndOfMessage("a record", pos);
  }
  record.type = U16At(message, pos);
  record.klass = U16At(message, pos + 2);
  const std::uint32_t ttl = U32At(message, pos + 4);
  record.ttl = ttl > kMaxTtl ? 0 : ttl;
  record.rdlength = U16At(message, pos + 8);
  record.rdata = pos + kRecordFixedSize;
  if (message.size() - record.rdata < record.rdlength) {
    return EndOfMessage("the data of the record at offset " + std::to_string(start),
                        message.size());
  }
  return record;
}

struct OwnedAddress {
  std::string owner;
  AddressAnswer answer;
};

struct Cname {
  std::string owner;
  std::string target;
  std::uint32_t ttl = 0;
};

// Follows CNAMEs from the question name and collects the addresses of each name on the way.
std::vector<AddressAnswer> AddressesFor(const std::string& question_name,
                                        const std::vector<OwnedAddress>& addresses,
                                        const std::vector<Cname>& cnames) {
  std::vector<AddressAnswer> out;
  std::vector<const std::string*> visited;
  const std::string* current = &question_name;
  std::uint32_t chain_ttl = std::numeric_limits<std::uint32_t>::max();
  for (std::size_t step = 0;; ++step) {
    visited.push_back(current);
    for (const OwnedAddress& owned : addresses) {
      if (owned.owner == *current) {
        out.push_back({owned.answer.address, std::min(owned.answer.ttl, chain_ttl)});
      }
    }
    if (step == kMaxCnameChain) {
      break;
    }
    const auto next = std::find_if(cnames.begin(), cnames.end(),
                                   [&](const Cname& cname) { return cname.owner == *current; });
    if (next == cnames.end()) {
      break;
    }
    if (std::any_of(visited.begin(), visited.end(),
                    [&](const std::string* name) { return *name == next->target; })) {
      break;  // a loop: every name on it has been collected already
    }
    chain_ttl = std::min(chain_ttl, next->ttl);
    current = &next->target;
  }
  return out;
}

}  // namespace

std::variant<Query, ParseError> ParseQuery(std::span<const std::uint8_t> message) {
  auto header_or = ReadHeader(message);
  if (auto* error = std::get_if<Error>(&header_or)) {
    return ParseError{std::move(error->message)};
  }
  const Header& header = std::get<Header>(header_or);
  if (header.is_response()) {
    return ParseError{"not a query: QR is set"};
  }
  if (header.opcode() != kOpcodeQuery) {
    return ParseError{"opcode " + std::to_string(header.opcode()) + " is not QUERY"};
  }
  if (header.qdcount != 1) {
    return ParseError{"query has " + std::to_string(header.qdcount) + " questions (expected 1)"};
  }
  if (header.ancount != 0 || header.nscount != 0) {
    return ParseError{"query has answer or authority records"};
  }
  if (header.arcount > kMaxRecords) {
    return ParseError{"query has " + std::to_string(header.arcount) + " additional records"};
  }
  auto question = ReadQuestion(message, kHeaderSize, LabelBytes::kStrict);
  if (auto* error = std::get_if<Error>(&question)) {
    return ParseError{std::move(error->message)};
  }
  std::size_t pos = std::get<ParsedQuestion>(question).end;
  // Additional records (EDNS OPT, perhaps a TSIG) are forwarded as they are; they only need to
  // be well-formed.
  for (std::size_t i = 0; i < header.arcount; ++i) {
    auto record = ReadRecord(message, pos);
    if (auto* error = std::get_if<Error>(&record)) {
      return ParseError{std::move(error->message)};
    }
    pos = std::get<Record>(record).end();
  }
  if (pos != message.size()) {
    return ParseError{std::to_string(message.size() - pos) + " bytes after the last record"};
  }
  Query query;
  query.id = header.id;
  query.recursion_desired = (header.flags & kFlagRd) != 0;
  query.question = std::move(std::get<ParsedQuestion>(question).question);
  return query;
}

std::variant<Response, ParseError> ParseResponse(std::span<const std::uint8_t> message) {
  auto header_or = ReadHeader(message);
  if (auto* error = std::get_if<Error>(&header_or)) {
    return ParseError{std::move(error->message)};
  }
  const Header& header = std::get<Header>(header_or);
  if (!header.is_response()) {
    return ParseError{"not a response: QR is clear"};
  }
  if (header.opcode() != kOpcodeQuery) {
    return ParseError{"opcode " + std::to_string(header.opcode()) + " is not QUERY"};
  }
  if (header.qdcount != 1) {
    return ParseError{"response has " + std::to_string(header.qdcount) + " questions (expected 1)"};
  }
  auto question = ReadQuestion(message, kHeaderSize, LabelBytes::kStrict);
  if (auto* error = std::get_if<Error>(&question)) {
    return ParseError{std::move(error->message)};
  }
  Response response;
  response.id = header.id;
  response.rcode = static_cast<Rcode>(header.flags & kRcodeMask);
  response.truncated = (header.flags & kFlagTc) != 0;
  response.question = std::move(std::get<ParsedQuestion>(question).question);

  std::vector<OwnedAddress> addresses;
  std::vector<Cname> cnames;
  std::size_t pos = std::get<ParsedQuestion>(question).end;
  const std::size_t count = std::min<std::size_t>(header.ancount, kMaxRecords);
  for (std::size_t i = 0; i < count; ++i) {
    auto record_or = ReadRecord(message, pos);
    if (auto* error = std::get_if<Error>(&record_or)) {
      if (error->end_of_message && response.truncated) {
        break;
      }
      return ParseError{std::move(error->message)};
    }
    Record& record = std::get<Record>(record_or);
    pos = record.end();
    if (record.klass != kClassIn) {
      continue;  // other classes give A its own meaning (CHAOS A is a name and a number)
    }
    if (record.type == kTypeA) {
      if (record.rdlength != 4) {
        return ParseError{"A record at offset " + std::to_string(record.rdata) + " has " +
                          std::to_string(record.rdlength) + " bytes of data (expected 4)"};
      }
      Address::V4Bytes bytes{};
      std::copy_n(message.begin() + static_cast<std::ptrdiff_t>(record.rdata), bytes.size(),
                  bytes.begin());
      addresses.push_back({std::move(record.owner), {Address::FromV4(bytes), record.ttl}});
    } else if (record.type == kTypeAaaa) {
      if (record.rdlength != 16) {
        return ParseError{"AAAA record at offset " + std::to_string(record.rdata) + " has " +
                          std::to_string(record.rdlength) + " bytes of data (expected 16)"};
      }
      Address::V6Bytes bytes{};
      std::copy_n(message.begin() + static_cast<std::ptrdiff_t>(record.rdata), bytes.size(),
                  bytes.begin());
      addresses.push_back({std::move(record.owner), {Address::FromV6(bytes), record.ttl}});
    } else if (record.type == kTypeCname) {
      auto target = DecodeName(message, record.rdata, LabelBytes::kStrict);
      if (auto* error = std::get_if<Error>(&target)) {
        return ParseError{std::move(error->message)};
      }
      if (std::get<Name>(target).end != record.end()) {
        return ParseError{"CNAME record at offset " + std::to_string(record.rdata) +
                          " has data that is not exactly one name"};
      }
      cnames.push_back(
          {std::move(record.owner), std::move(std::get<Name>(target).text), record.ttl});
    }
  }
  response.addresses = AddressesFor(response.question.name, addresses, cnames);
  return response;
}

std::vector<std::uint8_t> MakeErrorResponse(std::span<const std::uint8_t> query, Rcode rcode) {
  if (query.size() < 2) {
    return {};
  }
  const std::uint16_t query_flags = static_cast<std::uint16_t>(
      (query.size() > 2 ? query[2] << 8 : 0) | (query.size() > 3 ? query[3] : 0));
  if ((query_flags & kFlagQr) != 0) {
    return {};
  }
  const unsigned opcode = (query_flags >> kOpcodeShift) & kOpcodeMask;
  const auto flags = static_cast<std::uint16_t>(kFlagQr | (opcode << kOpcodeShift) |
                                                (query_flags & (kFlagRd | kFlagCd)) | kFlagRa |
                                                (static_cast<unsigned>(rcode) & kRcodeMask));

  // The question is copied rather than re-encoded, keeping the client's letter case. At offset
  // 12 it cannot hold a compression pointer (there is no earlier name), so the bytes are the
  // whole question.
  std::span<const std::uint8_t> question;
  if (opcode == kOpcodeQuery && query.size() >= kHeaderSize && query.size() <= kMaxMessageSize &&
      U16At(query, 4) == 1) {
    const auto parsed = ReadQuestion(query, kHeaderSize, LabelBytes::kAny);
    if (const auto* ok = std::get_if<ParsedQuestion>(&parsed)) {
      question = query.subspan(kHeaderSize, ok->end - kHeaderSize);
    }
  }

  std::vector<std::uint8_t> out(kHeaderSize);
  out[0] = query[0];
  out[1] = query[1];
  out[2] = static_cast<std::uint8_t>(flags >> 8);
  out[3] = static_cast<std::uint8_t>(flags & 0xff);
  out[5] = question.empty() ? 0 : 1;  // QDCOUNT; all other counts stay 0
  out.insert(out.end(), question.begin(), question.end());
  return out;
}

bool SetId(std::span<std::uint8_t> message, std::uint16_t id) {
  if (message.size() < 2) {
    return false;
  }
  message[0] = static_cast<std::uint8_t>(id >> 8);
  message[1] = static_cast<std::uint8_t>(id & 0xff);
  return true;
}

std::optional<std::uint16_t> GetId(std::span<const std::uint8_t> message) {
  if (message.size() < 2) {
    return std::nullopt;
  }
  return U16At(message, 0);
}

}  // namespace sandgate::approvals::dns
