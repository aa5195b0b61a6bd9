#include "approvals/decision.h"

namespace sandgate::approvals {

std::string_view DecisionName(Decision decision) {
  switch (decision) {
    case Decision::kAllow:
      return "allow";
    case Decision::kDeny:
      return "deny";
    case Decision::kRoute:
      return "route";
  }
  return "deny";
}

std::string_view DecisionSourceName(DecisionSource source) {
  switch (source) {
    case DecisionSource::kPolicy:
      return "policy";
    case DecisionSource::kUser:
      return "user";
    case DecisionSource::kSession:
      return "session";
    case DecisionSource::kTimeout:
      return "timeout";
    case DecisionSource::kDefault:
      return "default";
    case DecisionSource::kCancelled:
      return "cancelled";
  }
  return "default";
}

}  // namespace sandgate::approvals
