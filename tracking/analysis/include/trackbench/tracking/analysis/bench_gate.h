#pragma once
// The regression gate over two bench snapshots: per benchmark a Mann-Whitney U test of the
// samples and a verdict, and the --fail-on slower:N% rules (docs/benchmarking.md).
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/format/bench.h"

namespace trackbench::tracking {

// Thresholds of the verdicts; docs/benchmarking.md says why.
inline constexpr double significance_level = 0.05;
inline constexpr double default_min_change = 0.05;     // a smaller change is never called one (--min-change)
inline constexpr double spread_multiple = 2.0;         // nor one within twice the samples' own spread
inline constexpr double max_spread_for_same = 0.10;    // noisier samples cannot show "same"
inline constexpr std::size_t min_gate_repetitions = 4;  // 3 vs 3 cannot reach p < 0.05

enum class bench_verdict { faster, slower, same, uncertain, added, removed, skipped };
std::string to_string(bench_verdict verdict);

struct bench_change {
  std::string name;
  bench_verdict verdict = bench_verdict::same;
  std::string reason;  // why uncertain or skipped; empty otherwise
  std::size_t base_repetitions = 0;
  std::size_t new_repetitions = 0;
  double base_median = 0.0;  // seconds per iteration (real time)
  double new_median = 0.0;
  double base_spread = 0.0;  // statistics::relative_spread
  double new_spread = 0.0;
  double change = 0.0;  // new_median / base_median - 1
  std::optional<double> p_value;  // two-sided Mann-Whitney U; absent when not tested
  bool exact = false;             // p from the exact distribution
};

// The verdict on one benchmark's samples (real seconds per iteration), base against new;
// `min_change` is the smallest relative change called faster or slower.
bench_change compare_samples(const std::string& name, const std::vector<double>& base, const std::vector<double>& next,
                             double min_change = default_min_change);

// Every benchmark of either snapshot, matched by name, in the base's order then the new one's
// additions.
std::vector<bench_change> compare_benches(const bench_record& base, const bench_record& next,
                                          double min_change = default_min_change);

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
