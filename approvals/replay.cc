#include "approvals/replay.h"

#include <algorithm>
#include <utility>

#include "approvals/domain.h"
#include "approvals/json_util.h"
#include "approvals/message_text.h"

namespace sandgate::approvals {
namespace {

using nlohmann::json;

std::variant<Expectation, Problem> ParseExpect(const json& expect) {
  if (!expect.is_object()) {
    return Problem{"\"expect\" must be an object"};
  }
  if (auto p = CheckMembers(expect, {"host", "address", "port", "protocol", "path"})) {
    return Problem{"\"expect\": " + p->what};
  }
  Expectation e;
  if (FindMember(expect, "host") != nullptr) {
    std::string host;
    if (auto p = ReadString(expect, "host", host)) {
      return *p;
    }
    if (host.empty()) {
      return Problem{"\"host\" must not be empty"};
    }
    e.host = CanonicalHostName(host);
  }
  if (FindMember(expect, "address") != nullptr) {
    std::string address;
    if (auto p = ReadString(expect, "address", address)) {
      return *p;
    }
    e.address = Address::Parse(address);
    if (!e.address) {
      return Problem{"invalid address \"" + address + "\""};
    }
  }
  if (FindMember(expect, "port") != nullptr) {
    std::int64_t port = 0;
    if (auto p = ReadInteger(expect, "port", 0, 65535, port)) {
      return *p;
    }
    e.port = static_cast<std::uint16_t>(port);
  }
  if (FindMember(expect, "protocol") != nullptr) {
    std::string protocol;
    if (auto p = ReadString(expect, "protocol", protocol)) {
      return *p;
    }
    e.protocol = ParseProtocol(protocol);
    if (!e.protocol) {
      return Problem{"unknown protocol \"" + protocol + "\""};
    }
  }
  if (FindMember(expect, "path") != nullptr) {
    std::string path;
    if (auto p = ReadString(expect, "path", path)) {
      return *p;
    }
    e.path = std::move(path);
  }
  return e;
}

std::variant<Expectation, Problem> ParseLine(std::string_view line) {
  json entry;
  try {
    entry = json::parse(line);
  } catch (const json::parse_error& error) {
    return Problem{"invalid JSON at byte " + std::to_string(error.byte)};
  }
  // "comment" because JSON has none, and replay files are written by hand.
  if (auto p = CheckMembers(entry, {"expect", "decision", "comment"})) {
    return *p;
  }
  const json* expect = FindMember(entry, "expect");
  const json* decision = FindMember(entry, "decision");
  if (expect == nullptr) {
    return Problem{"missing \"expect\""};
  }
  if (decision == nullptr) {
    return Problem{"missing \"decision\""};
  }
  auto expectation = ParseExpect(*expect);
  if (std::holds_alternative<Problem>(expectation)) {
    return expectation;
  }
  auto answer = ParseAnswer(*decision);
  if (auto* p = std::get_if<Problem>(&answer)) {
    return *p;
  }
  std::get<Expectation>(expectation).answer = std::get<Answer>(std::move(answer));
  return expectation;
}

bool IsBlank(std::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t'; });
}

}  // namespace

bool Expectation::Matches(const Destination& d) const {
  if (host) {
    const auto is_expected = [this](const std::string& name) {
      return CanonicalHostName(name) == *host;
    };
    if (!(d.host && is_expected(*d.host)) &&
        std::none_of(d.names.begin(), d.names.end(), is_expected)) {
      return false;
    }
  }
  if (address && (!d.address || *d.address != *address)) {
    return false;
  }
  if (port && d.port != *port) {
    return false;
  }
  if (protocol && d.protocol != *protocol) {
    return false;
  }
  if (path) {
    if (d.unix_path) {
      return *d.unix_path == *path;
    }
    if (d.unix_abstract) {
      return "@" + *d.unix_abstract == *path;
    }
    return false;
  }
  return true;
}

std::variant<ReplayApprover, ReplayError> ReplayApprover::Parse(std::string_view content) {
  std::vector<Expectation> expectations;
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start < content.size()) {
    std::size_t end = content.find('\n', start);
    if (end == std::string_view::npos) {
      end = content.size();
    }
    std::string_view line = content.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (IsBlank(line)) {
      continue;
    }
    auto parsed = ParseLine(line);
    if (auto* p = std::get_if<Problem>(&parsed)) {
      return ReplayError{"replay line " + std::to_string(line_number) + ": " +
                         EscapeControlBytes(p->what)};
    }
    expectations.push_back(std::get<Expectation>(std::move(parsed)));
    expectations.back().line = line_number;
  }
  return ReplayApprover(std::move(expectations));
}

Answer ReplayApprover::Next(const Destination& destination) {
  if (next_ < expectations_.size() && expectations_[next_].Matches(destination)) {
    return expectations_[next_++].answer;
  }
  unexpected_.push_back(destination);
  return answer::Decline{};
}

json ReplayApprover::Summary() const {
  return {{"matched", matched()}, {"unexpected", unexpected_.size()}, {"unused", unused()}};
}

}  // namespace sandgate::approvals
