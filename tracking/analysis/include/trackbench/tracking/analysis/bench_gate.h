#pragma once
// The regression gate over two bench snapshots: per benchmark the decision of decision.h on the
// samples, and the --fail-on slower:N% rules (docs/benchmarking.md).
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/analysis/decision.h"
#include "trackbench/tracking/format/bench.h"

namespace trackbench::tracking {

// The decision's fields (verdict, reason, threshold, shift interval, p and q), and what the
// tables print beside them.
struct bench_change : decision {
  std::string name;
  std::size_t base_repetitions = 0;
  std::size_t new_repetitions = 0;
  double base_median = 0.0;  // seconds per iteration (real time)
  double new_median = 0.0;
  double base_spread = 0.0;  // statistics::relative_spread
  double new_spread = 0.0;
  double change = 0.0;  // new_median / base_median - 1
};

// Two separate runs: the default threshold's floor is separate_runs_min_threshold.
inline constexpr decision_options separate_runs_options{std::nullopt, separate_runs_min_threshold};

// The decision on one benchmark's samples (real seconds per iteration), base against new, with
// the medians and spreads; not corrected for a suite (compare_benches does that).
bench_change compare_samples(const std::string& name, const std::vector<double>& base, const std::vector<double>& next,
                             const decision_options& options = separate_runs_options);

// Every benchmark of either snapshot, matched by name, in the base's order then the new one's
// additions; the p-values of the measured ones corrected together (correct_for_suite).
std::vector<bench_change> compare_benches(const bench_record& base, const bench_record& next,
                                          const decision_options& options = separate_runs_options);

// Differences in what decides timings: CPU model, cores, hardware threads, memory, GPU count
// and each GPU's name, compute capability, SM count and memory, and, where both snapshots
// know them (NVML, bench schema version 3 on), its power limit, highest clocks and ECC mode.
// "field: base -> new" each.
std::vector<std::string> hardware_differences(const bench_record& base, const bench_record& next);

// "slower:5%": fail on verdict slower with a change above 5%.
struct bench_rule {
  std::string text;
  double threshold = 0.0;  // fraction: 0.05
};
// Whether `text` has the form of a bench rule ("slower:..."), valid or not.
bool is_bench_rule(const std::string& text);
// Throws input_error naming --fail-on and the expected form.
bench_rule parse_bench_rule(const std::string& text);
// The changes that break the rule.
std::vector<const bench_change*> broken(const bench_rule& rule, const std::vector<bench_change>& changes);

}  // namespace trackbench::tracking
