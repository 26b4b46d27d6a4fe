#include "trackbench/tracking/analysis/drift.h"

#include <cmath>
#include <cstddef>
#include <stdexcept>

namespace trackbench::tracking {
namespace {

statistics::histogram coarsened(const statistics::histogram& counts, std::size_t per_bin) {
  statistics::histogram result((counts.size() + per_bin - 1) / per_bin, 0);
  for (std::size_t i = 0; i < counts.size(); ++i) result[i / per_bin] += counts[i];
  return result;
}

double root_mean_square_distance(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || a.empty()) throw std::invalid_argument("mean images of different sizes");
  double squares = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) squares += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(squares / static_cast<double>(a.size()));
}

drift_check judged(drift_check check) {
  const bool beyond_chance = !check.p_value || *check.p_value < drift_alpha;
  check.verdict = beyond_chance && check.effect >= check.effect_threshold ? drift_verdict::drift : drift_verdict::no_drift;
  return check;
}

}  // namespace

std::string to_string(drift_verdict verdict) { return verdict == drift_verdict::drift ? "drift" : "no drift"; }

bool drift_report::drifted() const {
  for (const auto& check : checks)
    if (check.verdict == drift_verdict::drift) return true;
  return false;
}

drift_report assess_drift(const trainer::data_profile& reference, const trainer::data_profile& current,
                          const statistics::histogram& reference_predictions,
                          const statistics::histogram& current_predictions) {
  drift_report report;
  const auto ink = statistics::kolmogorov_smirnov(reference.ink_histogram, current.ink_histogram);
  report.checks.push_back(judged({"ink", "per-image ink, two-sample Kolmogorov-Smirnov", "D", ink.statistic,
                                  ink_min_distance, ink.p_value}));
  constexpr std::size_t values_per_bin = trainer::intensity_histogram_bins / intensity_stability_bins;
  const double stability = statistics::population_stability_index(
      coarsened(reference.intensity_histogram, values_per_bin), coarsened(current.intensity_histogram, values_per_bin));
  report.checks.push_back(judged({"intensity", "pixel intensities, population stability index", "PSI", stability,
                                  intensity_min_stability_index, std::nullopt}));
  const auto predictions = statistics::chi_square_homogeneity(reference_predictions, current_predictions);
  report.checks.push_back(judged({"predictions", "predicted classes, chi-square test of homogeneity", "Cramer's V",
                                  predictions.cramers_v, prediction_min_effect, predictions.p_value}));
  report.checks.push_back(judged({"mean_image", "mean image, root-mean-square distance", "RMS",
                                  root_mean_square_distance(reference.mean_image, current.mean_image),
                                  mean_image_min_distance, std::nullopt}));
  return report;
}

}  // namespace trackbench::tracking
