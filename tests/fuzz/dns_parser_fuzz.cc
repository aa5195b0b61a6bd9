// libFuzzer target for the DNS wire-format code (approvals/dns_message.h) and the name map fed
// from it (approvals/dns_names.h). Built with clang++ and run for a bounded time by ctest
// (`ctest -L fuzz`, see tests/fuzz/CMakeLists.txt and run_fuzzer.sh); seeds in corpus/dns/
// (made by make_dns_corpus.py).
//
// Beyond "does not crash", it checks the parsers' promises:
//   - an error is one line;
//   - a parsed name is lowercase, at most 253 characters, of labels of allowed bytes;
//   - a response holds at most kMaxRecords addresses, and recording them for the question name
//     makes the name map attribute each of them to that name;
//   - the error answer to a parsable query parses back as a response with the same id and
//     question and the rcode asked for; any error answer echoes the id and has QR set.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "approvals/dns_message.h"
#include "approvals/dns_names.h"

namespace {

namespace dns = sandgate::approvals::dns;

void Check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

void CheckOneLine(const dns::ParseError& error) {
  Check(!error.message.empty());
  Check(error.message.find('\n') == std::string::npos);
  Check(error.message.find('\r') == std::string::npos);
}

void CheckName(const std::string& name) {
  Check(name.size() <= 253);
  if (name.empty()) {
    return;  // the root
  }
  Check(name.front() != '.' && name.back() != '.');
  Check(name.find("..") == std::string::npos);
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    Check(byte >= 0x21 && byte <= 0x7e && byte != '\\');
    Check(!(c >= 'A' && c <= 'Z'));
  }
}

void CheckErrorResponse(std::span<const std::uint8_t> query, dns::Rcode rcode) {
  const std::vector<std::uint8_t> answer = dns::MakeErrorResponse(query, rcode);
  if (answer.empty()) {
    return;
  }
  Check(answer.size() >= 12);
  Check(answer.size() <= query.size() || answer.size() == 12);
  Check(dns::GetId(answer) == dns::GetId(query));
  Check((answer[2] & 0x80) != 0);
  Check((answer[3] & 0x0f) == static_cast<unsigned>(rcode));

  auto query_parsed = dns::ParseQuery(query);
  if (const auto* query_ok = std::get_if<dns::Query>(&query_parsed)) {
    auto parsed = dns::ParseResponse(answer);
    Check(std::holds_alternative<dns::Response>(parsed));
    const auto& response = std::get<dns::Response>(parsed);
    Check(response.id == query_ok->id);
    Check(response.question == query_ok->question);
    Check(response.rcode == rcode);
    Check(!response.truncated);
    Check(response.addresses.empty());
  } else {
    (void)dns::ParseResponse(answer);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> message(data, size);

  auto query = dns::ParseQuery(message);
  if (const auto* error = std::get_if<dns::ParseError>(&query)) {
    CheckOneLine(*error);
  } else {
    CheckName(std::get<dns::Query>(query).question.name);
  }

  auto response = dns::ParseResponse(message);
  if (const auto* error = std::get_if<dns::ParseError>(&response)) {
    CheckOneLine(*error);
  } else {
    const auto& parsed = std::get<dns::Response>(response);
    CheckName(parsed.question.name);
    Check(parsed.addresses.size() <= dns::kMaxRecords);
    if (!parsed.question.name.empty()) {
      dns::NameMap names;
      const auto now = dns::NameMap::Clock::time_point{};
      for (const auto& answer : parsed.addresses) {
        names.Record(parsed.question.name, answer.address, answer.ttl, now);
        Check(names.HostFor(answer.address, now) == parsed.question.name);
      }
    }
  }

  // The rcode comes from the input so all of them get exercised.
  const auto rcode = static_cast<dns::Rcode>(size == 0 ? 0 : data[size - 1] % 6);
  CheckErrorResponse(message, rcode);

  std::vector<std::uint8_t> copy(data, data + size);
  const bool set = dns::SetId(copy, 0xa5a5);
  Check(set == (size >= 2));
  Check(dns::GetId(copy) == (set ? std::optional<std::uint16_t>(0xa5a5) : std::nullopt));
  return 0;
}
