#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace sandgate::bench {

// Console output as usual, then one line per (candidate, baseline) pair:
//   ratio NAME/BASELINE = X.XX (goal <= G)
// using the median of the repetitions (or the single run). The ratio, not the absolute time,
// is what goes into README: both sides ran on the same machine in the same minute.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  struct Pair {
    std::string candidate;
    std::string baseline;
    double goal;  // the ratio the candidate should stay under (or above, when lower_is_better=false)
    bool lower_is_better = true;
  };
  explicit RatioReporter(std::vector<Pair> pairs) : pairs_(std::move(pairs)) {}

  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;

 private:
  std::vector<Pair> pairs_;
  std::map<std::string, double> median_ns_;
  std::map<std::string, double> single_ns_;
};

}  // namespace sandgate::bench
