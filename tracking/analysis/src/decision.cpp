#include "trackbench/tracking/analysis/decision.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace trackbench::tracking {
namespace {

std::string signed_percent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof text, "%+.1f%%", 100.0 * fraction);
  return text;
}

std::string percent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%", 100.0 * fraction);
  return text;
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", value);
  return text;
}

}  // namespace

std::string to_string(bench_verdict verdict) {
  switch (verdict) {
    case bench_verdict::faster:
      return "faster";
    case bench_verdict::slower:
      return "slower";
    case bench_verdict::same:
      return "same";
    case bench_verdict::uncertain:
      return "uncertain";
    case bench_verdict::added:
      return "added";
    case bench_verdict::removed:
      return "removed";
    case bench_verdict::skipped:
      return "skipped";
  }
  return "?";
}

double decision_threshold(const std::vector<double>& base, const std::vector<double>& next,
                          const decision_options& options) {
  if (options.threshold) return *options.threshold;
  const double spread = std::max(statistics::relative_spread(base), statistics::relative_spread(next));
  return std::max(options.floor, std::min(max_noise_threshold, noise_threshold_multiple * spread));
}

decision decide(const std::vector<double>& base, const std::vector<double>& next, const decision_options& options) {
  decision d;
  d.threshold = decision_threshold(base, next, options);
  const auto test = statistics::mann_whitney_u(base, next);
  d.p_value = test.p_value;
  d.q_value = test.p_value;
  d.exact = test.exact;
  const auto positive = [](double seconds) { return std::isfinite(seconds) && seconds > 0.0; };
  if (!std::all_of(base.begin(), base.end(), positive) || !std::all_of(next.begin(), next.end(), positive)) {
    d.reason = "a time per iteration that is not positive: no ratio to judge";
    return d;
  }
  const std::size_t fewest = std::min(base.size(), next.size());
  if (fewest >= min_decision_samples) d.shift = statistics::ratio_confidence_interval(next, base, decision_confidence);
  if (!d.shift) {
    d.reason = "too few samples: " + std::to_string(fewest) + " on a side, a 95% interval needs " +
               std::to_string(min_decision_samples);
    return d;
  }
  const double low = d.shift->low - 1.0;
  const double high = d.shift->high - 1.0;
  const double t = d.threshold;
  if (low > t) {
    d.verdict = bench_verdict::slower;
  } else if (high < -t) {
    d.verdict = bench_verdict::faster;
  } else if (low >= -t && high <= t) {
    d.verdict = bench_verdict::same;
  } else {
    d.reason = "95% interval " + signed_percent(low) + " to " + signed_percent(high) +
               (low < -t && high > t ? " is wider than" : " straddles") + " the threshold +-" + percent(t);
  }
  return d;
}

void correct_for_suite(const std::vector<decision*>& decisions) {
  std::vector<decision*> tested;
  std::vector<double> p_values;
  for (auto* d : decisions) {
    if (d->p_value) {
      tested.push_back(d);
      p_values.push_back(*d->p_value);
    }
  }
  const auto q = statistics::benjamini_hochberg(p_values);
  for (std::size_t i = 0; i < tested.size(); ++i) {
    auto& d = *tested[i];
    d.q_value = q[i];
    if ((d.verdict == bench_verdict::slower || d.verdict == bench_verdict::faster) && q[i] > false_discovery_rate) {
      d.reason = "looked " + to_string(d.verdict) + ", but q = " + number(q[i]) + " after Benjamini-Hochberg over " +
                 std::to_string(tested.size()) + " benchmarks is above " + number(false_discovery_rate);
      d.verdict = bench_verdict::uncertain;
    }
  }
}

}  // namespace trackbench::tracking
