#include "approvals/message_text.h"

namespace sandgate::approvals {
namespace {

void AppendEscapedByte(unsigned char byte, std::string& out) {
  constexpr std::string_view kHex = "0123456789abcdef";
  out += "\\x";
  out += kHex[byte >> 4];
  out += kHex[byte & 0xfU];
}

bool IsControl(unsigned char byte) { return byte < 0x20 || byte == 0x7f; }

}  // namespace

std::string EscapeControlBytes(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (IsControl(byte)) {
      AppendEscapedByte(byte, out);
    } else {
      out += c;
    }
  }
  return out;
}

std::string QuoteForMessage(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (IsControl(byte)) {
      AppendEscapedByte(byte, out);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace sandgate::approvals
