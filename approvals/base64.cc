#include "approvals/base64.h"

#include <array>
#include <cstddef>
#include <cstdint>

namespace sandgate::approvals {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::int8_t kInvalid = -1;

constexpr std::array<std::int8_t, 256> MakeDecodeTable() {
  std::array<std::int8_t, 256> table{};
  for (auto& entry : table) {
    entry = kInvalid;
  }
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<std::uint8_t>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  }
  return table;
}

constexpr std::array<std::int8_t, 256> kDecode = MakeDecodeTable();

}  // namespace

std::string Base64Encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto byte = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<std::uint8_t>(data[k]));
  };
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t group = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += kAlphabet[(group >> 18) & 0x3f];
    out += kAlphabet[(group >> 12) & 0x3f];
    out += kAlphabet[(group >> 6) & 0x3f];
    out += kAlphabet[group & 0x3f];
  }
  const std::size_t rest = data.size() - i;
  if (rest == 1) {
    const std::uint32_t group = byte(i) << 16;
    out += kAlphabet[(group >> 18) & 0x3f];
    out += kAlphabet[(group >> 12) & 0x3f];
    out += "==";
  } else if (rest == 2) {
    const std::uint32_t group = (byte(i) << 16) | (byte(i + 1) << 8);
    out += kAlphabet[(group >> 18) & 0x3f];
    out += kAlphabet[(group >> 12) & 0x3f];
    out += kAlphabet[(group >> 6) & 0x3f];
    out += '=';
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    std::size_t padding = 0;
    if (last && text[i + 3] == '=') {
      padding = text[i + 2] == '=' ? 2 : 1;
    }
    std::uint32_t group = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      std::int8_t value = 0;
      if (k < 4 - padding) {
        value = kDecode[static_cast<std::uint8_t>(text[i + k])];
        if (value == kInvalid) {
          return std::nullopt;  // includes '=' in the wrong place
        }
      }
      group = (group << 6) | static_cast<std::uint32_t>(value);
    }
    // Non-canonical input ("QR==" for "A") leaves bits in the padding.
    if (padding == 1 && (group & 0xff) != 0) {
      return std::nullopt;
    }
    if (padding == 2 && (group & 0xffff) != 0) {
      return std::nullopt;
    }
    out += static_cast<char>((group >> 16) & 0xff);
    if (padding < 2) {
      out += static_cast<char>((group >> 8) & 0xff);
    }
    if (padding < 1) {
      out += static_cast<char>(group & 0xff);
    }
  }
  return out;
}

}  // namespace sandgate::approvals
