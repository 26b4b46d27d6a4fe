#pragma once
// The record the trainer keeps per epoch, and the classification metrics in it.
#include <array>
#include <cstdint>
#include <optional>

namespace trackbench::trainer {

// confusion[actual][predicted]
using confusion_matrix = std::array<std::array<std::int64_t, 10>, 10>;

struct classification_metrics {
  double loss = 0.0;      // mean negative log-likelihood
  double accuracy = 0.0;  // fraction correct, 0..1
  double precision = 0.0;  // macro averages over the 10 classes; a class with no
  double recall = 0.0;     // predictions (or no examples) counts as 0, as scikit-learn's
  double f1 = 0.0;         // zero_division=0 does
  confusion_matrix confusion{};
};

// Fills accuracy, precision, recall and f1 from the confusion matrix (loss is left alone).
void derive_from_confusion(classification_metrics& metrics);

struct epoch_metrics {
  int epoch = 0;  // 1-based
  double train_loss = 0.0;
  double train_accuracy = 0.0;
  std::optional<classification_metrics> validation;  // absent with --validation-fraction 0
  classification_metrics test;
  double learning_rate = 0.0;      // at the end of the epoch
  double epoch_seconds = 0.0;      // training and evaluation
  double train_seconds = 0.0;      // the training steps alone
  double images_per_second = 0.0;  // training images / train_seconds
  std::int64_t peak_rss_bytes = 0;         // process resident set high-water mark during the epoch
  std::optional<std::int64_t> peak_cuda_bytes;  // CUDA caching allocator peak; GPU runs only
};

}  // namespace trackbench::trainer
