#include "bench/ratio_reporter.h"

#include <cstdio>

namespace sandgate::bench {

void RatioReporter::ReportRuns(const std::vector<Run>& runs) {
  ConsoleReporter::ReportRuns(runs);
  for (const auto& run : runs) {
    const std::string name = run.run_name.function_name;
    const double ns = run.GetAdjustedRealTime();
    if (run.run_type == Run::RT_Aggregate) {
      if (run.aggregate_name == "median") median_ns_[name] = ns;
    } else {
      single_ns_[name] = ns;
    }
  }
}

void RatioReporter::Finalize() {
  ConsoleReporter::Finalize();
  auto value = [this](const std::string& name) {
    auto it = median_ns_.find(name);
    if (it != median_ns_.end()) return it->second;
    auto single = single_ns_.find(name);
    return single != single_ns_.end() ? single->second : 0.0;
  };
  for (const auto& pair : pairs_) {
    double candidate = value(pair.candidate);
    double baseline = value(pair.baseline);
    if (candidate <= 0 || baseline <= 0) continue;
    double ratio = candidate / baseline;
    bool met = pair.lower_is_better ? ratio <= pair.goal : ratio >= pair.goal;
    std::printf("ratio %s/%s = %.3f (goal %s %.2f: %s)\n", pair.candidate.c_str(),
                pair.baseline.c_str(), ratio, pair.lower_is_better ? "<=" : ">=", pair.goal,
                met ? "met" : "NOT met");
  }
  std::fflush(stdout);
}

}  // namespace sandgate::bench
