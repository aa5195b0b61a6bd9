#include "approvals/path_glob.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sandgate::approvals {
namespace {

enum class TokenKind { kLiteral, kAnyChar, kStar, kDoubleStar, kSlashDoubleStarSlash };

struct Token {
  TokenKind kind = TokenKind::kLiteral;
  char literal = 0;
  std::size_t length = 1;  // pattern characters consumed
};

Token NextToken(std::string_view pattern, std::size_t i) {
  const char c = pattern[i];
  if (c == '\\' && i + 1 < pattern.size()) {
    return {TokenKind::kLiteral, pattern[i + 1], 2};
  }
  if (c == '/' && pattern.substr(i, 4) == "/**/") {
    return {TokenKind::kSlashDoubleStarSlash, 0, 4};
  }
  if (c == '*') {
    if (i + 1 < pattern.size() && pattern[i + 1] == '*') {
      return {TokenKind::kDoubleStar, 0, 2};
    }
    return {TokenKind::kStar, 0, 1};
  }
  if (c == '?') {
    return {TokenKind::kAnyChar, 0, 1};
  }
  return {TokenKind::kLiteral, c, 1};
}

}  // namespace

std::optional<Problem> CheckGlob(std::string_view pattern) {
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '\\') {
      continue;
    }
    if (i + 1 == pattern.size()) {
      return Problem{"trailing '\\' escapes nothing"};
    }
    ++i;
  }
  return std::nullopt;
}

bool GlobMatches(std::string_view pattern, std::string_view text) {
  // reachable[j]: the pattern consumed so far can match text[0, j).
  const std::size_t n = text.size();
  // Built as {1, 0, 0, ...} rather than assigned: GCC 12 cannot see that n + 1 > 0 and warns
  // about a null dereference on reachable[0].
  std::vector<std::uint8_t> reachable{1};
  reachable.resize(n + 1, 0);
  std::vector<std::uint8_t> next(n + 1, 0);
  for (std::size_t i = 0; i < pattern.size();) {
    const Token token = NextToken(pattern, i);
    i += token.length;
    std::fill(next.begin(), next.end(), 0);
    switch (token.kind) {
      case TokenKind::kLiteral:
        for (std::size_t j = 0; j < n; ++j) {
          next[j + 1] = static_cast<std::uint8_t>(reachable[j] && text[j] == token.literal);
        }
        break;
      case TokenKind::kAnyChar:
        for (std::size_t j = 0; j < n; ++j) {
          next[j + 1] = static_cast<std::uint8_t>(reachable[j] && text[j] != '/');
        }
        break;
      case TokenKind::kStar: {
        bool open = false;
        for (std::size_t j = 0; j <= n; ++j) {
          open = open || reachable[j];
          next[j] = static_cast<std::uint8_t>(open);
          if (j < n && text[j] == '/') {
            open = false;
          }
        }
        break;
      }
      case TokenKind::kDoubleStar: {
        bool open = false;
        for (std::size_t j = 0; j <= n; ++j) {
          open = open || reachable[j];
          next[j] = static_cast<std::uint8_t>(open);
        }
        break;
      }
      case TokenKind::kSlashDoubleStarSlash: {
        // Matches text[k, j) that starts and ends with '/' (k < j; "/" alone when j == k + 1).
        bool seen_slash_start = false;
        for (std::size_t j = 1; j <= n; ++j) {
          seen_slash_start = seen_slash_start || (reachable[j - 1] && text[j - 1] == '/');
          next[j] = static_cast<std::uint8_t>(seen_slash_start && text[j - 1] == '/');
        }
        break;
      }
    }
    reachable.swap(next);
    if (std::none_of(reachable.begin(), reachable.end(), [](std::uint8_t r) { return r != 0; })) {
      return false;
    }
  }
  return reachable[n] != 0;
}

std::string EscapeGlob(std::string_view literal) {
  std::string out;
  out.reserve(literal.size());
  for (const char c : literal) {
    if (c == '*' || c == '?' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

std::optional<std::string> NormalizeAbsolutePath(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return std::nullopt;
  }
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    const std::string_view part = path.substr(start, end - start);
    if (part == "..") {
      if (!parts.empty()) {
        parts.pop_back();
      }
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = end + 1;
  }
  if (parts.empty()) {
    return std::string("/");
  }
  std::string out;
  for (const std::string_view part : parts) {
    out += '/';
    out += part;
  }
  return out;
}

}  // namespace sandgate::approvals
