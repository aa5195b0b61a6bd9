// libFuzzer target for the rule grammar (approvals/rule.h). Built with clang++ and run for a
// bounded time by ctest (`ctest -L fuzz`, see tests/fuzz/CMakeLists.txt and run_fuzzer.sh);
// seeds in corpus/rule/.
//
// Beyond "does not crash", it checks the parser's promises:
//   - an error is one line (it goes to stderr and into JSON-RPC error data);
//   - a parsed rule's text is its canonical form, and parsing that text gives the same rule;
//   - matching the rule against destinations built from the same bytes terminates quietly.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "approvals/address.h"
#include "approvals/destination.h"
#include "approvals/rule.h"

namespace {

using sandgate::approvals::Address;
using sandgate::approvals::Destination;
using sandgate::approvals::Protocol;
using sandgate::approvals::Rule;
using sandgate::approvals::RuleError;

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = sandgate::approvals::ParseRule(input);
  if (const auto* error = std::get_if<RuleError>(&parsed)) {
    Check(error->message.find('\n') == std::string::npos);
    Check(error->message.find('\r') == std::string::npos);
    return 0;
  }
  const Rule& rule = std::get<Rule>(parsed);
  Check(rule.text == sandgate::approvals::FormatRule(rule));
  auto reparsed = sandgate::approvals::ParseRule(rule.text);
  Check(std::holds_alternative<Rule>(reparsed));
  Check(std::get<Rule>(reparsed) == rule);

  const std::uint16_t port = size >= 2 ? static_cast<std::uint16_t>(data[0] << 8 | data[1]) : 0;
  Destination by_host;
  by_host.host = std::string(input);
  by_host.port = port;
  (void)sandgate::approvals::Matches(rule, by_host);
  if (const auto address = Address::Parse(input)) {
    Destination by_address;
    by_address.address = *address;
    by_address.port = port;
    (void)sandgate::approvals::Matches(rule, by_address);
  }
  Destination by_path;
  by_path.protocol = Protocol::kUnix;
  by_path.unix_path = std::string(input);
  (void)sandgate::approvals::Matches(rule, by_path);
  Destination by_name;
  by_name.protocol = Protocol::kUnix;
  by_name.unix_abstract = std::string(input);
  (void)sandgate::approvals::Matches(rule, by_name);
  return 0;
}
