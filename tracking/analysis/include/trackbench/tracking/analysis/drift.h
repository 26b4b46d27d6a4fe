#pragma once
// Has the data a model now sees drifted from what it was trained on? Four checks of a new split's
// profile against the training split's, each with its threshold and verdict: the per-image ink
// (Kolmogorov-Smirnov), the pixel intensities (population stability index), the classes the
// model predicts (chi-square) and the mean image (root-mean-square distance). Each calls drift
// only when the difference is both beyond chance (where a test gives a p-value) and large enough
// to matter: with the tens of thousands of images a data set has, a test alone would call the
// smallest harmless difference significant. docs/evaluation.md says why these thresholds.
#include <optional>
#include <string>
#include <vector>

#include "trackbench/tracking/analysis/statistics.h"
#include "trackbench/trainer/data_profile.h"

namespace trackbench::tracking {

enum class drift_verdict { no_drift, drift };
std::string to_string(drift_verdict verdict);  // "no drift", "drift"

inline constexpr double drift_alpha = 0.001;  // the p-value a difference must be below
inline constexpr double ink_min_distance = 0.10;     // Kolmogorov-Smirnov D of per-image ink
inline constexpr double intensity_min_stability_index = 0.25;  // PSI: the customary "significant shift"
inline constexpr int intensity_stability_bins = 16;  // byte values, 16 to a bin
inline constexpr double prediction_min_effect = 0.10;  // Cramer's V of the predicted classes
inline constexpr double mean_image_min_distance = 0.05;  // RMS over pixels, intensities in [0, 1]

struct drift_check {
  std::string name;         // ink, intensity, predictions, mean_image
  std::string description;  // what was compared, by which test
  std::string effect_name;  // D, PSI, Cramer's V, RMS
  double effect = 0.0;
  double effect_threshold = 0.0;     // drift needs effect >= this
  std::optional<double> p_value;     // and, where the check is a test, p < drift_alpha
  drift_verdict verdict = drift_verdict::no_drift;
};

struct drift_report {
  std::vector<drift_check> checks;  // in the order above
  bool drifted() const;             // any check says drift
};

// `reference` is the training split's profile and `current` the new data's. The predicted-class
// counts are the model's on the run's own test split and on the new data (a confusion matrix's
// column sums): what a monitor sees before any label arrives, and what a data set of other
// things than digits, its classes as balanced as the digits', changes at once. Throws
// std::invalid_argument when the profiles' or counts' sizes differ or one holds no images.
drift_report assess_drift(const trainer::data_profile& reference, const trainer::data_profile& current,
                          const statistics::histogram& reference_predictions,
                          const statistics::histogram& current_predictions);

}  // namespace trackbench::tracking
