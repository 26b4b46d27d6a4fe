#pragma once
// The one decision rule for "did this benchmark change": the Hodges-Lehmann shift of NEW against
// BASE with its 95% interval (statistics::ratio_confidence_interval), judged against a threshold:
// slower or faster only when the whole interval lies beyond it, same only when the whole interval
// lies inside it (an equivalence test), uncertain otherwise. Across a suite the Mann-Whitney
// p-values are corrected with Benjamini-Hochberg, and a change whose q-value is above the level
// is not called one. compare (bench_gate.h), versus (bench_sides.h) and ab use it alike;
// docs/benchmarking.md says why.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/analysis/statistics.h"

namespace trackbench::tracking {

enum class bench_verdict { faster, slower, same, uncertain, added, removed, skipped };
std::string to_string(bench_verdict verdict);

inline constexpr double decision_confidence = 0.95;
inline constexpr double false_discovery_rate = 0.05;  // the q-value a change must reach
// The default threshold is this multiple of the larger relative spread of the two samples: a
// change smaller than one sample's own noise is not worth a verdict...
inline constexpr double noise_threshold_multiple = 1.0;
// ...and never below this floor, where samples taken interleaved on one machine (ab, versus) are
// compared,
inline constexpr double min_threshold = 0.01;
// or this one for two separate runs (compare of two bench snapshots): the drift between runs is
// in no sample (measured: +2.5% and -6.6% between two runs of one build).
inline constexpr double separate_runs_min_threshold = 0.05;
// ...nor above this cap: samples noisier than 10% cannot show "same" to a reader who would take it
// for "no regression"; they stay uncertain.
inline constexpr double max_noise_threshold = 0.10;
// 3 against 3 samples have no 95% interval.
inline constexpr std::size_t min_decision_samples = 4;

struct decision_options {
  std::optional<double> threshold;     // a fraction (0.02); empty: from the samples' noise
  double floor = min_threshold;        // the least default threshold
};

struct decision {
  bench_verdict verdict = bench_verdict::uncertain;
  std::string reason;     // why uncertain; empty otherwise
  double threshold = 0.0;  // the fraction the interval was judged against
  // NEW's time over BASE's (Hodges-Lehmann estimate and 95% bounds); empty with too few samples.
  std::optional<statistics::ratio_interval> shift;
  std::optional<double> p_value;  // two-sided Mann-Whitney U; absent when not tested
  bool exact = false;             // p from the exact distribution
  std::optional<double> q_value;  // p after Benjamini-Hochberg over the suite
};

// The threshold decide() uses: options.threshold when given, else noise_threshold_multiple times
// the larger relative spread of base and next, clamped to [options.floor, max_noise_threshold]
// (options.floor when that is larger).
double decision_threshold(const std::vector<double>& base, const std::vector<double>& next,
                          const decision_options& options);

// The verdict on one benchmark's samples (seconds per iteration), base against next, before any
// correction for the suite (q_value = p_value); uncertain when a value is not positive and
// finite. Throws std::invalid_argument when a sample is empty.
decision decide(const std::vector<double>& base, const std::vector<double>& next, const decision_options& options = {});

// Benjamini-Hochberg over every decision with a p-value: sets q_value, and a faster or slower
// verdict whose q-value is above false_discovery_rate becomes uncertain, saying so.
void correct_for_suite(const std::vector<decision*>& decisions);

}  // namespace trackbench::tracking
