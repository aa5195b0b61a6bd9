#pragma once

#include <string>

namespace sandgate::approvals {

// What is wrong with one piece of input, as a phrase without the input's surroundings (e.g.
// "prefix length 33 out of range 0-32"). Callers that know the context (the rule text, the line
// number, the JSON-RPC id) prefix it, so each message names the input exactly once.
struct Problem {
  std::string what;
};

}  // namespace sandgate::approvals
