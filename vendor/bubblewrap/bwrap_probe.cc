#include "vendor/bubblewrap/bwrap_probe.h"

#include <array>
#include <cctype>
#include <charconv>

#include "vendor/bubblewrap/run_capture.h"
#include "vendor/bubblewrap/text_lines.h"

namespace sandgate::bubblewrap {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::array<std::string_view, 13> kRequiredFlags = {
    "--disable-userns", "--json-status-fd", "--die-with-parent", "--new-session", "--unshare-user",
    "--unshare-net",    "--unshare-pid",    "--cap-drop",        "--proc",        "--dev",
    "--ro-bind",        "--bind",           "--chdir",
};

constexpr std::array<std::string_view, 1> kOptionalFlags = {"--argv0"};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view SkipSpaces(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) {
    text.remove_prefix(1);
  }
  return text;
}

// Parses a run of decimal digits at the front of `text` and drops it from `text`.
std::optional<int> TakeNumber(std::string_view& text) {
  int value = 0;
  const char* const begin = text.data();
  const char* const end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  // from_chars accepts a leading '-'; a version number has none.
  if (ec != std::errc() || begin == end || *begin == '-') {
    return std::nullopt;
  }
  text.remove_prefix(static_cast<std::size_t>(ptr - begin));
  return value;
}

bool TakeChar(std::string_view& text, char c) {
  if (text.empty() || text.front() != c) {
    return false;
  }
  text.remove_prefix(1);
  return true;
}

bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// "what" for messages, e.g. "/usr/bin/bwrap --version".
std::string Describe(const std::filesystem::path& bwrap, std::string_view arg) {
  return bwrap.string() + " " + std::string(arg);
}

// Runs `bwrap arg` within what is left until `deadline` and insists on exit status 0.
base::Result<std::string> RunBwrap(const std::filesystem::path& bwrap, std::string_view arg,
                                   Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) {
    return base::Error{0, Describe(bwrap, arg) + ": timed out before it could start"};
  }
  base::Result<CapturedRun> run = RunAndCapture(bwrap, {std::string(arg)}, left);
  if (!run) {
    return run.Err();
  }
  if (!run->exited || run->exit_code != 0) {
    std::string how = run->exited ? "exited with status " + std::to_string(run->exit_code)
                                  : "was killed by signal " + std::to_string(run->term_signal);
    const std::string said = SanitizeLine(LastNonEmptyLine(run->output));
    return base::Error{0, Describe(bwrap, arg) + " " + how + (said.empty() ? "" : ": " + said)};
  }
  return std::move(run->output);
}

}  // namespace

std::string BwrapVersion::ToString() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::span<const std::string_view> RequiredBwrapFlags() { return kRequiredFlags; }

std::span<const std::string_view> OptionalBwrapFlags() { return kOptionalFlags; }

std::optional<BwrapVersion> ParseBwrapVersion(std::string_view version_output) {
  constexpr std::string_view kName = "bubblewrap";
  std::string_view line = SkipSpaces(FirstLine(version_output));
  if (!line.starts_with(kName)) {
    return std::nullopt;
  }
  line.remove_prefix(kName.size());
  if (line.empty() || !IsSpace(line.front())) {
    return std::nullopt;  // "bubblewrapper 1.0" is some other program.
  }
  line = SkipSpaces(line);

  BwrapVersion version;
  const std::optional<int> major = TakeNumber(line);
  if (!major || !TakeChar(line, '.')) {
    return std::nullopt;
  }
  const std::optional<int> minor = TakeNumber(line);
  if (!minor) {
    return std::nullopt;
  }
  version.major = *major;
  version.minor = *minor;
  if (TakeChar(line, '.')) {
    const std::optional<int> patch = TakeNumber(line);
    if (!patch) {
      return std::nullopt;
    }
    version.patch = *patch;
  }
  // Whatever follows ("-rc1", "+git", " (Debian)") is ignored, but another digit or dot would
  // mean a number we failed to read, e.g. a fourth component.
  if (!line.empty() && (IsDigit(line.front()) || line.front() == '.')) {
    return std::nullopt;
  }
  return version;
}

BwrapFeatures ParseBwrapHelp(std::string_view help_output) {
  BwrapFeatures features;
  while (!help_output.empty()) {
    const std::size_t newline = help_output.find('\n');
    std::string_view line = help_output.substr(0, newline);
    help_output =
        newline == std::string_view::npos ? std::string_view{} : help_output.substr(newline + 1);
    line = SkipSpaces(line);
    std::size_t end = 0;
    while (end < line.size() && !IsSpace(line[end]) && line[end] != '=' && line[end] != ',') {
      ++end;
    }
    const std::string_view word = line.substr(0, end);
    // "--" alone (the end-of-options marker) and words like "---" are not options.
    if (word.size() > 2 && word.starts_with("--") &&
        std::isalnum(static_cast<unsigned char>(word[2])) != 0) {
      features.flags.emplace(word);
    }
  }
  return features;
}

std::vector<std::string> MissingRequiredFlags(const BwrapFeatures& features) {
  std::vector<std::string> missing;
  for (const std::string_view flag : kRequiredFlags) {
    if (!features.Has(flag)) {
      missing.emplace_back(flag);
    }
  }
  return missing;
}

base::Result<BwrapInfo> ProbeBwrap(const std::filesystem::path& bwrap,
                                   std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;

  base::Result<std::string> version_output = RunBwrap(bwrap, "--version", deadline);
  if (!version_output) {
    return version_output.Err();
  }
  const std::optional<BwrapVersion> version = ParseBwrapVersion(*version_output);
  if (!version) {
    return base::Error{0, Describe(bwrap, "--version") + " printed \"" +
                              SanitizeLine(FirstLine(*version_output), 80) +
                              "\", not \"bubblewrap X.Y.Z\": is it bubblewrap?"};
  }

  base::Result<std::string> help_output = RunBwrap(bwrap, "--help", deadline);
  if (!help_output) {
    return help_output.Err();
  }
  BwrapFeatures features = ParseBwrapHelp(*help_output);
  if (features.flags.empty()) {
    return base::Error{0, Describe(bwrap, "--help") + " listed no options: is it bubblewrap?"};
  }
  return BwrapInfo{bwrap, *version, std::move(features)};
}

}  // namespace sandgate::bubblewrap
