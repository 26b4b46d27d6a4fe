#pragma once
// What a CUDA run's captured graphs hold (trainer::prepare captures them in train_graphs.cpp):
// one graph per training batch size (the full batch and the last, partial one) and per
// evaluation batch size, each with the static buffers a replay reads and writes, in the
// graph's own memory pool (one each) or allocated before capture.
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>

#include "trackbench/trainer/train.h"

#if TRACKBENCH_WITH_CUDA
#include "graph_capture.h"
#endif

namespace trackbench::trainer {

struct trainer::cuda_graphs {
#if TRACKBENCH_WITH_CUDA
  struct train_graph {
    capturable_graph graph;
    torch::Tensor indices;  // int64 [batch]: positions in the training split, copied in before a replay
    step_result outputs;    // the step's loss and correct count
  };
  struct eval_graph {
    capturable_graph graph;
    torch::Tensor images;  // uint8 [batch, 1, 28, 28], copied in before a replay
    torch::Tensor labels;  // int64 [batch]
  };
  std::map<std::int64_t, std::unique_ptr<train_graph>> train;  // by batch size
  std::map<std::int64_t, std::unique_ptr<eval_graph>> eval;
#endif
  torch::Tensor learning_rate;   // float32 scalar the captured optimizer step reads
  torch::Tensor step_index;      // int64 scalar: which of `losses` the step writes
  torch::Tensor step_positions;  // int64 [steps per epoch]: 0, 1, ...
  torch::Tensor losses;          // float32 [steps per epoch]: each step's loss, for the NaN check
  torch::Tensor loss_sum;        // float64 scalar: the epoch's loss times batch size, summed
  torch::Tensor correct;         // int64 scalar: the epoch's correct predictions
  torch::Tensor eval_loss_sum;   // float64 scalar
  torch::Tensor eval_confusion;  // int64 [class_count * class_count], actual-major
  torch::Tensor pair_codes;      // int64 [class_count * class_count]: 0, 1, ..., what each count matches
};

}  // namespace trackbench::trainer
