#include "approvals/signals.h"

#include <algorithm>
#include <array>
#include <csignal>

namespace sandgate::approvals {
namespace {

struct NamedSignal {
  int number;
  std::string_view name;
};

constexpr std::array kSignals = {
    NamedSignal{SIGHUP, "SIGHUP"},   NamedSignal{SIGINT, "SIGINT"},
    NamedSignal{SIGQUIT, "SIGQUIT"}, NamedSignal{SIGILL, "SIGILL"},
    NamedSignal{SIGTRAP, "SIGTRAP"}, NamedSignal{SIGABRT, "SIGABRT"},
    NamedSignal{SIGBUS, "SIGBUS"},   NamedSignal{SIGFPE, "SIGFPE"},
    NamedSignal{SIGKILL, "SIGKILL"}, NamedSignal{SIGUSR1, "SIGUSR1"},
    NamedSignal{SIGSEGV, "SIGSEGV"}, NamedSignal{SIGUSR2, "SIGUSR2"},
    NamedSignal{SIGPIPE, "SIGPIPE"}, NamedSignal{SIGALRM, "SIGALRM"},
    NamedSignal{SIGTERM, "SIGTERM"}, NamedSignal{SIGSTKFLT, "SIGSTKFLT"},
    NamedSignal{SIGCHLD, "SIGCHLD"}, NamedSignal{SIGCONT, "SIGCONT"},
    NamedSignal{SIGSTOP, "SIGSTOP"}, NamedSignal{SIGTSTP, "SIGTSTP"},
    NamedSignal{SIGTTIN, "SIGTTIN"}, NamedSignal{SIGTTOU, "SIGTTOU"},
    NamedSignal{SIGURG, "SIGURG"},   NamedSignal{SIGXCPU, "SIGXCPU"},
    NamedSignal{SIGXFSZ, "SIGXFSZ"}, NamedSignal{SIGVTALRM, "SIGVTALRM"},
    NamedSignal{SIGPROF, "SIGPROF"}, NamedSignal{SIGWINCH, "SIGWINCH"},
    NamedSignal{SIGIO, "SIGIO"},     NamedSignal{SIGPWR, "SIGPWR"},
    NamedSignal{SIGSYS, "SIGSYS"},
};

char ToUpperAscii(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ToUpperAscii(x) == ToUpperAscii(y);
         });
}

}  // namespace

std::optional<std::string> SignalName(int signal) {
  for (const NamedSignal& s : kSignals) {
    if (s.number == signal) {
      return std::string(s.name);
    }
  }
  // SIGRTMIN/SIGRTMAX are glibc function calls (it reserves a few realtime signals), not
  // system calls.
  if (signal >= SIGRTMIN && signal <= SIGRTMAX) {
    return "SIGRTMIN+" + std::to_string(signal - SIGRTMIN);
  }
  return std::nullopt;
}

std::optional<int> SignalNumber(std::string_view name) {
  for (const NamedSignal& s : kSignals) {
    if (EqualsIgnoreCase(name, s.name) || EqualsIgnoreCase(name, s.name.substr(3))) {
      return s.number;
    }
  }
  return std::nullopt;
}

}  // namespace sandgate::approvals
