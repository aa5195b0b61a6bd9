#include "approvals/utf8.h"

#include <cstdint>

namespace sandgate::approvals {
namespace {

enum class Scan { kValid, kInvalid, kTruncated };

// Checks the sequence starting at data[i]; on kValid advances i past it.
Scan ScanOne(std::string_view data, std::size_t& i) {
  const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(data[k]); };
  const std::uint8_t lead = byte(i);
  if (lead < 0x80) {
    ++i;
    return Scan::kValid;
  }
  std::size_t length = 0;
  // The allowed range of the second byte (Unicode Table 3-7) rules out overlongs, surrogates
  // and code points above U+10FFFF.
  std::uint8_t low = 0x80;
  std::uint8_t high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) {
      low = 0xa0;
    }
    if (lead == 0xed) {
      high = 0x9f;
    }
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) {
      low = 0x90;
    }
    if (lead == 0xf4) {
      high = 0x8f;
    }
  } else {
    return Scan::kInvalid;
  }
  for (std::size_t k = 1; k < length; ++k) {
    if (i + k >= data.size()) {
      return Scan::kTruncated;
    }
    const std::uint8_t b = byte(i + k);
    const std::uint8_t min = k == 1 ? low : std::uint8_t{0x80};
    const std::uint8_t max = k == 1 ? high : std::uint8_t{0xbf};
    if (b < min || b > max) {
      return Scan::kInvalid;
    }
  }
  i += length;
  return Scan::kValid;
}

}  // namespace

bool IsValidUtf8(std::string_view data) {
  std::size_t i = 0;
  while (i < data.size()) {
    if (ScanOne(data, i) != Scan::kValid) {
      return false;
    }
  }
  return true;
}

std::size_t IncompleteUtf8Tail(std::string_view data) {
  // A character is at most 4 bytes, so an unfinished one starts in the last 3.
  const std::size_t start = data.size() > 3 ? data.size() - 3 : 0;
  // Only the last lead byte can begin an unfinished character.
  for (std::size_t lead = data.size(); lead > start;) {
    --lead;
    const auto b = static_cast<std::uint8_t>(data[lead]);
    if ((b & 0xc0) == 0x80) {
      continue;  // continuation byte: keep looking back
    }
    std::size_t i = lead;
    return ScanOne(data, i) == Scan::kTruncated ? data.size() - lead : 0;
  }
  return 0;
}

}  // namespace sandgate::approvals
