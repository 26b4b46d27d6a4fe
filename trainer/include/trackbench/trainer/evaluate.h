#pragma once
// Evaluating a model on a split outside training: the same pass (batches, normalisation, sums)
// that training's own test and validation evaluations run, so a model evaluated on its run's
// test set gives the run's recorded test metrics bit for bit.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "trackbench/trainer/datasets.h"
#include "trackbench/trainer/metrics.h"
#include "trackbench/trainer/model.h"

namespace trackbench::trainer {

struct evaluation_result {
  classification_metrics metrics;
  double seconds = 0.0;            // the pass alone, the data on the device already
  double images_per_second = 0.0;  // images / seconds
};

// Evaluates `model` (on `device`) on all of `split`, `batch_size` images at a time, in eval mode.
evaluation_result evaluate(digit_cnn& model, const data_split& split, std::int64_t batch_size, const torch::Device& device);

// Copies `parameters` (by name, as the model names them: conv1.weight, ...) into `model`. Throws
// input_error naming a parameter that is missing, extra or of another shape or type.
void load_parameters(digit_cnn& model, const std::vector<std::pair<std::string, torch::Tensor>>& parameters);

}  // namespace trackbench::trainer
