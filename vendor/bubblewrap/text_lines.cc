#include "vendor/bubblewrap/text_lines.h"

namespace sandgate::bubblewrap {
namespace {

constexpr std::string_view kWhitespace = " \t\r\n\v\f";

std::string_view Trim(std::string_view text) {
  const std::size_t begin = text.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) {
    return {};
  }
  const std::size_t end = text.find_last_not_of(kWhitespace);
  return text.substr(begin, end - begin + 1);
}

std::string_view StripCarriageReturn(std::string_view line) {
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return line;
}

}  // namespace

std::string_view FirstLine(std::string_view text) {
  return StripCarriageReturn(text.substr(0, text.find('\n')));
}

std::string_view LastNonEmptyLine(std::string_view text) {
  while (!text.empty()) {
    const std::size_t newline = text.rfind('\n');
    const std::string_view line =
        newline == std::string_view::npos ? text : text.substr(newline + 1);
    if (!Trim(line).empty()) {
      return StripCarriageReturn(line);
    }
    if (newline == std::string_view::npos) {
      break;
    }
    text = text.substr(0, newline);
  }
  return {};
}

std::string SanitizeLine(std::string_view line, std::size_t max_chars) {
  constexpr std::string_view kEllipsis = "...";
  line = Trim(line);
  std::string out;
  out.reserve(line.size() < max_chars ? line.size() : max_chars);
  for (const char c : line) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\t') {
      out.push_back(' ');
    } else {
      out.push_back(byte < 0x20 || byte == 0x7f ? '?' : c);
    }
  }
  if (out.size() > max_chars) {
    const std::size_t keep = max_chars > kEllipsis.size() ? max_chars - kEllipsis.size() : 0;
    out.resize(keep);
    out.append(kEllipsis.substr(0, max_chars - keep));
  }
  return out;
}

}  // namespace sandgate::bubblewrap
