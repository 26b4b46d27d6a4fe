#pragma once
// The batch sizes a CUDA graph run captures, each once: a replay runs only the shape it was
// captured with. Pure bookkeeping, apart from the capture, so that it can be checked anywhere.
#include <cstdint>
#include <map>
#include <set>

namespace trackbench::trainer {

enum class evaluation_split { validation, test };

struct graph_shapes {
  std::set<std::int64_t> train;  // the full batch and the last, partial one
  // Each evaluation batch size, with a split that has a batch of that size: warm-up runs it on
  // that split's images, so that no shape is first seen inside the capture.
  std::map<std::int64_t, evaluation_split> evaluation;
};

// The shapes of one process's run over splits of these sizes (validation may be empty).
graph_shapes graph_shapes_for(std::int64_t train_count, std::int64_t validation_count, std::int64_t test_count,
                              std::int64_t batch_size, std::int64_t eval_batch_size);

}  // namespace trackbench::trainer
