#pragma once
// The evaluation pass training (train.cpp) and evaluate() (evaluate.cpp) share.
#include <torch/torch.h>

#include <cstdint>

#include "trackbench/trainer/metrics.h"
#include "trackbench/trainer/model.h"

namespace trackbench::trainer {

// uint8 images as the model's float input, normalised with MNIST's mean and deviation.
torch::Tensor normalise_images(const torch::Tensor& images, const torch::Device& device);

// Adds the summed loss (float64, 0-d) and the confusion counts (int64 [100], actual-major) of
// images [first, last) to `loss_sum` and `confusion`, `batch_size` at a time. No grad; the
// caller sets eval mode.
void add_evaluation_sums(digit_cnn& model, const torch::Tensor& images, const torch::Tensor& labels, std::int64_t first,
                         std::int64_t last, std::int64_t batch_size, const torch::Device& device, torch::Tensor& loss_sum,
                         torch::Tensor& confusion);

// The metrics of an evaluation from its device sums over `count` images.
classification_metrics evaluation_metrics(const torch::Tensor& loss_sum, const torch::Tensor& confusion, std::int64_t count);

}  // namespace trackbench::trainer
