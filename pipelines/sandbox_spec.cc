#include "pipelines/sandbox_spec.h"

namespace sandgate::pipelines {

const char* ToString(NetworkMode mode) {
  switch (mode) {
    case NetworkMode::kOff: return "off";
    case NetworkMode::kApprove: return "approve";
    case NetworkMode::kOn: return "on";
  }
  return "?";
}

const char* ToString(Pipeline pipeline) {
  return pipeline == Pipeline::kBwrap ? "bwrap" : "legacy";
}

}  // namespace sandgate::pipelines
