#include "trackbench/trainer/metrics.h"

namespace trackbench::trainer {

void derive_from_confusion(classification_metrics& metrics) {
  const auto& c = metrics.confusion;
  std::int64_t total = 0;
  std::int64_t correct = 0;
  double precision_sum = 0.0;
  double recall_sum = 0.0;
  double f1_sum = 0.0;
  for (int k = 0; k < 10; ++k) {
    std::int64_t predicted = 0;
    std::int64_t actual = 0;
    for (int j = 0; j < 10; ++j) {
      predicted += c[j][k];
      actual += c[k][j];
    }
    const auto tp = static_cast<double>(c[k][k]);
    const double precision = predicted > 0 ? tp / static_cast<double>(predicted) : 0.0;
    const double recall = actual > 0 ? tp / static_cast<double>(actual) : 0.0;
    precision_sum += precision;
    recall_sum += recall;
    f1_sum += precision + recall > 0.0 ? 2.0 * precision * recall / (precision + recall) : 0.0;
    total += actual;
    correct += c[k][k];
  }
  metrics.accuracy = total > 0 ? static_cast<double>(correct) / static_cast<double>(total) : 0.0;
  metrics.precision = precision_sum / 10.0;
  metrics.recall = recall_sum / 10.0;
  metrics.f1 = f1_sum / 10.0;
}

}  // namespace trackbench::trainer
