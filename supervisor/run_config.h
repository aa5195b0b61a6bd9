#pragma once

#include <optional>
#include <string>

#include "pipelines/sandbox_spec.h"

namespace sandgate::supervisor {

// Everything one `sandgate run` was asked to do: the sandbox itself plus how the supervisor
// around it behaves. Filled by the command line (and later the policy file).
struct RunConfig {
  pipelines::SandboxSpec sandbox;
  std::optional<std::string> bwrap_path;  // --bwrap; SANDGATE_BWRAP and PATH are looked at later
  std::string log_level = "warn";
};

}  // namespace sandgate::supervisor
