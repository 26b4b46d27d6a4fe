#pragma once
// Two programs timed on the same work in one bench snapshot, such as trackbench against
// PyTorch eager (bench/pytorch/compare.py): each benchmark PREFIX/BASE is judged against
// PREFIX/NEW with the decision rule of decision.h (compare_samples; the runs of the two sides
// alternate, so the floor of the default threshold is min_threshold), and the speed-up of NEW
// over BASE gets the confidence interval that inverts the same Mann-Whitney U test.
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/analysis/bench_gate.h"
#include "trackbench/tracking/analysis/statistics.h"
#include "trackbench/tracking/format/bench.h"

namespace trackbench::tracking {

inline constexpr double side_confidence = 0.95;

struct side_comparison {
  std::string prefix;        // the benchmark name without its side: "cpu_train/batch:64"
  std::string base_name;     // prefix + "/" + base side
  std::string new_name;      // prefix + "/" + new side
  bench_change change;       // base against new: faster means NEW takes less time per iteration
  // BASE's time per iteration over NEW's: above 1, NEW is faster. Empty when the samples are
  // too few for an interval at side_confidence.
  std::optional<statistics::ratio_interval> speedup;
  // Medians of the items_per_second counter, when both sides report it.
  std::optional<double> base_items_per_second;
  std::optional<double> new_items_per_second;
};

// Every benchmark named PREFIX/<base_side> paired with PREFIX/<new_side>, in the record's order,
// their p-values corrected together (correct_for_suite). Throws input_error naming the benchmark when one has no partner, none pairs at all, or a side
// was skipped or has no samples.
std::vector<side_comparison> compare_sides(const bench_record& record, const std::string& base_side,
                                           const std::string& new_side, const decision_options& options = {});

}  // namespace trackbench::tracking
